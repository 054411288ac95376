// Alerts on the ways the archive can be lost without touching a blob: the
// customer-managed key is changed through ARM or the vault deleted (every blob,
// queue and table becomes unreadable), or a resource lock is removed (the first
// step before deleting the vault or an account).
//
// Key operations reach Azure through two planes: the Activity Log sees the
// management-plane calls above (this rule). `az keyvault key delete` /
// `set-attributes --enabled false` are data-plane calls, which the Activity Log
// never sees; observability.bicep alerts on them from the vault's AuditEvent log
// (rule `key-disabled-or-deleted`), with the same action group.

@description('Tags for every resource.')
param tags object

@description('Action group the alert goes to (bicep/modules/observability.bicep owns it).')
param actionGroupId string

// Scoped to the resource group: it holds the vault, the three accounts and
// their locks, and nothing else of this deployment.
resource keyAndLockActivity 'Microsoft.Insights/activityLogAlerts@2020-10-01' = {
  name: 'wa-archive-key-or-lock-changed'
  location: 'Global'
  tags: tags
  properties: {
    enabled: true
    description: 'A Key Vault key was changed through ARM, the vault was deleted, or a resource lock was removed: the archive encryption key or its protection may be gone.'
    scopes: [
      resourceGroup().id
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'Administrative'
        }
        {
          anyOf: [
            {
              field: 'operationName'
              equals: 'Microsoft.KeyVault/vaults/keys/write'
            }
            {
              field: 'operationName'
              equals: 'Microsoft.KeyVault/vaults/delete'
            }
            {
              field: 'operationName'
              equals: 'Microsoft.Authorization/locks/delete'
            }
          ]
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: actionGroupId
        }
      ]
    }
  }
}


// Alerts on the two ways the archive can be lost without touching a blob:
// the customer-managed key is disabled or deleted (every blob, queue and table
// becomes unreadable), or a resource lock is removed (the first step before
// deleting the vault or an account). Both go to one action group.
//
// Key operations reach Azure through two planes, so there are two rules:
// - the Activity Log sees management-plane calls (a key changed through ARM,
//   the vault deleted, a lock deleted): an activity-log alert;
// - `az keyvault key delete` / `set-attributes --enabled false` are data-plane
//   calls, which the Activity Log never sees; they land in the vault's
//   AuditEvent log in Log Analytics: a log search alert.

@description('Tags for every resource.')
param tags object

@description('Action group name.')
param actionGroupName string

@description('Email address alerted on key or lock changes; empty for none (the alerts still fire and show in Azure Monitor).')
param alertEmail string

@description('Key Vault resource id.')
param vaultId string

@description('Log Analytics workspace that receives the vault AuditEvent log.')
param workspaceId string

@description('Azure region of the workspace (log search alerts live beside it).')
param location string

var hasEmail = !empty(alertEmail)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'wa-archive'
    enabled: true
    emailReceivers: hasEmail ? [
      {
        name: 'archive-owner'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ] : []
  }
}

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
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
}

// KeyUpdate covers disabling (attributes.enabled = false); a yearly rotation
// is KeyRotate / KeyCreate and does not fire.
resource keyDataPlane 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = {
  name: 'wa-archive-key-disabled-or-deleted'
  location: location
  tags: tags
  properties: {
    displayName: 'WA archive: Key Vault key disabled or deleted'
    description: 'A key in the archive vault was updated (disabled), deleted or purged through the data plane.'
    severity: 0
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    scopes: [
      workspaceId
    ]
    criteria: {
      allOf: [
        {
          query: 'AzureDiagnostics | where ResourceProvider == "MICROSOFT.KEYVAULT" and _ResourceId =~ "${vaultId}" | where OperationName in ("KeyUpdate", "KeyDelete", "KeyPurge")'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id

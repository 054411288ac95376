// The host account: Functions runtime state, the Durable task hub (queues,
// tables and lease blobs) and the Flex Consumption deployment package. It is
// kept apart from the archive account so WORM and versioning there can never
// touch the task hub's lease blobs, which are rewritten constantly.

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param accountName string

@description('Replication: Standard_ZRS where the region has zone-redundant storage, else Standard_LRS (main.bicep chooses per region).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param skuName string

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Principal id of the Function app identity.')
param appPrincipalId string

@description('Log Analytics workspace that receives the host account logs.')
param workspaceId string

@description('Log archive account: keeps the host account logs immutable.')
param logArchiveAccountId string

// Built-in role definition ids (learn.microsoft.com "Azure built-in roles").
// The Functions host and the Durable task hub create their own queues, tables
// and lease containers at run time, so these are granted on the account.
var hostRoles = [
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:Default action Allow: no VNet in this template, so the public endpoint stays on; shared keys are off and every request needs an Entra ID token checked by RBAC (docs/deploy.md hardening).
  //checkov:skip=CKV_AZURE_59:Public network access enabled: no VNet in this template, so the public endpoint stays on; shared keys are off and every request needs an Entra ID token checked by RBAC (docs/deploy.md hardening).
  //checkov:skip=CKV_AZURE_206:Host account holds only regional runtime state (task hub, package); ZRS (LRS where the region has no ZRS) covers what a geo copy could not resume.
  //checkov:skip=CKV_AZURE_43:Name is 'st' + namePrefix + uniqueString(), always 3-24 lowercase letters and digits; checkov cannot evaluate the expression.
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource appAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in hostRoles: {
  name: guid(account.id, appPrincipalId, role)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// Writes and deletes on every service, reads on blobs (who fetched the code
// package or a lease). Queue and table reads are left out: the Functions host
// and the task hub poll them many times a second, which would make the log
// cost grow with idle time while saying nothing about who did what.
var hostLogs = {
  blob: [
    'StorageRead'
    'StorageWrite'
    'StorageDelete'
  ]
  queue: [
    'StorageWrite'
    'StorageDelete'
  ]
  table: [
    'StorageWrite'
    'StorageDelete'
  ]
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource blobAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    storageAccountId: logArchiveAccountId
    logs: [for category in hostLogs.blob: {
      category: category
      enabled: true
    }]
  }
}

resource queueAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    storageAccountId: logArchiveAccountId
    logs: [for category in hostLogs.queue: {
      category: category
      enabled: true
    }]
  }
}

resource tableAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    storageAccountId: logArchiveAccountId
    logs: [for category in hostLogs.table: {
      category: category
      enabled: true
    }]
  }
}

output accountName string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainer.name}'

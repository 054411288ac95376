// The log archive: a third storage account that keeps the access trail as long
// as the records. Log Analytics keeps at most 730 days, against 7-year records,
// so every diagnostic setting also writes here, and the Activity Log export
// (bicep/activity-log.bicep) too.
//
// Why a separate account, not a container in the archive account:
// - Azure Monitor refuses a storage account as the destination of its own logs
//   (learn.microsoft.com "Monitor Azure Blob Storage", destination limitations),
//   and the archive account's StorageRead/Write/Delete logs are the core of the trail.
// - Azure Monitor appends to hourly append blobs (PT1H.json). The archive
//   account's version-level WORM forbids appends (allowProtectedAppendWrites is
//   false there, on purpose, for records); here each container has a time-based
//   policy that allows protected appends: new blocks only, nothing existing can
//   change or be deleted.
// - People and the app have no role here: only Azure Monitor writes, and only
//   auditors who are granted it explicitly read.
//
// Azure Monitor writes to fixed container names (insights-logs-<category>,
// insights-activity-logs). They are made here, so that each has its retention
// policy before the first log line arrives.

@description('Azure region (diagnostic settings need the destination account in the same region as the source).')
param location string

@description('Tags for every resource.')
param tags object

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param accountName string

@description('Replication for the log archive.')
@allowed([
  'Standard_LRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param skuName string

@description('Days every log blob stays immutable; the same as the records (2557 = 7 years).')
@minValue(1)
@maxValue(146000)
param retentionDays int

@description('True once the container policies are locked (docs/deploy.md): Azure refuses to re-put a locked policy, so redeployments leave them alone.')
param retentionPolicyLocked bool

// One container per log category this template routes here (lowercase, as
// Azure Monitor names them), plus the subscription Activity Log.
var logContainerNames = [
  'insights-logs-storageread'
  'insights-logs-storagewrite'
  'insights-logs-storagedelete'
  'insights-logs-auditevent'
  'insights-logs-functionapplogs'
  'insights-activity-logs'
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:Default action Allow: no VNet in this template; shared keys are off, Azure Monitor writes as a trusted service and readers need an Entra ID token and an RBAC role.
  //checkov:skip=CKV_AZURE_59:Public network access enabled: no VNet in this template; shared keys are off and every read needs an Entra ID token checked by RBAC (docs/deploy.md hardening).
  //checkov:skip=CKV_AZURE_206:SKU is the skuName parameter (main.bicep passes the archive replication, default Standard_GRS); checkov cannot resolve module parameters.
  //checkov:skip=CKV_AZURE_43:Name is 'st' + namePrefix + 'logs' + uniqueString(), always 3-24 lowercase letters and digits; checkov cannot evaluate the expression.
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Cool'
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
      days: 30
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 30
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for name in logContainerNames: {
  parent: blobService
  name: name
  properties: {
    publicAccess: 'None'
  }
}]

// Deployed Unlocked, like the archive's policy; docs/deploy.md locks them
// (`az storage container immutability-policy lock`) together with the archive.
// Once locked they can only be extended, never re-put: the loop is then empty.
resource retention 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = [for (name, i) in (retentionPolicyLocked ? [] : logContainerNames): {
  parent: containers[i]
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: true
  }
}]

resource accountLock 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'log-archive-cannot-delete'
  scope: account
  properties: {
    level: 'CanNotDelete'
    notes: 'Access trail of the WhatsApp compliance archive, kept as long as the records. Remove only with a recorded change (docs/deploy.md).'
  }
}

output accountName string = account.name
output accountId string = account.id
output containerNames array = logContainerNames

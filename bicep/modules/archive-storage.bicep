// The archive account: compliance data only. WORM containers (raw, records,
// media, audit, seals, deadletter, quarantine), the ingest queue and the index tables. Shared keys are off,
// every blob version is immutable for retentionDays from creation, and blobs,
// queues and tables are encrypted with a customer-managed key from Key Vault.
// Names must match archive/names.py (tests/bicep checks this).

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param accountName string

@description('Days every blob version stays immutable after it is written (2557 = 7 years).')
@minValue(1)
@maxValue(146000)
param retentionDays int

@description('TRUE LOCKS THE ACCOUNT POLICY IRREVERSIBLY, WITH NO CONFIRMATION, IF IT IS STILL UNLOCKED. Set it only after `wa-archive lock-retention` has locked it; then it keeps redeployments from asking to unlock it, which Azure refuses.')
param retentionPolicyLocked bool

@description('Days after creation before a `media` blob makes its one tier move.')
@minValue(1)
param mediaTierAfterDays int

@description('Also tier small media (names under `media/small/`, written below the size threshold the app sets). Off by default: below about 20 KB the tier-change write of a blob costs more than the storage it saves (docs/cost.md).')
param tierSmallMedia bool

@description('The tier `media` blobs move to (Cold or Cool: online; Archive: offline, hours to rehydrate, and the daily verification cannot read it) and the replication, as `<tier>/<sku>`. Only the pairs Azure supports are allowed: the Archive tier exists on LRS, GRS and RA-GRS accounts only, so Archive with ZRS, GZRS or RA-GZRS is refused when the deployment is validated, before the account is created.')
@allowed([
  'Cold/Standard_LRS'
  'Cold/Standard_GRS'
  'Cold/Standard_RAGRS'
  'Cold/Standard_ZRS'
  'Cold/Standard_GZRS'
  'Cold/Standard_RAGZRS'
  'Cool/Standard_LRS'
  'Cool/Standard_GRS'
  'Cool/Standard_RAGRS'
  'Cool/Standard_ZRS'
  'Cool/Standard_GZRS'
  'Cool/Standard_RAGZRS'
  'Archive/Standard_LRS'
  'Archive/Standard_GRS'
  'Archive/Standard_RAGRS'
])
param tierAndSku string

@description('Resource id of the identity the account uses to reach its key.')
param encryptionIdentityId string

@description('Key Vault URI holding the encryption key.')
param keyVaultUri string

@description('Name of the RSA key the account is encrypted with.')
param encryptionKeyName string

@description('Principal id of the Function app identity.')
param appPrincipalId string

@description('Log Analytics workspace that receives the storage logs.')
param workspaceId string

@description('Log archive account: keeps the access logs immutable as long as the records (Log Analytics keeps 730 days at most).')
param logArchiveAccountId string

var containerNames = [
  'raw'
  'records'
  'media'
  'audit'
  'seals'
  'deadletter'
  'quarantine'
]
// Where the app creates blobs (`seals`: the daily seal job and verification
// reports). `audit` is missing on purpose: people write audit entries under their
// own identity, so nothing running as the app can forge or add to the admin trail;
// the app only reads it, to seal and verify it (appAuditRead below).
var appBlobContainerNames = [
  'raw'
  'records'
  'media'
  'seals'
  'quarantine'
  'deadletter'
]
var queueNames = [
  'ingest'
  'ingest-poison'
]
var tableNames = [
  'IndexByMessage'
  'IndexByParticipant'
  'IndexByDay'
  'IndexFailures'
  'Holds'
  'IndexByTerm'
  'Flags'
]
// The tables the app identity writes: every one but Holds (legal-hold matters),
// which only the retention identity and admins reach (retention-access.bicep,
// people-access.bicep). It must stay the start of tableNames, in the same order:
// the app's assignments below index `tables` by position (tests/bicep checks it).
var appTableNames = [
  'IndexByMessage'
  'IndexByParticipant'
  'IndexByDay'
  'IndexFailures'
]

// Built-in role definition ids (learn.microsoft.com "Azure built-in roles").
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

var storageLogs = [
  {
    category: 'StorageRead'
    enabled: true
  }
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]

var mediaTier = split(tierAndSku, '/')[0]
var skuName = split(tierAndSku, '/')[1]

// ARM CAN lock the policy: asking for state Locked on an Unlocked policy locks
// it at once, irreversibly, with no confirmation. The guarded way is
// `wa-archive lock-retention` (checks, audit entry, older versions locked too);
// retentionPolicyLocked only follows it.
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:Default action Allow: no VNet in this template, so the public endpoint stays on; shared keys are off and every request needs an Entra ID token checked by RBAC (docs/deploy.md hardening).
  //checkov:skip=CKV_AZURE_59:Public network access enabled: auditors use Storage Explorer with Entra ID sign-in; no VNet in this template, so the public endpoint stays on; shared keys are off and every request needs an Entra ID token checked by RBAC (docs/deploy.md hardening).
  //checkov:skip=CKV_AZURE_206:SKU comes from the tierAndSku parameter (default Cold/Standard_GRS, set in main.bicep); checkov cannot resolve module parameters.
  //checkov:skip=CKV_AZURE_43:Name is 'st' + namePrefix + uniqueString(), always 3-24 lowercase letters and digits; checkov cannot evaluate the expression.
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${encryptionIdentityId}': {}
    }
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
    // Version-level WORM for the whole account (every container inherits a
    // time-based default). Unlocked at first; ARM locks it, irreversibly and
    // without confirmation, once retentionPolicyLocked is true (see above).
    immutableStorageWithVersioning: {
      enabled: true
      immutabilityPolicy: {
        immutabilityPeriodSinceCreationInDays: retentionDays
        state: retentionPolicyLocked ? 'Locked' : 'Unlocked'
        allowProtectedAppendWrites: false
      }
    }
    encryption: {
      keySource: 'Microsoft.Keyvault'
      identity: {
        userAssignedIdentity: encryptionIdentityId
      }
      keyvaultproperties: {
        keyvaulturi: keyVaultUri
        keyname: encryptionKeyName
      }
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
    isVersioningEnabled: true
    // Soft delete is a second net for the deletes the retention job makes after
    // expiry (docs/retention.md); nothing under retention can be deleted.
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

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for name in containerNames: {
  parent: blobService
  name: name
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for name in queueNames: {
  parent: queueService
  name: name
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for name in tableNames: {
  parent: tableService
  name: name
}]

// Names the tiering rule matches: normal media only. The app writes media below
// its size threshold under `media/small/` and every other media blob under
// `media/year=YYYY/...`; lifecycle filters cannot test a blob's size, and
// prefixMatch only includes, so the rule lists the prefixes to tier.
var mediaTierPrefixes = tierSmallMedia ? [
  'media/year='
  'media/small/'
] : [
  'media/year='
]

// The one move `media` blobs make, mediaTierAfterDays after creation. One move,
// not Hot -> Cool -> Cold: every tier change is a billed write per blob, and a
// Cool step saves little before the colder tier takes over.
// Archive: offline. An Archive blob must be rehydrated before it can be read, and
// rehydration takes hours (a regulator's production waits for it); the daily
// verification cannot read Archive blobs, so it cannot re-hash them either.
var mediaTierActions = {
  Cool: {
    tierToCool: {
      daysAfterCreationGreaterThan: mediaTierAfterDays
    }
  }
  Cold: {
    tierToCold: {
      daysAfterCreationGreaterThan: mediaTierAfterDays
    }
  }
  Archive: {
    tierToArchive: {
      daysAfterCreationGreaterThan: mediaTierAfterDays
    }
  }
}

// Tiering only. Lifecycle management cannot delete blobs that are under an
// immutability policy, so it has no delete action here: expiry is the app's
// retention job, which honours legal holds (ingest/retention_timer.py).
// Only `media` is tiered. records, raw, seals, audit, deadletter and quarantine
// hold small blobs (a few KB): a tier change is one write operation per blob,
// and below the break-even size (about 20 KB over 7 years, docs/cost.md gives
// the formula) that write costs more than the cheaper tier saves, so those
// containers have no rule and stay Hot.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'tier-media'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: mediaTierPrefixes
            }
            actions: {
              baseBlob: mediaTierActions[mediaTier]
            }
          }
        }
      ]
    }
  }
}

// Create-only for the app, enforced by Azure and not just by our client code.
// The Azure ABAC reference ("Actions and attributes for Azure role assignment
// conditions for Azure Blob Storage", learn.microsoft.com) lists Put Blob and
// Put Block List under both `blobs/write` and `blobs/add/action`, and describes
// add/action as "create a blob or snapshot, or append data"; `blobs/write` is
// what an overwrite needs. So a role without `blobs/write` cannot replace a
// blob's current version: If-None-Match:* becomes a platform rule. Not
// confirmed from the docs available here: whether Put Block (staging a block
// of a NEW blob, used for large media) authorises on add/action or needs
// `blobs/write`; one vendor manual lists `blobs/write` for new block uploads.
// If Azure answers 403 to Put Block, the fix belongs in the app (a single Put
// Blob takes up to 5000 MiB, above MAX_MEDIA_BYTES), not in widening this role.
// Likewise a create-only write to a name that exists may come back as 403
// (AuthorizationPermissionMismatch: it would need `blobs/write`) rather than
// 409; storage/blobs.py should then treat it as "exists" once a read confirms it.
// No delete: expired versions are removed under a separate retention identity
// (retention-access.bicep).
resource appCreateOnlyRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, accountName, 'wa-archive-app-create-only')
  properties: {
    roleName: 'WA Archive App Create-Only (${accountName})'
    description: 'Read and create blobs in the archive WORM containers; no overwrite, no delete.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource appContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in appBlobContainerNames: {
  parent: blobService
  name: name
}]

resource appContainerAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in appBlobContainerNames: {
  name: guid(appContainers[i].id, appPrincipalId, 'wa-archive-app-create-only')
  scope: appContainers[i]
  // The scope is an `existing` reference, so the containers must be made first.
  dependsOn: [
    containers
  ]
  properties: {
    roleDefinitionId: appCreateOnlyRole.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

resource auditContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: 'audit'
}

// Read only: the seal job lists audit entries (with their sha256 metadata) and
// verification streams them; writing stays with the people who act.
resource appAuditRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(auditContainer.id, appPrincipalId, storageBlobDataReader)
  scope: auditContainer
  dependsOn: [
    containers
  ]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appQueueAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in queueNames: {
  name: guid(queues[i].id, appPrincipalId, storageQueueDataContributor)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

resource appTableAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in appTableNames: {
  name: guid(tables[i].id, appPrincipalId, storageTableDataContributor)
  scope: tables[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

resource blobAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    storageAccountId: logArchiveAccountId
    logs: storageLogs
  }
}

resource queueAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    storageAccountId: logArchiveAccountId
    logs: storageLogs
  }
}

resource tableAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    storageAccountId: logArchiveAccountId
    logs: storageLogs
  }
}

// Management-plane guard: deleting the account (or its resource group) needs
// this lock removed first, which is itself an alerted, logged operation.
// It does not touch data-plane deletes; the immutability policy covers those.
resource accountLock 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'archive-cannot-delete'
  scope: account
  properties: {
    level: 'CanNotDelete'
    notes: 'WhatsApp compliance archive: records under retention. Remove only with a recorded change (docs/deploy.md).'
  }
}

output accountName string = account.name
output accountId string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output containerNames array = containerNames
output queueNames array = queueNames
output tableNames array = tableNames
// The read + create-only blob role, also given to the retention identity on `seals`.
output createOnlyRoleId string = appCreateOnlyRole.id

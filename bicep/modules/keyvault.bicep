// Key Vault in RBAC mode with purge protection: it holds the archive account's
// customer-managed key, a separate key for signing the planned daily seals, and
// the WhatsApp secrets. Secret VALUES never pass through Bicep: the operator
// sets them after deployment with `az keyvault secret set` (docs/deploy.md).

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Key Vault name (3-24 characters, letters, digits and dashes).')
@minLength(3)
@maxLength(24)
param vaultName string

@description('Principal id of the Function app identity.')
param appPrincipalId string

@description('Principal id of the identity the archive account uses for its encryption key.')
param encryptionPrincipalId string

@description('Log Analytics workspace that receives the AuditEvent log.')
param workspaceId string

@description('Log archive account: keeps AuditEvent immutable as long as the records.')
param logArchiveAccountId string

@description('Key Vault soft-delete retention, in days.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionDays int

var storageKeyName = 'archive-storage-cmk'
var manifestKeyName = 'manifest-signing'

// Built-in role definition ids (learn.microsoft.com "Azure built-in roles").
var keyVaultCryptoServiceEncryptionUser = 'e147488a-f6f5-4113-8e2d-b22465e65bf6'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

// Rotate yearly; each new version expires two years after it is made. The
// storage account and the app both follow the versionless key id, so a
// rotation needs no redeployment.
var rotationPolicy = {
  attributes: {
    expiryTime: 'P2Y'
  }
  lifetimeActions: [
    {
      action: {
        type: 'rotate'
      }
      trigger: {
        timeAfterCreate: 'P1Y'
      }
    }
    {
      action: {
        type: 'notify'
      }
      trigger: {
        timeBeforeExpiry: 'P30D'
      }
    }
  ]
}

// The Function app has no VNet integration in this template, so Key Vault
// references resolve over the public endpoint; every call is still Entra ID
// authenticated and RBAC-authorised.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_109:No VNet in this template; access is Entra ID + RBAC only and every call lands in the AuditEvent log.
  //checkov:skip=CKV_AZURE_189:Public endpoint needed for Flex Consumption Key Vault references without VNet integration; RBAC still gates access.
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'premium'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Expiry is set per version by the rotation policy (expiryTime), not by a
// fixed date here, so every rotated version expires as well.
resource storageKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  //checkov:skip=CKV_AZURE_40:Expiry comes from rotationPolicy.attributes.expiryTime (P2Y) on every version; a fixed date would need utcNow() and drift on redeploy.
  parent: vault
  name: storageKeyName
  tags: tags
  properties: {
    kty: 'RSA-HSM'
    keySize: 3072
    keyOps: [
      'wrapKey'
      'unwrapKey'
    ]
    attributes: {
      enabled: true
    }
    rotationPolicy: rotationPolicy
  }
}

resource manifestKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  //checkov:skip=CKV_AZURE_40:Expiry comes from rotationPolicy.attributes.expiryTime (P2Y) on every version; a fixed date would need utcNow() and drift on redeploy.
  parent: vault
  name: manifestKeyName
  tags: tags
  properties: {
    // ES256: the daily seals are P-256 signatures (storage/signing.py; docs/evidence.md).
    kty: 'EC-HSM'
    curveName: 'P-256'
    keyOps: [
      'sign'
      'verify'
    ]
    attributes: {
      enabled: true
    }
    rotationPolicy: rotationPolicy
  }
}

resource encryptionKeyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageKey.id, encryptionPrincipalId, keyVaultCryptoServiceEncryptionUser)
  scope: storageKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoServiceEncryptionUser)
    principalId: encryptionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Sign, and read the public halves (the daily verification checks seals against
// every key version); no decrypt, wrap, or key management. Built-in Crypto User
// would add encrypt/decrypt/wrap/unwrap.
resource sealSignerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, vault.name, 'wa-archive-seal-signer')
  properties: {
    roleName: 'WA Archive Seal Signer (${vault.name})'
    description: 'Sign with the manifest key and read its public key; nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.KeyVault/vaults/keys/sign/action'
          'Microsoft.KeyVault/vaults/keys/read'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource manifestKeyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(manifestKey.id, appPrincipalId, 'wa-archive-seal-signer')
  scope: manifestKey
  properties: {
    roleDefinitionId: sealSignerRole.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Scoped to the vault, not to each secret: a role assignment needs its scope
// to exist, and the secrets only exist after the operator sets them. The vault
// holds no other secrets, and Secrets User grants no key or certificate access.
resource secretsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    storageAccountId: logArchiveAccountId
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

// Deleting the vault would take the archive's encryption key with it (purge
// protection keeps it recoverable for softDeleteRetentionDays, no longer).
// Data-plane key deletes are not stopped by a lock; alerts.bicep watches them.
resource vaultLock 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'vault-cannot-delete'
  scope: vault
  properties: {
    level: 'CanNotDelete'
    notes: 'Holds the WhatsApp compliance archive encryption key. Remove only with a recorded change (docs/deploy.md).'
  }
}

output vaultId string = vault.id
output vaultName string = vault.name
output vaultUri string = vault.properties.vaultUri
output storageKeyName string = storageKey.name
output manifestKeyUri string = manifestKey.properties.keyUri

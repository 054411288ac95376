// Three user-assigned identities, so that none can do another's job: the app
// identity reads and creates data; the retention identity lists, legal-holds and
// deletes expired versions (retention-access.bicep); the encryption identity
// only wraps and unwraps the archive account's customer-managed key.

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Name of the identity the Function app runs as.')
param appIdentityName string

@description('Name of the identity the retention and legal-hold code runs as.')
param retentionIdentityName string

@description('Name of the identity the archive account uses to reach its encryption key.')
param encryptionIdentityName string

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
  location: location
  tags: tags
}

resource retentionIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: retentionIdentityName
  location: location
  tags: tags
}

resource encryptionIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: encryptionIdentityName
  location: location
  tags: tags
}

output appIdentityId string = appIdentity.id
output appPrincipalId string = appIdentity.properties.principalId
output appClientId string = appIdentity.properties.clientId
output retentionIdentityId string = retentionIdentity.id
output retentionPrincipalId string = retentionIdentity.properties.principalId
output retentionClientId string = retentionIdentity.properties.clientId
output encryptionIdentityId string = encryptionIdentity.id
output encryptionPrincipalId string = encryptionIdentity.properties.principalId

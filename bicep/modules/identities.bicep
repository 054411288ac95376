// Two user-assigned identities, so that neither can do the other's job:
// the app identity reads and writes data; the encryption identity only wraps
// and unwraps the archive account's customer-managed key.

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Name of the identity the Function app runs as.')
param appIdentityName string

@description('Name of the identity the archive account uses to reach its encryption key.')
param encryptionIdentityName string

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
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
output encryptionIdentityId string = encryptionIdentity.id
output encryptionPrincipalId string = encryptionIdentity.properties.principalId

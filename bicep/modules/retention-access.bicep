// Who may dispose of expired records and set legal holds on the archive account.
//   the retention identity: a user-assigned identity of its own, attached to the
//     Function app next to the app identity. The retention timer and the legal
//     holds the pipeline sets on newly archived records run under it
//     (RETENTION_IDENTITY_CLIENT_ID; storage/clients.py retention_*), so the app
//     identity, which serves the internet-facing webhooks, keeps create-only
//     writing and can neither delete a version nor touch a legal hold.
//   retention operators (optional group): run `wa-archive retention run` from a
//     terminal under their own identity. They may delete versions but not set or
//     clear legal holds; admins, who place and release holds, may not delete
//     (people-access.bicep). No person holds both duties through this template.
// Every role is custom, so it carries only the actions named (docs/deploy.md,
// "Retention and legal-hold identity"), and every assignment is scoped to the
// containers and tables concerned, never to the account.

@description('Archive storage account name.')
param accountName string

@description('Containers whose versions expire and carry legal holds (raw, records, media).')
param recordContainerNames array

@description('Container the disposal plans and certificates are created in (seals).')
param sealsContainerName string

@description('Index tables whose rows go with the records they point at.')
param prunedTableNames array

@description('Tables read and updated, never pruned: IndexFailures (diagnostics) and Holds (matters are released, not deleted).')
param keptTableNames array

@description('The Holds table: what retention operators must read to honour holds.')
param holdsTableName string

@description('Principal id of the retention identity.')
param retentionPrincipalId string

@description('Resource id of the read + create-only blob role (archive-storage.bicep), reused for `seals`.')
param createOnlyRoleId string

@description('Object id of the retention operators group; empty to skip.')
param retentionOperatorsGroupPrincipalId string

// Built-in role definition id (learn.microsoft.com "Azure built-in roles").
var storageTableDataReader = '76199698-9eea-4c19-bc75-cec21354c6b6'

var hasOperators = !empty(retentionOperatorsGroupPrincipalId)

resource recordContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in recordContainerNames: {
  name: '${accountName}/default/${name}'
}]

resource sealsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${accountName}/default/${sealsContainerName}'
}

resource prunedTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = [for name in prunedTableNames: {
  name: '${accountName}/default/${name}'
}]

resource keptTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = [for name in keptTableNames: {
  name: '${accountName}/default/${name}'
}]

resource holdsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${accountName}/default/${holdsTableName}'
}

// What the identity calls, per Blob REST operation (learn.microsoft.com REST
// "Authorize" sections; versioning-overview "Azure RBAC action to delete a blob
// version"; ABAC actions for Blob Storage):
//   List Blobs (include=versions,legalhold,immutabilitypolicy) and Get Blob: blobs/read
//   Get Container Properties (versioning detection): containers/read
//   Delete Blob, current version: blobs/delete
//   Delete Blob with versionid (a previous version): blobs/deleteBlobVersion/action
//   Set Blob Legal Hold: blobs/immutableStorage/runAsSuperUser/action per the ABAC
//     reference ("Write blob legal hold and immutability policy"), but
//     containers/write per the REST authorization table. The docs disagree, so both
//     are granted until a deployment shows which one Azure checks; then drop the
//     other (docs/deploy.md). containers/write is a control-plane action: on these
//     containers it also allows changing their ARM properties, never deleting them
//     (containers/delete) and never any blob data.
// runAsSuperUser/action also allows Set and Delete Blob Immutability Policy. Once the
// account policy is Locked, a version's policy can only be extended; before that,
// this identity could shorten one, which is why `wa-archive lock-retention` comes
// before production records (docs/deploy.md step 9).
// Storage Blob Data Owner would add blobs/write (overwrite), tags, and every
// future blob action (blobs/*): not granted.
resource retentionRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, accountName, 'wa-archive-retention')
  properties: {
    roleName: 'WA Archive Retention and Legal Hold (${accountName})'
    description: 'List, legal-hold and delete blob versions in the archive record containers; no overwrite, no create.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/write'
        ]
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/deleteBlobVersion/action'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/immutableStorage/runAsSuperUser/action'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// Rows of disposed records leave the index (Delete Entity: entities/delete); the
// run also reads and rewrites rows (Query, Insert/Merge Entity). Storage Table Data
// Contributor would add creating and deleting the tables themselves.
resource indexPrunerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, accountName, 'wa-archive-index-pruner')
  properties: {
    roleName: 'WA Archive Index Pruner (${accountName})'
    description: 'Read, write and delete rows of the archive index tables; no table create or delete.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/tableServices/tables/entities/read'
          'Microsoft.Storage/storageAccounts/tableServices/tables/entities/write'
          'Microsoft.Storage/storageAccounts/tableServices/tables/entities/add/action'
          'Microsoft.Storage/storageAccounts/tableServices/tables/entities/update/action'
          'Microsoft.Storage/storageAccounts/tableServices/tables/entities/delete'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// The pipeline reads the in-force matters (Holds) before each record and the
// retention run honours them; failure rows are diagnostics and stay. Rows here are
// read, added and merged, never deleted: a deleted matter row would silently end
// a hold on an account without blob legal holds.
resource rowKeeperRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, accountName, 'wa-archive-row-keeper')
  properties: {
    roleName: 'WA Archive Row Keeper (${accountName})'
    description: 'Read, add and merge rows of the archive Holds and IndexFailures tables; no delete.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/tableServices/tables/entities/read'
          'Microsoft.Storage/storageAccounts/tableServices/tables/entities/write'
          'Microsoft.Storage/storageAccounts/tableServices/tables/entities/add/action'
          'Microsoft.Storage/storageAccounts/tableServices/tables/entities/update/action'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// Retention operators delete versions (a terminal run) but never set or clear a
// legal hold: that is the admins' duty (people-access.bicep).
resource versionDisposerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (hasOperators) {
  name: guid(resourceGroup().id, accountName, 'wa-archive-version-disposer')
  properties: {
    roleName: 'WA Archive Version Disposer (${accountName})'
    description: 'List and delete blob versions in the archive record containers; no legal holds, no overwrite, no create.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/read'
        ]
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/deleteBlobVersion/action'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// --- the retention identity ---------------------------------------------------

resource retentionRecordAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in recordContainerNames: {
  name: guid(recordContainers[i].id, retentionPrincipalId, 'wa-archive-retention')
  scope: recordContainers[i]
  properties: {
    roleDefinitionId: retentionRole.id
    principalId: retentionPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// Disposal plans and certificates: created, never overwritten or deleted (the same
// read + add/action role the app creates its seals with).
resource retentionSealsCreate 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(sealsContainer.id, retentionPrincipalId, 'wa-archive-app-create-only')
  scope: sealsContainer
  properties: {
    roleDefinitionId: createOnlyRoleId
    principalId: retentionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource retentionIndexAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in prunedTableNames: {
  name: guid(prunedTables[i].id, retentionPrincipalId, 'wa-archive-index-pruner')
  scope: prunedTables[i]
  properties: {
    roleDefinitionId: indexPrunerRole.id
    principalId: retentionPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

resource retentionKeptAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in keptTableNames: {
  name: guid(keptTables[i].id, retentionPrincipalId, 'wa-archive-row-keeper')
  scope: keptTables[i]
  properties: {
    roleDefinitionId: rowKeeperRole.id
    principalId: retentionPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// --- retention operators (people) ------------------------------------------------

resource operatorRecordAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in (hasOperators ? recordContainerNames : []): {
  name: guid(recordContainers[i].id, retentionOperatorsGroupPrincipalId, 'wa-archive-version-disposer')
  scope: recordContainers[i]
  properties: {
    roleDefinitionId: versionDisposerRole.id
    principalId: retentionOperatorsGroupPrincipalId
    principalType: 'Group'
  }
}]

resource operatorSealsCreate 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperators) {
  name: guid(sealsContainer.id, retentionOperatorsGroupPrincipalId, 'wa-archive-app-create-only')
  scope: sealsContainer
  properties: {
    roleDefinitionId: createOnlyRoleId
    principalId: retentionOperatorsGroupPrincipalId
    principalType: 'Group'
  }
}

resource operatorIndexAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in (hasOperators ? prunedTableNames : []): {
  name: guid(prunedTables[i].id, retentionOperatorsGroupPrincipalId, 'wa-archive-index-pruner')
  scope: prunedTables[i]
  properties: {
    roleDefinitionId: indexPrunerRole.id
    principalId: retentionOperatorsGroupPrincipalId
    principalType: 'Group'
  }
}]

resource operatorHoldsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperators) {
  name: guid(holdsTable.id, retentionOperatorsGroupPrincipalId, storageTableDataReader)
  scope: holdsTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataReader)
    principalId: retentionOperatorsGroupPrincipalId
    principalType: 'Group'
  }
}

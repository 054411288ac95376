// Access for people, by Entra ID group. Both groups sign in with their own
// identity (Storage Explorer, the TUI); nobody gets account keys, and no role
// here can delete archived data.
//   admins:   what the admin tools call (admin/, asserted by
//             tests/bicep/test_admin_roles.py against that code): read the
//             archive and the index, see both queues, send to ingest, receive,
//             release and delete ingest-poison messages (replay), mark
//             IndexFailures rows resolved, append audit entries, place and
//             release legal holds (Holds table rows and blob version legal holds).
//             Deleting expired versions is another duty, another group
//             (retention-access.bicep): admins never delete.
//   auditors: read the archive containers; Reader on the account so Storage
//             Explorer can list it with Entra ID sign-in.
//   reviewers: the lexicon review queue (`wa-archive review`, admin/review.py,
//             asserted by tests/bicep/test_reviewer_role.py against that code):
//             read Flags, the conversation rows of IndexByParticipant (context)
//             and the records container (the words), and append to audit (their
//             decisions and the audit trail). No table write, no delete, no queue,
//             no media or raw bodies, no Reader on the account (docs/review.md).

@description('Archive storage account name.')
param accountName string

@description('Archive blob containers.')
param containerNames array

@description('Name of the container the TUI and CLI write audit entries to.')
param auditContainerName string

@description('The ingest queue.')
param ingestQueueName string

@description('The ingest poison queue.')
param poisonQueueName string

@description('Index tables.')
param tableNames array

@description('The failures table admins mark rows resolved in (dead-letter replay) and reconcile into.')
param failuresTableName string

@description('Containers whose blob versions carry legal holds (raw, records, media).')
param holdContainerNames array

@description('The Holds table: one row per legal-hold matter.')
param holdsTableName string

@description('Object id of the admins group; empty to skip.')
param adminsGroupPrincipalId string

@description('Object id of the auditors group; empty to skip.')
param auditorsGroupPrincipalId string

@description('Object id of the reviewers group (lexicon review queue); empty to skip.')
param reviewersGroupPrincipalId string

@description('The Flags table: lexicon hits to review (written by the app only).')
param flagsTableName string

@description('The index table holding the rows of each conversation (review context).')
param conversationTableName string

@description('The container of canonical records (the text reviewers read).')
param recordsContainerName string

// Built-in role definition ids (learn.microsoft.com "Azure built-in roles").
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var storageQueueDataReader = '19e7f393-937e-4f77-808e-94535e297925'
var storageQueueDataMessageSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
var storageTableDataReader = '76199698-9eea-4c19-bc75-cec21354c6b6'

var hasAdmins = !empty(adminsGroupPrincipalId)
var hasAuditors = !empty(auditorsGroupPrincipalId)
var hasReviewers = !empty(reviewersGroupPrincipalId)

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in containerNames: {
  name: '${accountName}/default/${name}'
}]

resource auditContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${accountName}/default/${auditContainerName}'
}

resource ingestQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  name: '${accountName}/default/${ingestQueueName}'
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  name: '${accountName}/default/${poisonQueueName}'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = [for name in tableNames: {
  name: '${accountName}/default/${name}'
}]

resource failuresTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${accountName}/default/${failuresTableName}'
}

resource holdContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in holdContainerNames: {
  name: '${accountName}/default/${name}'
}]

resource holdsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${accountName}/default/${holdsTableName}'
}

resource flagsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${accountName}/default/${flagsTableName}'
}

resource conversationTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${accountName}/default/${conversationTableName}'
}

resource recordsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${accountName}/default/${recordsContainerName}'
}

// Admins append audit entries but must not delete or overwrite anything, and
// no built-in role writes blobs without also deleting them. `blobs/write` is
// left out as well: it is what replacing an existing blob needs, while
// add/action creates new ones only, so an entry, once written, stays as written.
// Reviewers hold it too (their decisions are audit blobs), so it exists with either group.
resource auditAppender 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (hasAdmins || hasReviewers) {
  name: guid(resourceGroup().id, accountName, 'wa-archive-audit-appender')
  properties: {
    roleName: 'WA Archive Audit Appender (${accountName})'
    description: 'Read and create blobs in the archive audit container; no overwrite, no delete.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/read'
        ]
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

resource adminAccountReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasAdmins) {
  name: guid(account.id, adminsGroupPrincipalId, reader)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}

resource adminBlobReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in (hasAdmins ? containerNames : []): {
  name: guid(containers[i].id, adminsGroupPrincipalId, storageBlobDataReader)
  scope: containers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}]

// Separation of duties inside `audit` (Azure ABAC conditions on the blob path): both
// groups append audit entries (`year=...`); only admins create lexicon policy versions
// (`supervision/lexicon/`), only reviewers create review decisions
// (`supervision/decisions/`). Without it a reviewer could switch supervision off by
// creating a harmless "newest" policy version, and an admin could close flags.
var appendAction = 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'
var blobPath = '@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path]'
var adminAppendCondition = '((!(ActionMatches{\'${appendAction}\'})) OR (${blobPath} StringStartsWith \'year=\' OR ${blobPath} StringStartsWith \'supervision/lexicon/\'))'
var reviewerAppendCondition = '((!(ActionMatches{\'${appendAction}\'})) OR (${blobPath} StringStartsWith \'year=\' OR ${blobPath} StringStartsWith \'supervision/decisions/\'))'

resource adminAuditAppend 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasAdmins) {
  name: guid(auditContainer.id, adminsGroupPrincipalId, 'wa-archive-audit-appender')
  scope: auditContainer
  properties: {
    roleDefinitionId: auditAppender.id
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
    condition: adminAppendCondition
    conditionVersion: '2.0'
  }
}

resource adminIngestReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasAdmins) {
  name: guid(ingestQueue.id, adminsGroupPrincipalId, storageQueueDataReader)
  scope: ingestQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataReader)
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}

resource adminIngestSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasAdmins) {
  name: guid(ingestQueue.id, adminsGroupPrincipalId, storageQueueDataMessageSender)
  scope: ingestQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSender)
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}

// The dashboard and `replay --all-poison` read the poison queue's depth (Get
// Queue Metadata) and peek it: Storage Queue Data Reader, as on ingest.
resource adminPoisonReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasAdmins) {
  name: guid(poisonQueue.id, adminsGroupPrincipalId, storageQueueDataReader)
  scope: poisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataReader)
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}

// Replay receives poison messages, deletes each once it is back on ingest, and
// makes the ones it held but did not replay visible again (Update Message).
// Storage Queue Data Message Processor has no messages/write, so that release
// was refused; Storage Queue Data Contributor would add deleting the queue
// itself. Data actions per learn.microsoft.com "Actions and attributes for
// Azure role assignment conditions for Azure Queue Storage": process/action =
// get or delete messages, messages/write = put or update a message.
resource poisonReplayer 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (hasAdmins) {
  name: guid(resourceGroup().id, accountName, 'wa-archive-poison-replayer')
  properties: {
    roleName: 'WA Archive Poison Replayer (${accountName})'
    description: 'Receive, release and delete messages of the archive poison queue; cannot delete or change the queue.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action'
          'Microsoft.Storage/storageAccounts/queueServices/queues/messages/write'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource adminPoisonReplay 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasAdmins) {
  name: guid(poisonQueue.id, adminsGroupPrincipalId, 'wa-archive-poison-replayer')
  scope: poisonQueue
  properties: {
    roleDefinitionId: poisonReplayer.id
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}

// Replaying a dead letter marks its IndexFailures row resolved (Merge Entity),
// and `wa-archive custody reconcile` adds rows there. Storage Table Data
// Contributor would also delete rows and tables; this role cannot.
resource failureResolver 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (hasAdmins) {
  name: guid(resourceGroup().id, accountName, 'wa-archive-failure-resolver')
  properties: {
    roleName: 'WA Archive Failure Resolver (${accountName})'
    description: 'Read, add and merge rows of the archive failures table; no delete.'
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

resource adminFailureResolver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasAdmins) {
  name: guid(failuresTable.id, adminsGroupPrincipalId, 'wa-archive-failure-resolver')
  scope: failuresTable
  properties: {
    roleDefinitionId: failureResolver.id
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}

// `wa-archive hold place|release|resume` sets and clears version-level legal holds
// (Set Blob Legal Hold) on every version in a matter's scope, listing versions with
// the Storage Blob Data Reader role above. Which action Azure checks for Set Blob
// Legal Hold is not settled by the docs: the ABAC reference names
// blobs/immutableStorage/runAsSuperUser/action, the REST authorization table
// containers/write (a control-plane action: on these containers it also allows
// changing their ARM properties, not deleting them or any blob). Both are granted
// until a deployment shows which one is checked (docs/deploy.md, "Retention and
// legal-hold identity"). runAsSuperUser also sets immutability policies, which can
// only be extended once the account policy is locked (step 9). No delete here.
resource legalHoldSetter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (hasAdmins) {
  name: guid(resourceGroup().id, accountName, 'wa-archive-legal-hold-setter')
  properties: {
    roleName: 'WA Archive Legal Hold Setter (${accountName})'
    description: 'Set and clear legal holds on blob versions in the archive record containers; no delete, no overwrite.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/write'
        ]
        notActions: []
        dataActions: [
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

resource adminLegalHolds 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in (hasAdmins ? holdContainerNames : []): {
  name: guid(holdContainers[i].id, adminsGroupPrincipalId, 'wa-archive-legal-hold-setter')
  scope: holdContainers[i]
  properties: {
    roleDefinitionId: legalHoldSetter.id
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}]

// A matter is a Holds row: placed (Insert Entity), then its state and job progress
// merged (Merge Entity, ETag-guarded). Release is a state change, so rows are never
// deleted, and nobody here can delete one.
resource holdKeeper 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (hasAdmins) {
  name: guid(resourceGroup().id, accountName, 'wa-archive-hold-keeper')
  properties: {
    roleName: 'WA Archive Hold Keeper (${accountName})'
    description: 'Read, add and merge rows of the archive Holds table; no delete.'
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

resource adminHoldKeeper 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasAdmins) {
  name: guid(holdsTable.id, adminsGroupPrincipalId, 'wa-archive-hold-keeper')
  scope: holdsTable
  properties: {
    roleDefinitionId: holdKeeper.id
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}

resource adminTableReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in (hasAdmins ? tableNames : []): {
  name: guid(tables[i].id, adminsGroupPrincipalId, storageTableDataReader)
  scope: tables[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataReader)
    principalId: adminsGroupPrincipalId
    principalType: 'Group'
  }
}]

resource auditorAccountReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasAuditors) {
  name: guid(account.id, auditorsGroupPrincipalId, reader)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: auditorsGroupPrincipalId
    principalType: 'Group'
  }
}

resource auditorBlobReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in (hasAuditors ? containerNames : []): {
  name: guid(containers[i].id, auditorsGroupPrincipalId, storageBlobDataReader)
  scope: containers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: auditorsGroupPrincipalId
    principalType: 'Group'
  }
}]

// Reviewers: what `wa-archive review list|show|mark` calls, nothing more. Table and
// container are the finest scopes data-plane RBAC has, so a reviewer can read every
// flag, every conversation row (ids, times, participants, record paths; no text) and
// every record, not only the flagged ones; StorageRead logs show what was read, and
// the tool audits each list and show (docs/review.md, "Insider analysis").
// Not media: flags come from texts, captions and file names (archive/lexicon), which
// the record holds; images, voice notes and documents are the most sensitive and
// largest data, and stay with auditors and admins (escalate to them). Not raw, seals,
// deadletter or quarantine: review needs none of them.
resource reviewerFlagsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasReviewers) {
  name: guid(flagsTable.id, reviewersGroupPrincipalId, storageTableDataReader)
  scope: flagsTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataReader)
    principalId: reviewersGroupPrincipalId
    principalType: 'Group'
  }
}

resource reviewerConversationReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasReviewers) {
  name: guid(conversationTable.id, reviewersGroupPrincipalId, storageTableDataReader)
  scope: conversationTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataReader)
    principalId: reviewersGroupPrincipalId
    principalType: 'Group'
  }
}

resource reviewerRecordsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasReviewers) {
  name: guid(recordsContainer.id, reviewersGroupPrincipalId, storageBlobDataReader)
  scope: recordsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: reviewersGroupPrincipalId
    principalType: 'Group'
  }
}

// Decisions are create-only blobs in audit, beside the audit trail the tool appends
// to: the same append-only role as admins (read, create; no overwrite, no delete),
// limited by reviewerAppendCondition to audit entries and decisions.
resource reviewerAuditAppend 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasReviewers) {
  name: guid(auditContainer.id, reviewersGroupPrincipalId, 'wa-archive-audit-appender')
  scope: auditContainer
  properties: {
    roleDefinitionId: auditAppender.id
    principalId: reviewersGroupPrincipalId
    principalType: 'Group'
    condition: reviewerAppendCondition
    conditionVersion: '2.0'
  }
}

// WhatsApp compliance archive: one resource-group deployment.
//   az deployment group create -g <rg> -f bicep/main.bicep -p bicep/main.bicepparam
// See docs/deploy.md for the steps before and after (secrets, webhook, lock),
// and for the second, subscription-scope step (bicep/activity-log.bicep).

targetScope = 'resourceGroup'

@description('Short prefix for resource names (letters and digits). It is lower-cased here: storage account names allow lowercase letters and digits only.')
@minLength(2)
@maxLength(8)
param namePrefix string = 'waarch'

@description('Empty (the default) keeps the Key Vault name derived from the resource group and the prefix. Set any string to get a new vault name: a deleted vault stays reserved for its purge-protection period (90 days), so re-creating a resource group of the same name needs a new seed (docs/deploy.md).')
@maxLength(24)
param keyVaultNameSeed string = ''

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('Tags for every resource.')
param tags object = {
  workload: 'whatsapp-compliance-archive'
}

@description('Days every archived blob version stays immutable (SEC 17a-4 / FINRA: 7 years = 2557 days).')
@minValue(1)
@maxValue(146000)
param retentionDays int = 2557

@description('SETTING THIS TO TRUE LOCKS THE ARCHIVE RETENTION POLICY IRREVERSIBLY, WITH NO CONFIRMATION: ARM locks an Unlocked account policy when asked for state Locked. Leave false until `wa-archive lock-retention` has locked it (the guarded path: checks, audit entry, locks older versions too), then set true so redeployments keep it locked.')
param retentionPolicyLocked bool = false

// Lifecycle tiering (issue 14). Only `media` is tiered: records, raw bodies, seals
// and the rest are a few KB each, and below about 20 KB a tier change (one billed
// write per blob) costs more than the cheaper tier saves over 7 years (docs/cost.md).
@description('Tier `media` blobs move to, in one move, mediaTierAfterDays after creation. Cold (default) and Cool stay online. Archive is offline: rehydration takes hours (a regulator production waits) and the daily verification cannot read Archive blobs; it also needs archiveSkuName Standard_LRS, Standard_GRS or Standard_RAGRS.')
@allowed([
  'Cold'
  'Cool'
  'Archive'
])
param mediaTier string = 'Cold'

@description('Days after creation before `media` blobs move to mediaTier.')
@minValue(1)
param mediaTierAfterDays int = 90

@description('Also tier small media (the app writes media below its size threshold under `media/small/`). Off by default: their tier-change writes would cost more than they save (docs/cost.md).')
param tierSmallMedia bool = false

@description('Archive account replication. mediaTier Archive needs LRS, GRS or RA-GRS: any other pairing is refused when the deployment is validated.')
@allowed([
  'Standard_LRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param archiveSkuName string = 'Standard_GRS'

@description('Host account replication. auto: Standard_ZRS, except in the Flex Consumption regions that have no zone-redundant storage, where it is Standard_LRS. Set Standard_LRS explicitly if a deployment in another region fails on the SKU.')
@allowed([
  'auto'
  'Standard_LRS'
  'Standard_ZRS'
])
param hostStorageSkuName string = 'auto'

@description('Object id of the Entra ID group of admins (TUI/CLI users); empty for none.')
param adminsGroupPrincipalId string = ''

@description('Object id of the Entra ID group of auditors (Storage Explorer readers); empty for none.')
param auditorsGroupPrincipalId string = ''

@description('Object id of the Entra ID group of reviewers (`wa-archive review`: read flags, their conversation context and records; record decisions); empty for none.')
param reviewersGroupPrincipalId string = ''

@description('Object id of the Entra ID group of retention operators (`wa-archive retention run` from a terminal: may delete expired versions, never set or clear legal holds); empty for none.')
param retentionOperatorsGroupPrincipalId string = ''

@description('Days Log Analytics keeps storage and Key Vault audit logs.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 365

@description('Email alerted when a Key Vault key is disabled or deleted or a resource lock is removed; empty for none.')
param alertEmail string = ''

@description('Comma-separated hosts media may be fetched from (https only); empty keeps the per-provider defaults.')
param mediaHostAllowlist string = ''

@description('Comma-separated business phone-number ids that outbound captures may come from.')
param outboundSenderIds string = ''

@description('Largest webhook body accepted, in bytes.')
param maxWebhookBytes int = 1048576

@description('Largest media file fetched, in bytes.')
param maxMediaBytes int = 104857600

@description('Meta Graph API base URL.')
param graphUrl string = 'https://graph.facebook.com/v21.0'

@description('Public https base URL providers call, e.g. https://<app>.azurewebsites.net or a custom domain (Twilio signs the full URL it called; the Functions front end does not tell the app). Empty until known: the Twilio route answers 500 until it is set.')
param publicBaseUrl string = ''

@description('WASender API base URL (media decryption).')
param wasenderApiUrl string = 'https://www.wasenderapi.com/api'

@description('Endpoint of the Communication Services resource (https://<name>.communication.azure.com); empty when ACS is not used.')
param acsEndpoint string = ''

@description('Entra ID application (id or URI) that Event Grid requests its delivery tokens for; empty: no bearer authentication (the app then accepts only the URL secret acs-webhook-secret, and no subscription is deployed here).')
param acsWebhookAudience string = ''

@description('Entra ID tenant of that application.')
param acsWebhookTenantId string = tenant().tenantId

@description('Name of an EXISTING Communication Services resource whose Advanced Messaging events are archived; empty (the default) deploys no Event Grid subscription. It is deployed with Entra ID delivery authentication, so it needs acsWebhookAudience too. Deploy it only after the code is published and the secrets are set: Event Grid validates the endpoint when the subscription is created.')
param communicationServicesName string = ''

@description('Resource group of that Communication Services resource.')
param communicationServicesResourceGroup string = resourceGroup().name

@description('Event Grid delivery schema of the ACS subscription.')
@allowed([
  'CloudEventSchemaV1_0'
  'EventGridSchema'
])
param acsEventSchema string = 'CloudEventSchemaV1_0'

@description('Most instances Flex Consumption may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

// 512 MB is left out: Microsoft.Web/sites@2024-04-01 reportedly rejects it (issue 20).
@description('Memory per Flex Consumption instance, in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

// Durable backend (issue 14; docs/durable.md). azureStorage keeps the task hub in
// the host storage account, as before. durableTaskScheduler deploys a Durable Task
// Scheduler and points the Durable extension at it through app settings only;
// host.json keeps the Azure Storage default, which devhost emulates.
@description('Durable Functions backend: azureStorage (task hub in the host account) or durableTaskScheduler (managed scheduler; about 5x the work-item throughput in the benchmark Microsoft published; billed separately).')
@allowed([
  'azureStorage'
  'durableTaskScheduler'
])
param durableBackend string = 'azureStorage'

@description('Durable Task Scheduler SKU (durableTaskScheduler only): Consumption is billed per action; Dedicated per capacity unit per month.')
@allowed([
  'Consumption'
  'Dedicated'
])
param durableSchedulerSku string = 'Consumption'

@description('Capacity units of a Dedicated scheduler (1-3); ignored for Consumption.')
@minValue(1)
@maxValue(3)
param durableSchedulerCapacity int = 1

@description('Addresses or CIDR ranges the scheduler accepts (durableTaskScheduler only). Empty (the default) refuses every caller, the app included: set the egress ranges of the app, or 0.0.0.0/0 deliberately (identity and the task-hub role still apply), before switching (docs/durable.md).')
param durableSchedulerIpAllowlist array = []

@description('Webhook every alert also goes to (a chat or paging integration); empty for none. Secure: such URLs often carry a token, and a secure parameter stays out of the deployment history.')
@secure()
param alertWebhookUrl string

@description('URL of docs/operations.md as the firm publishes it (its repository or an internal copy); every alert links its section there.')
param runbookBaseUrl string

@description('Alert when the oldest message in `ingest` is older than this many minutes.')
@minValue(1)
param queueMaxAgeMinutes int = 10

@description('Alert when no event was archived for this many minutes during business hours (15 to 2880).')
@minValue(15)
@maxValue(2880)
param noEventsMinutes int = 60

@description('Business hours for the no-events alert: first hour (0-23) and the hour the day ends (1-24), local time in businessTimeZone.')
@minValue(0)
@maxValue(23)
param businessHoursStart int = 8

@minValue(1)
@maxValue(24)
param businessHoursEnd int = 18

@description('Business days as KQL dayofweek numbers: 0 Sunday, 1 Monday ... 6 Saturday.')
param businessDays array = [
  1
  2
  3
  4
  5
]

@description('IANA time zone of the business hours (KQL datetime_utc_to_local takes IANA names), e.g. America/New_York or Europe/London.')
param businessTimeZone string = 'America/New_York'

@description('Alert when more than this percent of webhook requests answer 5xx within 15 minutes.')
@minValue(1)
@maxValue(100)
param webhook5xxPercent int = 5

@description('Alert when more media items than this are recorded unavailable within an hour.')
@minValue(0)
param mediaGapThreshold int = 10

@description('Alert when no daily seal was written for this many hours (the seal timer runs at 01:30 UTC).')
@minValue(25)
@maxValue(47)
param sealMissedHours int = 26

// Storage account names take lowercase letters and digits only; a prefix typed
// in capitals would otherwise fail the deployment.
var prefix = toLower(namePrefix)
var suffix = take(uniqueString(resourceGroup().id, prefix), 8)
// The vault name outlives the vault: purge protection reserves it for 90 days.
var vaultSuffix = empty(keyVaultNameSeed) ? suffix : take(uniqueString(resourceGroup().id, prefix, keyVaultNameSeed), 8)
var names = {
  appIdentity: 'id-${prefix}-app-${suffix}'
  retentionIdentity: 'id-${prefix}-ret-${suffix}'
  encryptionIdentity: 'id-${prefix}-cmk-${suffix}'
  workspace: 'log-${prefix}-${suffix}'
  appInsights: 'appi-${prefix}-${suffix}'
  keyVault: 'kv-${prefix}-${vaultSuffix}'
  hostStorage: 'st${prefix}host${suffix}'
  archiveStorage: 'st${prefix}arch${suffix}'
  logArchive: 'st${prefix}logs${suffix}'
  actionGroup: 'ag-${prefix}-${suffix}'
  plan: 'plan-${prefix}-${suffix}'
  functionApp: 'func-${prefix}-${suffix}'
  durableScheduler: 'dts-${prefix}-${suffix}'
}
// The task hub: host.json extensions.durableTask.hubName (tests/bicep checks they agree).
var hubName = 'WaArchiveHub'
var useDurableTaskScheduler = durableBackend == 'durableTaskScheduler'

// Flex Consumption regions without zone-redundant storage (issue 20; see
// `az functionapp list-flexconsumption-locations` and the Azure regions list).
var regionsWithoutZrs = [
  'australiasoutheast'
  'northcentralus'
  'southindia'
  'ukwest'
  'westcentralus'
  'westus'
]
var hostSku = (hostStorageSkuName == 'auto') ? (contains(regionsWithoutZrs, toLower(replace(location, ' ', ''))) ? 'Standard_LRS' : 'Standard_ZRS') : hostStorageSkuName

// The Archive access tier exists only on LRS, GRS and RA-GRS accounts
// (learn.microsoft.com "Access tiers for blob data"). The archive module's
// tierAndSku parameter allows only the valid pairs, so ARM refuses the rest
// when it validates the deployment, before any account is created. (A
// conditional fail() would say the same, but checkov 3.3.30's Bicep parser,
// pycep-parser 0.5.1, cannot read fail(), and a file it cannot parse is not
// scanned at all.)
var tierAndSku = '${mediaTier}/${archiveSkuName}'

// Route prefix comes from host.json (extensions.http.routePrefix).
var webhookPath = '/api/webhooks/meta'
var providerWebhookPaths = {
  wasender: '/api/webhooks/wasender'
  twilio: '/api/webhooks/twilio'
  acs: '/api/webhooks/acs'
}

module identities 'modules/identities.bicep' = {
  name: 'identities'
  params: {
    location: location
    tags: tags
    appIdentityName: names.appIdentity
    retentionIdentityName: names.retentionIdentity
    encryptionIdentityName: names.encryptionIdentity
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    logRetentionDays: logRetentionDays
  }
}

// The access trail, kept immutable as long as the records (Log Analytics
// keeps 730 days at most). Every diagnostic setting below writes here too.
module logArchive 'modules/log-archive.bicep' = {
  name: 'log-archive'
  params: {
    location: location
    tags: tags
    accountName: names.logArchive
    skuName: archiveSkuName
    retentionDays: retentionDays
    retentionPolicyLocked: retentionPolicyLocked
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    vaultName: names.keyVault
    appPrincipalId: identities.outputs.appPrincipalId
    encryptionPrincipalId: identities.outputs.encryptionPrincipalId
    workspaceId: monitoring.outputs.workspaceId
    logArchiveAccountId: logArchive.outputs.accountId
    softDeleteRetentionDays: 90
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    tags: tags
    actionGroupId: observability.outputs.actionGroupId
  }
}

// Observability (issue 15): the one action group (email + optional webhook), the
// pipeline alert rules (log search over the workspace; one Activity Log alert on
// the retention policy and its lock) and the metrics workbook. Runbook:
// docs/operations.md.
module observability 'modules/observability.bicep' = {
  name: 'observability'
  params: {
    location: location
    tags: tags
    actionGroupName: names.actionGroup
    workspaceId: monitoring.outputs.workspaceId
    keyVaultId: keyVault.outputs.vaultId
    archiveStorageAccountId: archiveStorage.outputs.accountId
    logArchiveAccountId: logArchive.outputs.accountId
    alertEmail: alertEmail
    alertWebhookUrl: alertWebhookUrl
    runbookBaseUrl: runbookBaseUrl
    queueMaxAgeMinutes: queueMaxAgeMinutes
    noEventsMinutes: noEventsMinutes
    businessHoursStart: businessHoursStart
    businessHoursEnd: businessHoursEnd
    businessDays: businessDays
    businessTimeZone: businessTimeZone
    webhook5xxPercent: webhook5xxPercent
    mediaGapThreshold: mediaGapThreshold
    sealMissedHours: sealMissedHours
  }
}

module hostStorage 'modules/host-storage.bicep' = {
  name: 'host-storage'
  params: {
    location: location
    tags: tags
    accountName: names.hostStorage
    skuName: hostSku
    deploymentContainerName: 'app-package'
    appPrincipalId: identities.outputs.appPrincipalId
    workspaceId: monitoring.outputs.workspaceId
    logArchiveAccountId: logArchive.outputs.accountId
  }
}

// Takes its key details from the keyVault module's outputs, so it waits for
// that module, including the encryption identity's role on the key.
module archiveStorage 'modules/archive-storage.bicep' = {
  name: 'archive-storage'
  params: {
    location: location
    tags: tags
    accountName: names.archiveStorage
    tierAndSku: tierAndSku
    retentionDays: retentionDays
    retentionPolicyLocked: retentionPolicyLocked
    mediaTierAfterDays: mediaTierAfterDays
    tierSmallMedia: tierSmallMedia
    encryptionIdentityId: identities.outputs.encryptionIdentityId
    keyVaultUri: keyVault.outputs.vaultUri
    encryptionKeyName: keyVault.outputs.storageKeyName
    appPrincipalId: identities.outputs.appPrincipalId
    workspaceId: monitoring.outputs.workspaceId
    logArchiveAccountId: logArchive.outputs.accountId
  }
}

module peopleAccess 'modules/people-access.bicep' = {
  name: 'people-access'
  params: {
    accountName: archiveStorage.outputs.accountName
    containerNames: archiveStorage.outputs.containerNames
    auditContainerName: 'audit'
    ingestQueueName: 'ingest'
    poisonQueueName: 'ingest-poison'
    tableNames: archiveStorage.outputs.tableNames
    failuresTableName: 'IndexFailures'
    // Where versions carry legal holds: records, the raw bodies they come from, media.
    holdContainerNames: [
      'raw'
      'records'
      'media'
    ]
    holdsTableName: 'Holds'
    adminsGroupPrincipalId: adminsGroupPrincipalId
    auditorsGroupPrincipalId: auditorsGroupPrincipalId
    // Reviewers: Flags, the conversation rows (context), records, and audit (decisions).
    reviewersGroupPrincipalId: reviewersGroupPrincipalId
    flagsTableName: 'Flags'
    conversationTableName: 'IndexByParticipant'
    recordsContainerName: 'records'
  }
}

// Disposal and legal holds: the retention identity, and the optional retention
// operators group (admins' hold roles are in people-access).
module retentionAccess 'modules/retention-access.bicep' = {
  name: 'retention-access'
  params: {
    accountName: archiveStorage.outputs.accountName
    recordContainerNames: [
      'raw'
      'records'
      'media'
    ]
    sealsContainerName: 'seals'
    prunedTableNames: [
      'IndexByMessage'
      'IndexByParticipant'
      'IndexByDay'
      'IndexByTerm'
      'Flags'
    ]
    keptTableNames: [
      'IndexFailures'
      'Holds'
    ]
    holdsTableName: 'Holds'
    retentionPrincipalId: identities.outputs.retentionPrincipalId
    createOnlyRoleId: archiveStorage.outputs.createOnlyRoleId
    retentionOperatorsGroupPrincipalId: retentionOperatorsGroupPrincipalId
  }
}

// Only with durableBackend 'durableTaskScheduler': the scheduler, its task hub and
// the app identity's role on that task hub.
module durableScheduler 'modules/durable-scheduler.bicep' = if (useDurableTaskScheduler) {
  name: 'durable-scheduler'
  params: {
    location: location
    tags: tags
    schedulerName: names.durableScheduler
    taskHubName: hubName
    skuName: durableSchedulerSku
    capacity: durableSchedulerCapacity
    ipAllowlist: durableSchedulerIpAllowlist
    appPrincipalId: identities.outputs.appPrincipalId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: tags
    planName: names.plan
    appName: names.functionApp
    appIdentityId: identities.outputs.appIdentityId
    appClientId: identities.outputs.appClientId
    appPrincipalId: identities.outputs.appPrincipalId
    retentionIdentityId: identities.outputs.retentionIdentityId
    retentionClientId: identities.outputs.retentionClientId
    hostAccountName: hostStorage.outputs.accountName
    deploymentContainerUrl: hostStorage.outputs.deploymentContainerUrl
    archiveAccountName: archiveStorage.outputs.accountName
    archiveBlobEndpoint: archiveStorage.outputs.blobEndpoint
    archiveQueueEndpoint: archiveStorage.outputs.queueEndpoint
    archiveTableEndpoint: archiveStorage.outputs.tableEndpoint
    keyVaultUri: keyVault.outputs.vaultUri
    manifestKeyUri: keyVault.outputs.manifestKeyUri
    appInsightsName: monitoring.outputs.appInsightsName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    retentionDays: retentionDays
    maxWebhookBytes: maxWebhookBytes
    maxMediaBytes: maxMediaBytes
    graphUrl: graphUrl
    mediaHostAllowlist: mediaHostAllowlist
    outboundSenderIds: outboundSenderIds
    publicBaseUrl: publicBaseUrl
    wasenderApiUrl: wasenderApiUrl
    acsEndpoint: acsEndpoint
    acsWebhookAudience: acsWebhookAudience
    acsWebhookTenantId: acsWebhookTenantId
    workspaceId: monitoring.outputs.workspaceId
    logArchiveAccountId: logArchive.outputs.accountId
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    durableBackend: durableBackend
    durableSchedulerEndpoint: useDurableTaskScheduler ? durableScheduler.outputs.endpoint : ''
    durableTaskHubName: hubName
  }
}

// ACS (optional): an Event Grid system topic on the existing Communication Services
// resource, a subscription to the two Advanced Messaging events delivered to the app,
// and the app identity's role to download ACS media.
// Entra ID delivery only: a URL secret would have to pass through the template (a
// subscription with one is created by hand, docs/providers.md).
module acsEvents 'modules/acs-events.bicep' = if (!empty(communicationServicesName) && !empty(acsWebhookAudience)) {
  name: 'acs-events'
  scope: resourceGroup(communicationServicesResourceGroup)
  params: {
    communicationServicesName: communicationServicesName
    systemTopicName: 'egst-${prefix}-acs-${suffix}'
    tags: tags
    endpointUrl: 'https://${functionApp.outputs.defaultHostName}${providerWebhookPaths.acs}'
    audience: acsWebhookAudience
    tenantId: acsWebhookTenantId
    deliverySchema: acsEventSchema
    appPrincipalId: identities.outputs.appPrincipalId
  }
}

@description('Action group every alert goes to.')
output alertActionGroupId string = observability.outputs.actionGroupId

@description('The pipeline metrics workbook (Azure Monitor > Workbooks, or the workspace).')
output workbookId string = observability.outputs.workbookId

@description('Point the Meta webhook (callback URL) here.')
output webhookUrl string = 'https://${functionApp.outputs.defaultHostName}${webhookPath}'

@description('Webhook URLs of the other providers (WASender webhook, Twilio messaging and status callbacks, ACS Event Grid endpoint). Twilio must call exactly publicBaseUrl + its path.')
output providerWebhookUrls object = {
  wasender: 'https://${functionApp.outputs.defaultHostName}${providerWebhookPaths.wasender}'
  twilio: '${empty(publicBaseUrl) ? 'https://${functionApp.outputs.defaultHostName}' : publicBaseUrl}${providerWebhookPaths.twilio}'
  acs: 'https://${functionApp.outputs.defaultHostName}${providerWebhookPaths.acs}'
}

@description('Durable Task Scheduler endpoint; empty with durableBackend azureStorage.')
output durableSchedulerEndpoint string = useDurableTaskScheduler ? durableScheduler.outputs.endpoint : ''

@description('Host account: Functions runtime, task hub (with durableBackend azureStorage), deployment package.')
output hostStorageAccountName string = hostStorage.outputs.accountName

@description('Archive account: WORM containers, ingest queue, index tables.')
output archiveStorageAccountName string = archiveStorage.outputs.accountName

@description('Key Vault holding the WhatsApp secrets and the signing key.')
output keyVaultUri string = keyVault.outputs.vaultUri

output keyVaultName string = keyVault.outputs.vaultName

@description('Log archive account (immutable access trail); pass its id to bicep/activity-log.bicep.')
output logArchiveAccountName string = logArchive.outputs.accountName
output logArchiveAccountId string = logArchive.outputs.accountId

@description('Log Analytics workspace; pass it to bicep/activity-log.bicep.')
output workspaceId string = monitoring.outputs.workspaceId
output functionAppName string = functionApp.outputs.appName

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

@description('Days in Hot before archived blobs move to Cool.')
@minValue(1)
param coolAfterDays int = 90

@description('Days after creation before archived blobs move to the colder tier.')
@minValue(1)
param archiveAfterDays int = 365

@description('The colder tier: Cold (online) or Archive (offline, hours to rehydrate).')
@allowed([
  'Cold'
  'Archive'
])
param archiveTier string = 'Cold'

@description('Archive account replication. The Archive tier needs LRS, GRS or RA-GRS: any other pairing is refused when the deployment is validated.')
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
}

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
var tierAndSku = '${archiveTier}/${archiveSkuName}'

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
    location: location
    tags: tags
    actionGroupName: names.actionGroup
    alertEmail: alertEmail
    vaultId: keyVault.outputs.vaultId
    workspaceId: monitoring.outputs.workspaceId
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
    coolAfterDays: coolAfterDays
    archiveAfterDays: archiveAfterDays
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
      'IndexByConversation'
      'IndexByDay'
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

@description('Point the Meta webhook (callback URL) here.')
output webhookUrl string = 'https://${functionApp.outputs.defaultHostName}${webhookPath}'

@description('Webhook URLs of the other providers (WASender webhook, Twilio messaging and status callbacks, ACS Event Grid endpoint). Twilio must call exactly publicBaseUrl + its path.')
output providerWebhookUrls object = {
  wasender: 'https://${functionApp.outputs.defaultHostName}${providerWebhookPaths.wasender}'
  twilio: '${empty(publicBaseUrl) ? 'https://${functionApp.outputs.defaultHostName}' : publicBaseUrl}${providerWebhookPaths.twilio}'
  acs: 'https://${functionApp.outputs.defaultHostName}${providerWebhookPaths.acs}'
}

@description('Host account: Functions runtime, task hub, deployment package.')
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

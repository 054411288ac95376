// The Function app on Flex Consumption (FC1, Linux, Python 3.11). It runs as
// a user-assigned identity and holds no keys: storage settings are the
// identity-based `__` forms, secrets are Key Vault references, and Application
// Insights takes Entra ID tokens only. Setting names must match
// archive/names.py (tests/bicep checks this).

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Flex Consumption plan name.')
param planName string

@description('Function app name (also its host name).')
param appName string

@description('Resource id of the Function app identity.')
param appIdentityId string

@description('Client id of the Function app identity.')
param appClientId string

@description('Principal id of the Function app identity.')
param appPrincipalId string

@description('Resource id of the retention identity (disposal and legal holds).')
param retentionIdentityId string

@description('Client id of the retention identity.')
param retentionClientId string

@description('Host storage account name (AzureWebJobsStorage).')
param hostAccountName string

@description('Deployment package container URL in the host account.')
param deploymentContainerUrl string

@description('Archive storage account name.')
param archiveAccountName string

@description('Archive account blob endpoint.')
param archiveBlobEndpoint string

@description('Archive account queue endpoint.')
param archiveQueueEndpoint string

@description('Archive account table endpoint.')
param archiveTableEndpoint string

@description('Key Vault URI (ends with a slash).')
param keyVaultUri string

@description('Versionless URI of the manifest signing key.')
param manifestKeyUri string

@description('Application Insights component name.')
param appInsightsName string

@description('Application Insights connection string (no secret: local auth is disabled).')
param appInsightsConnectionString string

@description('Days every record stays immutable; the app uses it for retention metadata and expiry.')
param retentionDays int

@description('Largest webhook body accepted, in bytes.')
param maxWebhookBytes int

@description('Largest media file fetched, in bytes.')
param maxMediaBytes int

@description('Meta Graph API base URL.')
param graphUrl string

@description('Comma-separated hosts media may be fetched from (https only); empty keeps the per-provider defaults.')
param mediaHostAllowlist string

@description('Comma-separated business phone-number ids outbound captures may come from.')
param outboundSenderIds string

@description('Public https base URL providers call (Twilio signs the full URL); empty: the Twilio route answers 500 until it is set.')
param publicBaseUrl string

@description('WASender API base URL (decrypt-media).')
param wasenderApiUrl string

@description('Communication Services endpoint media are downloaded from; empty when ACS is not used.')
param acsEndpoint string

@description('Entra ID audience (application id or URI) of the bearer tokens Event Grid sends; empty: no bearer authentication.')
param acsWebhookAudience string

@description('Entra ID tenant that issues those tokens.')
param acsWebhookTenantId string

@description('Log Analytics workspace that receives the Function app logs.')
param workspaceId string

@description('Log archive account: keeps the Function app logs immutable as long as the records.')
param logArchiveAccountId string

@description('Most instances Flex Consumption may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory per instance, in MB (512 is left out: Microsoft.Web/sites@2024-04-01 reportedly rejects it).')
@allowed([
  2048
  4096
])
param instanceMemoryMB int

@description('Durable Functions backend: azureStorage (the host account, host.json default) or durableTaskScheduler.')
@allowed([
  'azureStorage'
  'durableTaskScheduler'
])
param durableBackend string

@description('Durable Task Scheduler endpoint (https://...durabletask.io); empty with azureStorage.')
param durableSchedulerEndpoint string

@description('Task hub name (host.json extensions.durableTask.hubName).')
param durableTaskHubName string

// Key Vault secret names allow letters, digits and dashes only, so they
// differ from the app setting names they feed.
// Every one of them must be set before code is published (docs/deploy.md):
// an unresolved reference reaches the app as its literal text.
var secretReferences = {
  WHATSAPP_APP_SECRET: 'whatsapp-app-secret'
  WHATSAPP_ACCESS_TOKEN: 'whatsapp-access-token'
  WHATSAPP_VERIFY_TOKEN: 'whatsapp-verify-token'
  CUSTODY_MAC_KEY: 'custody-mac-key'
  // Issue 13 providers. A provider the firm does not use still gets a random value
  // (docs/providers.md): its route then refuses everything with 401.
  WASENDER_WEBHOOK_SECRET: 'wasender-webhook-secret'
  WASENDER_API_KEY: 'wasender-api-key'
  TWILIO_AUTH_TOKEN: 'twilio-auth-token'
  TWILIO_ACCOUNT_SID: 'twilio-account-sid'
  ACS_WEBHOOK_SECRET: 'acs-webhook-secret'
}

// Built-in role definition id (learn.microsoft.com "Azure built-in roles").
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

var appSettings = {
  // Host + Durable task hub: identity-based connection to the host account.
  AzureWebJobsStorage__accountName: hostAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: appClientId
  // Archive account: the same identity-based form, read by the queue trigger
  // binding and by the app's own SDK clients.
  ARCHIVE_STORAGE__accountName: archiveAccountName
  ARCHIVE_STORAGE__blobServiceUri: archiveBlobEndpoint
  ARCHIVE_STORAGE__queueServiceUri: archiveQueueEndpoint
  ARCHIVE_STORAGE__tableServiceUri: archiveTableEndpoint
  ARCHIVE_STORAGE__credential: 'managedidentity'
  ARCHIVE_STORAGE__clientId: appClientId
  // DefaultAzureCredential picks the user-assigned identity by this id.
  AZURE_CLIENT_ID: appClientId
  WHATSAPP_APP_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretReferences.WHATSAPP_APP_SECRET}/)'
  WHATSAPP_ACCESS_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretReferences.WHATSAPP_ACCESS_TOKEN}/)'
  WHATSAPP_VERIFY_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretReferences.WHATSAPP_VERIFY_TOKEN}/)'
  // MACs bodies that carry no provider signature (outbound captures); only the app reads it.
  CUSTODY_MAC_KEY: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretReferences.CUSTODY_MAC_KEY}/)'
  // WASender's X-Webhook-Signature is this secret itself; only its MAC-based custody is stored.
  WASENDER_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretReferences.WASENDER_WEBHOOK_SECRET}/)'
  WASENDER_API_KEY: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretReferences.WASENDER_API_KEY}/)'
  WASENDER_API_URL: wasenderApiUrl
  TWILIO_AUTH_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretReferences.TWILIO_AUTH_TOKEN}/)'
  TWILIO_ACCOUNT_SID: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretReferences.TWILIO_ACCOUNT_SID}/)'
  PUBLIC_BASE_URL: publicBaseUrl
  ACS_ENDPOINT: acsEndpoint
  ACS_WEBHOOK_AUDIENCE: acsWebhookAudience
  ACS_WEBHOOK_TENANT_ID: acsWebhookTenantId
  // Empty: the app reads the tenant's Entra ID discovery keys.
  ACS_WEBHOOK_KEYS_URL: ''
  ACS_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretReferences.ACS_WEBHOOK_SECRET}/)'
  MEDIA_HOST_ALLOWLIST: mediaHostAllowlist
  OUTBOUND_SENDER_IDS: outboundSenderIds
  // The poison-drain timer reads its schedule from this setting (%...% binding
  // expression); without it the function cannot be indexed. Every 5 minutes.
  POISON_DRAIN_SCHEDULE: '0 */5 * * * *'
  // The daily seal (01:30 UTC) and its verification (03:30 UTC, after the seal);
  // the same defaults as orchestrations/seal_day.py and verify_run.py.
  SEAL_SCHEDULE: '0 30 1 * * *'
  VERIFY_SCHEDULE: '0 30 3 * * *'
  // Retention expiry, daily at 04:30 UTC: after the day's seal and its verification.
  RETENTION_SCHEDULE: '0 30 4 * * *'
  // How long an instance trusts its cached list of in-force legal holds: a new hold
  // binds newly archived events within this many seconds (at most 60).
  HOLD_CACHE_SECONDS: '60'
  // The retention and legal-hold code picks its own identity by this id
  // (storage/clients.py retention_account); everything else stays on the app identity.
  RETENTION_IDENTITY_CLIENT_ID: retentionClientId
  WHATSAPP_GRAPH_URL: graphUrl
  ARCHIVE_RETENTION_DAYS: string(retentionDays)
  MAX_WEBHOOK_BYTES: string(maxWebhookBytes)
  // The host buffers a request body up to this limit before the app's own cap
  // runs; matching it keeps an oversized webhook from being read into memory.
  FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: string(maxWebhookBytes)
  MAX_MEDIA_BYTES: string(maxMediaBytes)
  MANIFEST_SIGNING_KEY_ID: manifestKeyUri
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${appClientId};Authorization=AAD'
}

// Durable Task Scheduler only (durableBackend 'durableTaskScheduler'): settings the
// Functions host and its Durable extension read, never the app's code. The
// AzureFunctionsJobHost__ forms override host.json for this app alone, so host.json
// keeps the Azure Storage default that devhost emulates. The connection is the
// app identity (ClientID), no key; TaskHub in the string and the hubName override
// both name the same hub, whichever of the two the azureManaged provider reads.
// The azureManaged provider needs extension bundle 4.32 or later (host.json).
var durableSchedulerConnectionSetting = 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
var durableSchedulerSettings = (durableBackend == 'durableTaskScheduler') ? {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${appClientId};TaskHub=${durableTaskHubName}'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: durableSchedulerConnectionSetting
  AzureFunctionsJobHost__extensions__durableTask__hubName: durableTaskHubName
} : {}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy is region-dependent; no message is lost to a zone outage because ingest is durable in the queue before the 200.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222:Meta's webhook calls come from the internet; every POST is authenticated by its HMAC signature, /api/outbound by a function key.
  //checkov:skip=CKV_AZURE_17:Meta cannot present client certificates; webhook bodies are authenticated by HMAC signature instead.
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales per event from zero; instance counts are not an App Service plan setting here.
  //checkov:skip=CKV_AZURE_78:Flex Consumption rejects siteConfig.ftpsState (ARM error 51021, Azure/azure-cli#31414); FTP is off through the ftp basicPublishingCredentialsPolicy (allow false) below.
  //checkov:skip=CKV_AZURE_213:App Service health check (instance eviction) does not apply to Flex Consumption; GET /api/health serves external probes.
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    // The retention identity rides along for the retention timer and the legal holds
    // set at archive time; Key Vault references, the deployment package and
    // AZURE_CLIENT_ID all name the app identity.
    userAssignedIdentities: {
      '${appIdentityId}': {}
      '${retentionIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: appIdentityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      // No ftpsState: Flex Consumption sites reject it (ARM error 51021,
      // Azure/azure-cli#31414). FTP is off through the `ftp` publishing
      // credentials policy below, which refuses every basic-auth FTP login.
      http20Enabled: true
      appSettings: [for setting in items(union(appSettings, durableSchedulerSettings)): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: appIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Deployment goes through Entra ID (`func azure functionapp publish`, or
// `az functionapp deployment`), never through basic-auth publishing profiles.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The host's own log (function executions, errors, the app's logging). It
// carries ids and hashes only, never content (the app's logging rule).
resource siteLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'app-logs'
  scope: site
  properties: {
    workspaceId: workspaceId
    storageAccountId: logArchiveAccountId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
  }
}

output appName string = site.name
output defaultHostName string = site.properties.defaultHostName

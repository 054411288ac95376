// Parameters for: az deployment group create -g <rg> -f bicep/main.bicep -p bicep/main.bicepparam
// No secrets here: WhatsApp secrets go into Key Vault after deployment (docs/deploy.md).
using './main.bicep'

// Letters and digits; lower-cased by the template.
param namePrefix = 'waarch'

// Empty keeps the vault name. A deleted vault keeps its name for 90 days (purge
// protection): set any new string to re-create a deleted resource group (docs/deploy.md).
param keyVaultNameSeed = ''

// auto: Standard_ZRS, or Standard_LRS in the Flex regions without zone-redundant storage.
param hostStorageSkuName = 'auto'

// 7 years (SEC 17a-4, FINRA 4511). Can only be raised once the policy is locked.
param retentionDays = 2557

// TRUE LOCKS THE RETENTION POLICY IRREVERSIBLY, WITH NO CONFIRMATION. Set it only
// after `wa-archive lock-retention` has locked the policy (docs/deploy.md, step 9).
param retentionPolicyLocked = false

// Lifecycle: only `media` is tiered, in one move (records, raw, seals and the rest are
// too small for a tier change to pay for itself: docs/cost.md). 'Cold', 'Cool' or
// 'Archive' (offline: hours to rehydrate, and the daily verification cannot read it).
param mediaTier = 'Cold'
param mediaTierAfterDays = 90
// true also tiers media below the app's size threshold (names under media/small/).
param tierSmallMedia = false
// mediaTier 'Archive' needs Standard_LRS, Standard_GRS or Standard_RAGRS.
param archiveSkuName = 'Standard_GRS'

// Entra ID group object ids (az ad group show -g <name> --query id -o tsv).
param adminsGroupPrincipalId = ''
param auditorsGroupPrincipalId = ''
// Reviewers of lexicon flags (`wa-archive review`, docs/review.md): read Flags, conversation
// rows and records, append decisions to audit; never media, never a table write.
param reviewersGroupPrincipalId = ''
// Retention operators: may delete expired versions (`wa-archive retention run`), never
// set or clear legal holds; empty grants nothing (the retention timer needs no group).
param retentionOperatorsGroupPrincipalId = ''

param logRetentionDays = 365

// Alerted when a Key Vault key is disabled or deleted, or a resource lock is removed.
param alertEmail = ''
// Alerts (issue 15, bicep/modules/observability.bicep). The webhook is secure: read
// from the environment at deployment, never written here; empty for none.
param alertWebhookUrl = readEnvironmentVariable('WA_ALERT_WEBHOOK_URL', '')
// Where every alert's runbook link points: docs/operations.md as the firm publishes
// it (a fork, an internal wiki copy). Replace with your copy's URL.
param runbookBaseUrl = 'https://example.invalid/wa-compliance-archive/docs/operations.md'

// Hosts media may be fetched from (comma list, https only); empty = per-provider defaults.
param mediaHostAllowlist = ''
// The firm's business phone-number ids (comma list) that outbound captures may come from.
param outboundSenderIds = ''
param maxWebhookBytes = 1048576
param maxMediaBytes = 104857600
param graphUrl = 'https://graph.facebook.com/v21.0'

// Providers besides Meta (docs/providers.md). Their secrets go into Key Vault, never here.
// The public https base URL providers call (Twilio signs the full URL); empty: the Twilio
// route answers 500 until it is set (redeploy with the functionApp's URL or a custom domain).
param publicBaseUrl = ''
param wasenderApiUrl = 'https://www.wasenderapi.com/api'
// ACS: the resource endpoint (media), the Entra ID application Event Grid's delivery
// tokens are issued for, and the existing resource whose events to subscribe to
// (empty: no Event Grid subscription is deployed; deploy it after the code is published).
param acsEndpoint = ''
param acsWebhookAudience = ''
param communicationServicesName = ''
param acsEventSchema = 'CloudEventSchemaV1_0'

// Durable Functions backend (docs/durable.md): 'azureStorage' (task hub in the host
// account) or 'durableTaskScheduler' (managed scheduler, deployed by this template).
param durableBackend = 'azureStorage'
// durableTaskScheduler only: 'Consumption' (per action) or 'Dedicated' (per capacity unit).
param durableSchedulerSku = 'Consumption'
param durableSchedulerCapacity = 1
// durableTaskScheduler only. Empty refuses every caller, the app included: list the
// app's egress ranges, or ['0.0.0.0/0'] deliberately (docs/durable.md).
param durableSchedulerIpAllowlist = []

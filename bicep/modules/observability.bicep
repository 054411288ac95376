// Observability (issue 15): one action group, the alert rules and the workbook.
//
// Where the rules look. Application Insights here is workspace-based
// (monitoring.bicep: IngestionMode LogAnalytics), so the app's telemetry lands in
// the Log Analytics workspace as AppMetrics and AppRequests, beside the Key Vault
// AuditEvent log (AzureDiagnostics) and the archive account's StorageBlobLogs.
// Every log rule is therefore scoped to the WORKSPACE and uses the workspace
// schema: AppMetrics with `Name` and `Properties` (not the classic `customMetrics`
// with `name` and `customDimensions`, which is what a rule scoped to the
// Application Insights component would query). One scope, one schema, and the
// Key Vault rule can live beside the metric rules.
//
// How the metrics arrive (azure-monitor-opentelemetry-exporter): a counter is
// exported as a delta per interval, in `Sum` (ItemCount 1); a gauge as its value in
// `Sum`; a histogram as Sum, ItemCount, Min and Max only (no buckets), so the
// workbook shows mean and max, never a true percentile.
// Metric names and dimension values are archive/metrics.py's, literally
// (tests/bicep/test_observability.py keeps the two in step).
//
// Every rule links its runbook section: `${runbookBaseUrl}#<anchor>`, in the
// description and in a custom property of the notification.

@description('Azure region of the workspace (log search alert rules and the workbook live beside it).')
param location string

@description('Tags for every resource.')
param tags object

@description('Action group name.')
param actionGroupName string

@description('Prefix of the alert rule names.')
param alertNamePrefix string = 'wa-archive-alert'

@description('Log Analytics workspace that receives the app telemetry (workspace-based Application Insights), the Key Vault AuditEvent log and the storage logs.')
param workspaceId string

@description('Key Vault holding the archive encryption key and the seal signing key.')
param keyVaultId string

@description('Archive storage account (WORM records).')
param archiveStorageAccountId string

@description('Log archive account (immutable access trail); empty to leave it out of the retention policy alert.')
param logArchiveAccountId string = ''

// Required here (no default); main.bicep keeps its alertEmail optional (tests/bicep
// test_bicep_hardening), so an empty address deploys the group without an email
// receiver: the alerts still show under Azure Monitor > Alerts and reach the webhook.
@description('Email address every alert goes to; empty for none (not recommended).')
param alertEmail string

@description('Optional webhook (for example a chat or paging integration) every alert also goes to; empty for none. It often carries a token, so it is secure.')
@secure()
param alertWebhookUrl string

@description('URL of the operations runbook (docs/operations.md) as the firm publishes it, for example https://github.com/<org>/<repo>/blob/main/docs/operations.md. Every rule links a section of it.')
param runbookBaseUrl string

@description('Alert when ingest-poison holds, or deadletter received, more messages than this within 30 minutes.')
@minValue(0)
param poisonDepthThreshold int = 0

@description('Alert when the oldest message in `ingest` is older than this many minutes.')
@minValue(1)
param queueMaxAgeMinutes int = 10

@description('Alert when no event was archived for this many minutes during business hours (at most 2 days).')
@minValue(15)
@maxValue(2880)
param noEventsMinutes int = 60

@description('First hour of the business day (0-23, local time in businessTimeZone).')
@minValue(0)
@maxValue(23)
param businessHoursStart int = 8

@description('Hour the business day ends (1-24, local time): 18 means until 18:00.')
@minValue(1)
@maxValue(24)
param businessHoursEnd int = 18

@description('Business days, as KQL dayofweek numbers: 0 Sunday, 1 Monday ... 6 Saturday.')
param businessDays array = [
  1
  2
  3
  4
  5
]

// KQL datetime_utc_to_local takes an IANA name (not a Windows id). The default is
// New York: the archive is built first for SEC 17a-4 / FINRA 4511 firms, and US
// market hours are Eastern. Set it to the desk that answers the alert.
@description('IANA time zone of the business hours, for example America/New_York or Europe/London.')
param businessTimeZone string = 'America/New_York'

@description('Alert when more than this percent of webhook requests answered 5xx in 15 minutes.')
@minValue(1)
@maxValue(100)
param webhook5xxPercent int = 5

@description('Fewest webhook requests in 15 minutes before the 5xx rate is judged.')
@minValue(1)
param webhook5xxMinRequests int = 5

@description('Alert when more media items than this are recorded unavailable within mediaGapWindow.')
@minValue(0)
param mediaGapThreshold int = 10

@description('Window over which media gaps are counted.')
@allowed([
  'PT15M'
  'PT30M'
  'PT1H'
  'PT6H'
])
param mediaGapWindow string = 'PT1H'

@description('Alert when no daily seal was written for this many hours (the seal timer runs daily at 01:30 UTC by default).')
@minValue(25)
@maxValue(47)
param sealMissedHours int = 26

var runbook = runbookBaseUrl
var days = string(businessDays)
var metrics = 'AppMetrics | where Name == '

// KQL only in double quotes: pycep (checkov's Bicep parser) cannot read an
// escaped single quote. Each query ends with one numeric column the rule measures.
var logRules = [
  {
    // ingest-poison is a queue (the depth gauge, every minute); dead letters are
    // blobs the poison drain writes every 5 minutes, so they are counted as they
    // arrive (wa_archive.poison, kind deadletter). Max over the window, so a poison
    // message drained between two readings still fires.
    anchor: 'poison-or-dead-letters-waiting'
    displayName: 'WA archive: poison or dead-letter messages waiting'
    description: 'Messages are in ingest-poison, or were moved to deadletter: acknowledged webhooks not archived until replayed.'
    severity: 2
    query: 'let poison = ${metrics}"wa_archive.queue.depth" and tostring(Properties.queue) == "ingest-poison" | summarize messages = max(Sum) | extend queue = "ingest-poison"; let deadLettered = ${metrics}"wa_archive.poison" and tostring(Properties.kind) == "deadletter" | summarize messages = sum(Sum) | extend queue = "deadletter"; union poison, deadLettered | project queue, messages = coalesce(messages, 0.0)'
    measure: 'messages'
    dimension: 'queue'
    threshold: poisonDepthThreshold
    frequency: 'PT5M'
    window: 'PT30M'
    lookback: ''
  }
  {
    anchor: 'ingest-queue-stalled'
    displayName: 'WA archive: ingest queue stalled'
    description: 'The oldest message in the ingest queue is older than queueMaxAgeMinutes.'
    severity: 1
    query: '${metrics}"wa_archive.queue.oldest_age" and tostring(Properties.queue) == "ingest" | summarize arg_max(TimeGenerated, Sum) | project ageMinutes = Sum / 60.0'
    measure: 'ageMinutes'
    dimension: ''
    threshold: queueMaxAgeMinutes
    frequency: 'PT5M'
    window: 'PT15M'
    lookback: ''
  }
  {
    anchor: 'no-events-archived-in-business-hours'
    displayName: 'WA archive: no events archived in business hours'
    description: 'No event was archived for noEventsMinutes during business hours.'
    severity: 1
    query: 'let tz = "${businessTimeZone}"; let nowLocal = datetime_utc_to_local(now(), tz); let fromLocal = datetime_utc_to_local(ago(${noEventsMinutes}m), tz); let inHours = set_has_element(dynamic(${days}), toint(dayofweek(nowLocal) / 1d)) and startofday(fromLocal) == startofday(nowLocal) and hourofday(fromLocal) >= ${businessHoursStart} and hourofday(nowLocal) < ${businessHoursEnd}; ${metrics}"wa_archive.events.archived" | where TimeGenerated > ago(${noEventsMinutes}m) | summarize archived = sum(Sum) | extend archived = coalesce(archived, 0.0) | project silent = iff(inHours and archived == 0, 1, 0)'
    measure: 'silent'
    dimension: ''
    threshold: 0
    frequency: 'PT15M'
    window: 'PT15M'
    lookback: 'P2D'
  }
  {
    // The catalogue's wa_archive.webhooks has no status code (outcome and reason
    // are the app's words), so the 5xx rate comes from the HTTP requests the
    // Functions host records (AppRequests.ResultCode).
    anchor: 'webhook-5xx-rate'
    displayName: 'WA archive: webhook 5xx rate'
    description: 'More than webhook5xxPercent of webhook requests answered 5xx in 15 minutes: providers are retrying and may give up.'
    severity: 1
    query: 'AppRequests | where Url has "/api/webhooks/" | summarize total = sum(ItemCount), failed = sumif(ItemCount, toint(ResultCode) >= 500) | where total >= ${webhook5xxMinRequests} | project percent = 100.0 * failed / total'
    measure: 'percent'
    dimension: ''
    threshold: webhook5xxPercent
    frequency: 'PT5M'
    window: 'PT15M'
    lookback: ''
  }
  {
    anchor: 'media-gaps-growing'
    displayName: 'WA archive: media gaps growing'
    description: 'More than mediaGapThreshold media items were recorded unavailable within mediaGapWindow.'
    severity: 2
    query: '${metrics}"wa_archive.media.gaps" | summarize gaps = sum(Sum)'
    measure: 'gaps'
    dimension: ''
    threshold: mediaGapThreshold
    frequency: 'PT15M'
    window: mediaGapWindow
    lookback: ''
  }
  {
    // Quiet until the app has reported for longer than the window, so a new
    // deployment does not page before its first seal is due.
    anchor: 'seal-missed'
    displayName: 'WA archive: daily seal missed'
    description: 'No daily seal was written (outcome sealed) for sealMissedHours.'
    severity: 1
    query: 'let alive = toscalar(AppMetrics | where TimeGenerated < ago(${sealMissedHours}h) | count) > 0; ${metrics}"wa_archive.seals" and tostring(Properties.outcome) == "sealed" | where TimeGenerated > ago(${sealMissedHours}h) | summarize sealed = sum(Sum) | extend sealed = coalesce(sealed, 0.0) | project missed = iff(alive and sealed == 0, 1, 0)'
    measure: 'missed'
    dimension: ''
    threshold: 0
    frequency: 'PT1H'
    window: 'PT1H'
    lookback: 'P2D'
  }
  {
    anchor: 'verification-failed'
    displayName: 'WA archive: verification failed'
    description: 'A verification run failed: a sealed record, the seal chain or completeness did not verify.'
    severity: 0
    query: '${metrics}"wa_archive.verifications" and tostring(Properties.outcome) == "failed" | summarize failed = sum(Sum)'
    measure: 'failed'
    dimension: ''
    threshold: 0
    frequency: 'PT15M'
    window: 'PT1H'
    lookback: ''
  }
  {
    anchor: 'key-vault-reference-unresolved'
    displayName: 'WA archive: Key Vault reference unresolved'
    description: 'An app setting still holds its literal Key Vault reference: the routes that need it answer 500.'
    severity: 1
    query: '${metrics}"wa_archive.settings.unresolved" | summarize unresolved = sum(Sum) by setting = tostring(Properties.setting)'
    measure: 'unresolved'
    dimension: 'setting'
    threshold: 0
    frequency: 'PT5M'
    window: 'PT15M'
    lookback: ''
  }
  {
    // Key operations are Key Vault DATA-plane calls: they never reach the Activity
    // Log, only the vault AuditEvent log (keyvault.bicep sends it to the workspace;
    // default destination: AzureDiagnostics). KeyUpdate is how a key is disabled.
    anchor: 'key-disabled-or-deleted'
    displayName: 'WA archive: Key Vault key disabled or deleted'
    description: 'A key in the archive vault was updated (disabled), deleted or purged through the data plane.'
    severity: 0
    query: 'AzureDiagnostics | where ResourceProvider == "MICROSOFT.KEYVAULT" and _ResourceId =~ "${keyVaultId}" | where OperationName in ("KeyUpdate", "KeyDelete", "KeyPurge") | summarize changes = count() by operation = OperationName'
    measure: 'changes'
    dimension: 'operation'
    threshold: 0
    frequency: 'PT5M'
    window: 'PT15M'
    lookback: ''
  }
  {
    // Version-level policies of single blob versions are set and deleted through
    // the blob DATA plane (Set/Delete Blob Immutability Policy): StorageBlobLogs,
    // not the Activity Log. Deleting an unlocked one shortens retention.
    anchor: 'blob-immutability-policy-changed'
    displayName: 'WA archive: blob immutability policy changed'
    description: 'A version-level immutability policy of an archived blob was set or deleted.'
    severity: 1
    query: 'StorageBlobLogs | where _ResourceId startswith "${archiveStorageAccountId}" | where OperationName in ("SetBlobImmutabilityPolicy", "DeleteBlobImmutabilityPolicy") | summarize changes = count() by operation = OperationName'
    measure: 'changes'
    dimension: 'operation'
    threshold: 0
    frequency: 'PT5M'
    window: 'PT15M'
    lookback: ''
  }
]

// Management-plane changes to the WORM configuration, from the Activity Log.
// archive-storage.bicep uses ACCOUNT-level version immutability: that policy and
// its lock are properties of the account, so changing or locking it is a
// storageAccounts/write (which every redeployment also makes: check the caller and
// the change record). The log archive uses container-level policies, which have
// their own operations.
var retentionOperations = [
  'Microsoft.Storage/storageAccounts/write'
  'Microsoft.Storage/storageAccounts/blobServices/write'
  'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/write'
  'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/delete'
  'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/lock/action'
  'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/extend/action'
]
var retentionConditions = [for operation in retentionOperations: {
  field: 'operationName'
  equals: operation
}]
var retentionAnchor = 'retention-policy-or-lock-changed'
var immutableAccounts = concat([
  archiveStorageAccountId
], empty(logArchiveAccountId) ? [] : [
  logArchiveAccountId
])

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'wa-arch-ops'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'archive-operations'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
    webhookReceivers: empty(alertWebhookUrl) ? [] : [
      {
        name: 'archive-webhook'
        serviceUri: alertWebhookUrl
        useCommonAlertSchema: true
        useAadAuth: false
      }
    ]
  }
}

resource logAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in logRules: {
  name: '${alertNamePrefix}-${rule.anchor}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: '${rule.description} Runbook: ${runbook}#${rule.anchor}'
    severity: rule.severity
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: rule.frequency
    windowSize: rule.window
    // Only where the query looks further back than the window (ago() inside).
    overrideQueryTimeRange: empty(rule.lookback) ? null : rule.lookback
    // A new workspace has no AzureDiagnostics or StorageBlobLogs table until the
    // first log line arrives; validation would refuse the rule until then.
    skipQueryValidation: true
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Maximum'
          metricMeasureColumn: rule.measure
          dimensions: empty(rule.dimension) ? [] : [
            {
              name: rule.dimension
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
      customProperties: {
        runbook: '${runbook}#${rule.anchor}'
      }
    }
  }
}]

resource retentionChanged 'Microsoft.Insights/activityLogAlerts@2020-10-01' = {
  name: '${alertNamePrefix}-${retentionAnchor}'
  location: 'Global'
  tags: tags
  properties: {
    enabled: true
    description: 'The archive or log archive account changed: its account-level immutability policy or lock, blob service settings, or a container immutability policy (write, delete, lock, extend). Runbook: ${runbook}#${retentionAnchor}'
    scopes: immutableAccounts
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'Administrative'
        }
        {
          anyOf: retentionConditions
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: actionGroup.id
          webhookProperties: {
            runbook: '${runbook}#${retentionAnchor}'
          }
        }
      ]
    }
  }
}

// The workbook's name must be a GUID; derived from the group and workspace so a
// redeployment updates the same workbook.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, workspaceId, 'wa-archive-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'WA archive: pipeline metrics'
    category: 'workbook'
    sourceId: workspaceId
    version: 'Notebook/1.0'
    serializedData: replace(loadTextContent('workbook.json'), '__WORKSPACE_ID__', workspaceId)
  }
}

output actionGroupId string = actionGroup.id
output workbookId string = workbook.id
output alertRuleNames array = [for (rule, i) in logRules: logAlerts[i].name]
output activityLogAlertName string = retentionChanged.name

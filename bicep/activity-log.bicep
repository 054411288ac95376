// Second, subscription-scope step: export the subscription Activity Log, which
// Azure itself keeps only 90 days. Policy, role, lock and key changes are the
// access trail's "who changed the controls" half, so they go to the same
// immutable log archive as the data-plane logs, and to Log Analytics for queries.
//   az deployment sub create -l <region> -f bicep/activity-log.bicep \
//     -p logArchiveAccountId=<logArchiveAccountId output> workspaceId=<workspaceId output>
// It is a separate file because main.bicep deploys to a resource group, and a
// subscription diagnostic setting needs subscription-level rights the group's
// deployer often does not hold (docs/deploy.md).

targetScope = 'subscription'

@description('Resource id of the log archive account (main.bicep output logArchiveAccountId).')
param logArchiveAccountId string

@description('Resource id of the Log Analytics workspace (main.bicep output workspaceId).')
param workspaceId string

// Every Activity Log category: the archive cannot know in advance which one a
// future investigation needs, and the volume is small.
var activityCategories = [
  'Administrative'
  'Security'
  'ServiceHealth'
  'Alert'
  'Recommendation'
  'Policy'
  'Autoscale'
  'ResourceHealth'
]

resource activityLogExport 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'wa-archive-activity-log'
  properties: {
    workspaceId: workspaceId
    storageAccountId: logArchiveAccountId
    logs: [for category in activityCategories: {
      category: category
      enabled: true
    }]
  }
}

output diagnosticSettingName string = activityLogExport.name

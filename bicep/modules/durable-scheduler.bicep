// Durable Task Scheduler (issue 14): the managed Durable Functions backend,
// deployed only when main.bicep's durableBackend is 'durableTaskScheduler'.
// One scheduler, one task hub named like host.json's hubName, and the app
// identity's data role on that task hub alone (not the scheduler, not the
// resource group). The app reaches it with its user-assigned identity
// (function-app.bicep builds the connection setting); no key exists.
// Properties: Azure/bicep-types-az generated/durabletask 2025-11-01 (GA).

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Scheduler name (3-64 letters, digits and dashes).')
@minLength(3)
@maxLength(64)
param schedulerName string

@description('Task hub name: the same as host.json extensions.durableTask.hubName (letters and digits).')
@minLength(3)
@maxLength(45)
param taskHubName string

@description('Consumption: billed per action, no capacity to size. Dedicated: billed per capacity unit (CU) per month.')
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string

@description('Capacity units of a Dedicated scheduler (ignored for Consumption).')
@minValue(1)
@maxValue(3)
param capacity int

@description('IPv4/IPv6 addresses or CIDR ranges allowed to reach the scheduler. The API requires the list but accepts it empty, and an empty list refuses every caller (403 even with the right role). Nothing here widens it: 0.0.0.0/0 is set only if the deployer passes it (docs/durable.md).')
param ipAllowlist array

@description('Principal id of the Function app identity.')
param appPrincipalId string

// Built-in role definition id (learn.microsoft.com "Azure built-in roles",
// Integration: Durable Task Data Contributor, the role "most Durable Functions
// apps require"). The app is a worker and a client too (it starts, queries,
// terminates and purges instances), so Durable Task Worker, meant for apps that
// only process work, is not enough.
var durableTaskDataContributor = '0ad04412-c4d5-4796-b79c-f76d14c8d402'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: schedulerName
  location: location
  tags: tags
  properties: {
    sku: (skuName == 'Dedicated') ? {
      name: skuName
      capacity: capacity
    } : {
      name: skuName
    }
    ipAllowlist: ipAllowlist
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

// Scoped to the task hub: a second hub on this scheduler stays out of reach.
resource appTaskHubAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskHub.id, appPrincipalId, durableTaskDataContributor)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// https://<name>-<hash>.<region>.durabletask.io, read from the resource (never built by hand).
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
output taskHubId string = taskHub.id

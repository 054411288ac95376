// Azure Communication Services Advanced Messaging -> the archive (issue 13), on an
// EXISTING Communication Services resource, in that resource's resource group:
// - an Event Grid system topic for the resource, and a subscription to the two
//   Advanced Messaging events, delivered to POST /api/webhooks/acs;
// - the app identity's role to download ACS media (GET {endpoint}/messages/streams/{id}).
//
// Delivery authentication: Entra ID (Event Grid attaches a bearer token for the
// `audience` application; the app checks it against ACS_WEBHOOK_AUDIENCE and
// ACS_WEBHOOK_TENANT_ID). The app's other mechanism, a `secret=` query parameter
// (acs-webhook-secret), is not set up here: the secret would pass through the
// template. Entra delivery also needs the Event Grid first-party app to hold the target
// application's AzureEventGridSecureWebhookSubscriber role: a Microsoft Graph step that
// Bicep cannot do (docs/providers.md).
//
// Event Grid validates the endpoint when the subscription is created, so deploy this
// only after the code is published and the secrets are set.

@description('Name of the existing Communication Services resource.')
param communicationServicesName string

@description('Name of the Event Grid system topic to create for it.')
param systemTopicName string

@description('Tags for the system topic.')
param tags object

@description('https URL of the app\'s /api/webhooks/acs route.')
param endpointUrl string

@description('Entra ID application (id or URI) Event Grid requests delivery tokens for.')
@minLength(1)
param audience string

@description('Entra ID tenant of that application.')
param tenantId string

@description('Delivery schema: CloudEvents 1.0 or the Event Grid schema (the app accepts both).')
@allowed([
  'CloudEventSchemaV1_0'
  'EventGridSchema'
])
param deliverySchema string

@description('Principal id of the Function app identity (downloads ACS media).')
param appPrincipalId string

// learn.microsoft.com "Advanced Messaging events" (Azure Communication Services as an
// Event Grid source): the two event types the archive keeps.
var eventTypes = [
  'Microsoft.Communication.AdvancedMessageReceived'
  'Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated'
]

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: communicationServicesName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  // Communication Services resources are global, and so are their system topics.
  location: 'global'
  tags: tags
  properties: {
    source: communication.id
    topicType: 'Microsoft.Communication.CommunicationServices'
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'wa-archive-advanced-messaging'
  properties: {
    eventDeliverySchema: deliverySchema
    filter: {
      includedEventTypes: eventTypes
    }
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: endpointUrl
        // One event per delivery keeps every body far below the app's size cap.
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
        azureActiveDirectoryTenantId: tenantId
        azureActiveDirectoryApplicationIdOrUri: audience
      }
    }
    // Event Grid's maximum: an outage of the archive up to a day loses nothing that
    // Event Grid accepted. (No dead-letter destination yet: see docs/providers.md.)
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

// Least privilege for media downloads: Microsoft's Entra ID quickstart for ACS grants
// Contributor, which includes listKeys (the resource's access keys). ACS documents no
// data actions, so this custom role holds the resource's read and write actions only
// (no keys, no delete, no role assignments). Uncertain: whether Advanced Messaging's
// media download needs write at all; drop it if downloads work without (a 403 shows up
// as a `media_unavailable` row, replayable once fixed).
resource mediaReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, communication.id, 'wa-archive-acs-media')
  properties: {
    roleName: 'WA Archive ACS Media Reader (${communicationServicesName})'
    description: 'Lets the WhatsApp archive download Advanced Messaging media by id; no access keys.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/CommunicationServices/Write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource mediaReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, appPrincipalId, mediaReaderRole.id)
  scope: communication
  properties: {
    roleDefinitionId: mediaReaderRole.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output systemTopicName string = systemTopic.name
output subscriptionName string = subscription.name

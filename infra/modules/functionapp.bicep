// The Function App on Flex Consumption (Linux, Node 22), running as the user-assigned identity. It reaches
// host storage, Key Vault, the data lake and Application Insights with that identity: no keys anywhere.
// On Flex the worker runtime and its version live in functionAppConfig.runtime, not in app settings.

@description('Name of the Function App (globally unique: it is the host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region.')
param location string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Blob endpoint of the host storage account, e.g. https://<account>.blob.core.windows.net/.')
param hostBlobEndpoint string

@description('Queue endpoint of the host storage account.')
param hostQueueEndpoint string

@description('Table endpoint of the host storage account.')
param hostTableEndpoint string

@description('Container in host storage that holds the deployed package.')
param deploymentContainerName string

@description('Name of the Application Insights component the app sends telemetry to.')
param appInsightsName string

@description('Key Vault URL holding the blocks (https://<vault>.vault.azure.net/).')
param keyVaultUrl string

@description('Block (secret) names, keyed by block type.')
param blockNames object

@description('NCRONTAB schedule of the weekly run (six fields, UTC).')
param schedule string

@description('Run the weekly timer. False sets AzureWebJobs.weeklyTimer.Disabled=true; HTTP backfills still work.')
param scheduleEnabled bool

@description('Comma-separated datasets the weekly timer runs.')
param datasets string

@description('Durable Functions task hub name.')
param taskHubName string

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Upper bound of instances the app scales out to.')
param maximumInstanceCount int

@description('Always-ready instances of the `durable` scale group (orchestration, activity and entity triggers).')
param durableAlwaysReadyInstances int

@description('Tags for the resources.')
param tags object = {}

@description('The azd service name in azure.yaml; azd finds the app by this tag.')
param azdServiceName string = 'functions'

// Read here rather than passed in, so the connection string is in no deployment output.
resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
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

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        // On Flex, all Durable triggers scale together as the `durable` group. No entry: it scales from zero.
        alwaysReady: durableAlwaysReadyInstances > 0 ? [
          {
            name: 'durable'
            instanceCount: durableAlwaysReadyInstances
          }
        ] : []
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Every setting the code reads (src/run/settings.ts, ALL_SETTINGS) with its production value, plus the host's
// own. test/infra/settings.test.ts checks this list against the code.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    AzureWebJobsStorage__blobServiceUri: hostBlobEndpoint
    AzureWebJobsStorage__queueServiceUri: hostQueueEndpoint
    AzureWebJobsStorage__tableServiceUri: hostTableEndpoint
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    AZURE_CLIENT_ID: identityClientId
    FUNCTIONS_NODE_BLOCK_ON_ENTRY_POINT_ERROR: 'true'
    'AzureWebJobs.weeklyTimer.Disabled': scheduleEnabled ? 'false' : 'true'
    BNT_STAGE: 'azure'
    BNT_WAREHOUSE: 'databricks'
    KEY_VAULT_URL: keyVaultUrl
    BNT_SCHEDULE: schedule
    BNT_DATASETS: datasets
    TASKHUB_NAME: taskHubName
    BNT_PURGE_AFTER_DAYS: '30'
    BNT_HEAL_WEEKS: '4'
    BLOCK_AZURE_CONTAINER: blockNames['azure-container']
    BLOCK_LAKEHOUSE_TABLE: blockNames['lakehouse-table']
    BLOCK_DATABRICKS_WAREHOUSE: blockNames['databricks-warehouse']
    BLOCK_SOCRATA_SOURCE: blockNames['socrata-source']
  }
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName

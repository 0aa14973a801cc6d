// Everything the BNT hourly traffic Functions app needs, in one resource group deployment: managed identities
// everywhere, no keys. Deploy with `azd up`, or `az deployment group create` with main.bicepparam
// (docs/deploy.md). What ARM cannot do — the Unity Catalog objects and the databricks-warehouse block — the
// post-provision hook (infra/hooks/postprovision.mjs) prints with the deployed names filled in.
targetScope = 'resourceGroup'

@description('Short environment name (e.g. prod); with the resource group it makes the resource names unique.')
@minLength(1)
@maxLength(32)
param environmentName string

// The regions that offer both Flex Consumption and Azure Databricks: the Flex regions the Flex quickstart
// template allows (Azure-Samples/functions-quickstart-typescript-azd, infra/main.bicep; the live list is
// `az functionapp list-flexconsumption-locations`), less those Azure Databricks is not in
// (learn.microsoft.com/azure/databricks/resources/supported-regions) and the canary eastus2euap.
@description('Azure region for every resource: one that offers Flex Consumption and Azure Databricks.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string = resourceGroup().location

@description('Object id of the user (or service principal) deploying, by default the one running the deployment. Gets Key Vault Secrets Officer so it can put blocks. Empty: no such role.')
param deployerPrincipalId string = deployer().objectId

@description('Key Vault purge protection. Irreversible once on; keeps the vault name reserved for 90 days after deletion.')
param enableKeyVaultPurgeProtection bool = false

@description('Memory per Function App instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// Flex Consumption's bounds: "The lowest maximum scale is currently 40. The highest currently supported value
// is 1000." (learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations, Scale).
@description('Upper bound of Function App instances the app scales out to: 40 to 1000 on Flex Consumption.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Always-ready instances of the Durable group (orchestrations and activities). Microsoft recommends 1 for Durable Functions on Flex Consumption; each instance is billed around the clock (docs/deploy.md). 0: the group scales from zero.')
@minValue(0)
@maxValue(40)
param durableAlwaysReadyInstances int = 0

@description('Comma-separated datasets the weekly timer runs (BNT_DATASETS).')
param datasets string = 'bnt-hourly-traffic,bnt-hourly-crossings'

@description('Day of week of the weekly run, UTC: 0 = Sunday, 1 = Monday, ... 6 = Saturday.')
@minValue(0)
@maxValue(6)
param scheduleDayOfWeek int = 1

@description('Hour of the weekly run, UTC (Flex Consumption runs timers in UTC; WEBSITE_TIME_ZONE is not supported).')
@minValue(0)
@maxValue(23)
param scheduleHourUtc int = 12

@description('Run the weekly timer. False turns only the timer off (AzureWebJobs.weeklyTimer.Disabled); backfills over HTTP still work.')
param scheduleEnabled bool = true

@description('Durable Functions task hub name (3-45 letters and digits, starting with a letter).')
@minLength(3)
@maxLength(45)
param taskHubName string = 'bnttraffic'

@description('Container in the data lake for staged files.')
param stageContainerName string = 'stage'

@description('Unity Catalog catalog of the loaded tables (lakehouse-table block). Empty: bnt_<token>, a catalog of this deployment that the post-provision setup creates, with managed storage in the data lake. Or an existing catalog with managed storage (a new workspace may have no `main` that has).')
param lakehouseCatalog string = ''

@description('Schema of the loaded tables (lakehouse-table block). The Unity Catalog setup creates it.')
param lakehouseSchema string = 'bronze'

@description('Table format (lakehouse-table block): iceberg (managed Iceberg) or delta-uniform.')
@allowed([
  'iceberg'
  'delta-uniform'
])
param lakehouseFormat string = 'iceberg'

@description('Name of the azure-container block (Key Vault secret); the app reads it from BLOCK_AZURE_CONTAINER.')
param azureContainerBlockName string = 'mtademo-container'

@description('Name of the lakehouse-table block; the app reads it from BLOCK_LAKEHOUSE_TABLE.')
param lakehouseTableBlockName string = 'mtademo-iceberg'

@description('Name of the databricks-warehouse block, put by hand after deployment; the app reads it from BLOCK_DATABRICKS_WAREHOUSE.')
param databricksWarehouseBlockName string = 'mtademo-databricks'

@description('Name of the optional socrata-source block (a Socrata app token); the app reads it from BLOCK_SOCRATA_SOURCE.')
param socrataSourceBlockName string = 'mtademo-socrata'

@description('Resource id of an existing Azure Databricks workspace (premium, Unity Catalog). Empty: create one.')
param existingDatabricksWorkspaceId string = ''

@description('Email address for alerts. Empty: the alerts fire but notify nobody.')
param alertEmail string = ''

@description('Days to keep logs (run summaries for the workbook and alerts).')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 90

@description('Tags for every resource.')
param tags object = {}

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var allTags = union(tags, { 'azd-env-name': environmentName })

var identityName = 'id-bnt-${resourceToken}'
var functionAppName = 'func-bnt-${resourceToken}'
var planName = 'plan-bnt-${resourceToken}'
var hostStorageName = 'stbnt${resourceToken}'
var dataLakeName = 'dlbnt${resourceToken}'
var keyVaultName = 'kv-bnt-${resourceToken}'
var logAnalyticsName = 'log-bnt-${resourceToken}'
var appInsightsName = 'appi-bnt-${resourceToken}'
var accessConnectorName = 'dbac-bnt-${resourceToken}'
var databricksWorkspaceName = 'dbw-bnt-${resourceToken}'
var deploymentContainerName = 'app-package'
var lakehouseContainerName = 'lakehouse'
// A plain SQL identifier (the lakehouse-table block accepts no other), unique per deployment: two environments
// in one region share a metastore.
var catalogName = empty(lakehouseCatalog) ? 'bnt_${resourceToken}' : lakehouseCatalog

// Block (secret) names by block type: the same map feeds the Key Vault secrets and the app's BLOCK_* settings.
var blockNames = {
  'azure-container': azureContainerBlockName
  'lakehouse-table': lakehouseTableBlockName
  'databricks-warehouse': databricksWarehouseBlockName
  'socrata-source': socrataSourceBlockName
}

var datasetList = map(split(datasets, ','), dataset => trim(dataset))

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: identityName
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: logAnalyticsName
    appInsightsName: appInsightsName
    location: location
    retentionInDays: logRetentionInDays
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    hostStorageName: hostStorageName
    dataLakeName: dataLakeName
    deploymentContainerName: deploymentContainerName
    stageContainerName: stageContainerName
    lakehouseContainerName: lakehouseContainerName
    location: location
    tags: allTags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: keyVaultName
    location: location
    enablePurgeProtection: enableKeyVaultPurgeProtection
    blockNames: blockNames
    dataLakeName: storage.outputs.dataLakeName
    stageContainerName: storage.outputs.stageContainerName
    lakehouseCatalog: catalogName
    lakehouseSchema: lakehouseSchema
    lakehouseFormat: lakehouseFormat
    tags: allTags
  }
}

module databricks 'modules/databricks.bicep' = {
  name: 'databricks'
  params: {
    accessConnectorName: accessConnectorName
    workspaceName: databricksWorkspaceName
    existingWorkspaceId: existingDatabricksWorkspaceId
    location: location
    tags: allTags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    functionPrincipalId: identity.outputs.principalId
    accessConnectorPrincipalId: databricks.outputs.accessConnectorPrincipalId
    deployerPrincipalId: deployerPrincipalId
    alertRulePrincipalIds: alerts.outputs.rulePrincipalIds
    hostStorageName: storage.outputs.hostStorageName
    dataLakeName: storage.outputs.dataLakeName
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: functionAppName
    planName: planName
    location: location
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostBlobEndpoint: storage.outputs.hostBlobEndpoint
    hostQueueEndpoint: storage.outputs.hostQueueEndpoint
    hostTableEndpoint: storage.outputs.hostTableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultUrl: keyVault.outputs.uri
    blockNames: blockNames
    schedule: '0 0 ${scheduleHourUtc} * * ${scheduleDayOfWeek}'
    scheduleEnabled: scheduleEnabled
    datasets: datasets
    taskHubName: taskHubName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    tags: allTags
  }
  // The host starts as soon as the app exists: let it find its storage, vault and telemetry roles in place.
  dependsOn: [
    roles
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    appInsightsId: monitoring.outputs.appInsightsId
    alertEmail: alertEmail
    datasets: datasetList
    scheduleDayOfWeek: scheduleDayOfWeek
    scheduleHourUtc: scheduleHourUtc
    scheduleEnabled: scheduleEnabled
    nameSuffix: resourceToken
    tags: allTags
  }
}

// Outputs become azd environment values (azd env get-values) and feed the post-provision hook. None is a secret.
output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output FUNCTION_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URL string = keyVault.outputs.uri
output DATA_LAKE_ACCOUNT_NAME string = storage.outputs.dataLakeName
output STAGE_CONTAINER_NAME string = storage.outputs.stageContainerName
output STAGE_ABFSS_URL string = storage.outputs.stageAbfssUrl
output LAKEHOUSE_ABFSS_URL string = storage.outputs.lakehouseAbfssUrl
output DATABRICKS_ACCESS_CONNECTOR_ID string = databricks.outputs.accessConnectorId
output DATABRICKS_WORKSPACE_ID string = databricks.outputs.workspaceId
output DATABRICKS_WORKSPACE_URL string = 'https://${databricks.outputs.workspaceHost}'
output LAKEHOUSE_CATALOG string = catalogName
output LAKEHOUSE_SCHEMA string = lakehouseSchema
output DATABRICKS_WAREHOUSE_BLOCK_NAME string = databricksWarehouseBlockName
output APPLICATION_INSIGHTS_NAME string = monitoring.outputs.appInsightsName
output RUNS_WORKBOOK_ID string = alerts.outputs.workbookId

// Two storage accounts, both without shared keys (every client signs in with Microsoft Entra ID):
//  - host storage for the Functions host and the Durable task hub (blobs, queues, tables), and the blob
//    container Flex Consumption deploys the app package from;
//  - the data lake (hierarchical namespace) whose `stage` container holds the staged JSON Lines files that
//    the Databricks SQL warehouse reads over abfss://, and whose `lakehouse` container is the managed storage
//    of the deployment's Unity Catalog catalog (the tables).

@description('Name of the Functions host storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param hostStorageName string

@description('Name of the data lake storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param dataLakeName string

@description('Blob container in the host storage account that holds the deployed app package.')
param deploymentContainerName string

@description('Container in the data lake for staged files.')
param stageContainerName string

@description('Container in the data lake for the managed storage of the deployment\'s Unity Catalog catalog.')
param lakehouseContainerName string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: hostStorageName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource hostBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource dataLake 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: dataLakeName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    isHnsEnabled: true
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource dataLakeBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: dataLake
  name: 'default'
}

resource stageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: dataLakeBlobService
  name: stageContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource lakehouseContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: dataLakeBlobService
  name: lakehouseContainerName
  properties: {
    publicAccess: 'None'
  }
}

output hostStorageName string = hostStorage.name
output hostBlobEndpoint string = hostStorage.properties.primaryEndpoints.blob
output hostQueueEndpoint string = hostStorage.properties.primaryEndpoints.queue
output hostTableEndpoint string = hostStorage.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
output dataLakeName string = dataLake.name
output stageContainerName string = stageContainer.name
// The URL Unity Catalog's external location and the warehouse's read_files use.
output stageAbfssUrl string = 'abfss://${stageContainer.name}@${dataLake.name}.dfs.${environment().suffixes.storage}/'
// Where the deployment's catalog keeps its managed tables (a catalog's MANAGED LOCATION).
output lakehouseAbfssUrl string = 'abfss://${lakehouseContainer.name}@${dataLake.name}.dfs.${environment().suffixes.storage}/'

// Key Vault in RBAC mode, and the two blocks that need nothing but deployment facts. A block is one secret:
// name = block name, value = the block's JSON document, tag `block-type` = its type (src/blocks/keyvault.ts).
// The documents below must pass the code's block schemas (src/blocks/types.ts); test/infra checks them.
// The databricks-warehouse block is put by hand after deployment (it names a SQL warehouse that Bicep
// does not create), and the optional socrata-source block holds a real secret, so neither is here.

@description('Name of the Key Vault (3-24 letters, digits and hyphens).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Turn on purge protection. Irreversible: the vault and its name stay reserved for the retention period after deletion.')
param enablePurgeProtection bool

@description('Block (secret) names, keyed by block type.')
param blockNames object

@description('Data lake account the azure-container block points at.')
param dataLakeName string

@description('Container for staged files, in the data lake.')
param stageContainerName string

@description('Unity Catalog catalog of the loaded tables.')
param lakehouseCatalog string

@description('Schema (inside the catalog) of the loaded tables.')
param lakehouseSchema string

@description('Table format: iceberg or delta-uniform.')
param lakehouseFormat string

@description('Tags for the vault.')
param tags object = {}

// The exact documents the block schemas accept: no other fields (the schemas are strict).
var azureContainerBlock = {
  accountName: dataLakeName
  container: stageContainerName
}

var lakehouseTableBlock = {
  catalog: lakehouseCatalog
  schema: lakehouseSchema
  format: lakehouseFormat
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The service refuses `false` once set, so leave the property out rather than send false.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

resource azureContainerSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: blockNames['azure-container']
  tags: {
    'block-type': 'azure-container'
  }
  properties: {
    value: string(azureContainerBlock)
    contentType: 'application/json'
  }
}

resource lakehouseTableSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: blockNames['lakehouse-table']
  tags: {
    'block-type': 'lakehouse-table'
  }
  properties: {
    value: string(lakehouseTableBlock)
    contentType: 'application/json'
  }
}

output name string = vault.name
// https://<name>.vault.azure.net/ — the form KEY_VAULT_URL takes.
output uri string = vault.properties.vaultUri

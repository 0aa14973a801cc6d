// Parameters for both deploy paths. azd compiles this file with the azd environment's values in the
// environment; `az deployment group create --parameters infra/main.bicepparam` compiles it with your shell's.
// Set a value with `azd env set NAME value`, or `export NAME=value` before az. Every other parameter keeps
// the default in main.bicep (edit it here to change one: `param lakehouseCatalog = 'analytics'`).
using './main.bicep'

// azd sets AZURE_ENV_NAME; on the az path it defaults to "bnt".
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'bnt')

// azd fills in the signed-in user's object id; on the az path:
//   export AZURE_PRINCIPAL_ID=$(az ad signed-in-user show --query id -o tsv)
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')

// Where alert emails go.
param alertEmail = readEnvironmentVariable('ALERT_EMAIL', '')

// An existing premium workspace to use instead of creating one (its full resource id).
param existingDatabricksWorkspaceId = readEnvironmentVariable('DATABRICKS_WORKSPACE_RESOURCE_ID', '')

// The Unity Catalog catalog the table goes into. New workspaces may have no `main` catalog; name one that exists.
param lakehouseCatalog = readEnvironmentVariable('LAKEHOUSE_CATALOG', 'main')

// Always-ready instances of the Durable group: Microsoft recommends 1 on Flex Consumption; it costs a baseline
// around the clock (docs/deploy.md, "Durable Functions on Flex Consumption").
param durableAlwaysReadyInstances = int(readEnvironmentVariable('DURABLE_ALWAYS_READY_INSTANCES', '0'))

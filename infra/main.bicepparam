// Parameters for both deploy paths. azd compiles this file with the azd environment's values in the
// environment; `az deployment group create --parameters infra/main.bicepparam` compiles it with your shell's.
// Set a value with `azd env set NAME value`, or `export NAME=value` before az. Every other parameter keeps
// the default in main.bicep (edit it here to change one: `param lakehouseCatalog = 'analytics'`).
using './main.bicep'

// azd sets AZURE_ENV_NAME; on the az path it defaults to "bnt".
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'bnt')

// deployerPrincipalId is whoever runs the deployment (deployer().objectId in main.bicep), on both paths.

// Where alert emails go.
param alertEmail = readEnvironmentVariable('ALERT_EMAIL', '')

// An existing premium workspace to use instead of creating one (its full resource id).
param existingDatabricksWorkspaceId = readEnvironmentVariable('DATABRICKS_WORKSPACE_RESOURCE_ID', '')

// The Unity Catalog catalog the table goes into. Unset: one of the deployment's own, bnt_<token>, which the
// post-provision setup creates with managed storage (a new workspace may have no `main` that has managed storage).
param lakehouseCatalog = readEnvironmentVariable('LAKEHOUSE_CATALOG', '')

// Always-ready instances of the Durable group: Microsoft recommends 1 on Flex Consumption; it costs a baseline
// around the clock (docs/deploy.md, "Durable Functions on Flex Consumption").
param durableAlwaysReadyInstances = int(readEnvironmentVariable('DURABLE_ALWAYS_READY_INSTANCES', '0'))

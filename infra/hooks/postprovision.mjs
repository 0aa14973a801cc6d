#!/usr/bin/env node
// Prints the one-time Unity Catalog setup and the databricks-warehouse block command, with the deployed names
// filled in. ARM cannot create Unity Catalog objects, and the SQL warehouse is chosen by hand, so these steps
// are printed rather than run.
//
//   azd runs it after `azd provision` / `azd up`, with the deployment outputs in the environment.
//   After `az deployment group create`, run it on the outputs:
//     az deployment group show -g <rg> -n <deployment> --query properties.outputs > outputs.json
//     node infra/hooks/postprovision.mjs --outputs outputs.json
//
// Plain Node (no dependencies, no build): it runs before `npm ci` on a fresh clone.
import { readFileSync } from 'node:fs';

const REQUIRED = [
  'AZURE_FUNCTION_APP_NAME',
  'FUNCTION_IDENTITY_CLIENT_ID',
  'KEY_VAULT_URL',
  'DATA_LAKE_ACCOUNT_NAME',
  'STAGE_ABFSS_URL',
  'LAKEHOUSE_ABFSS_URL',
  'DATABRICKS_ACCESS_CONNECTOR_ID',
  'DATABRICKS_WORKSPACE_URL',
  'LAKEHOUSE_CATALOG',
  'LAKEHOUSE_SCHEMA',
  'DATABRICKS_WAREHOUSE_BLOCK_NAME',
];

/** Deployment outputs as NAME → value: from `--outputs FILE` (az's `{ NAME: { type, value } }`), else the environment. */
function readValues(argv, env) {
  const at = argv.indexOf('--outputs');
  if (at === -1) return env;
  const file = argv[at + 1];
  if (file === undefined)
    throw new Error('--outputs needs a file: the JSON of `az deployment group show --query properties.outputs`');
  const outputs = JSON.parse(readFileSync(file, 'utf8'));
  const values = {};
  for (const [name, output] of Object.entries(outputs)) {
    // ARM keeps the output names' case; azd upper-cases them. Accept either.
    values[name.toUpperCase()] = typeof output === 'object' && output !== null ? String(output.value) : String(output);
  }
  return values;
}

function setupText(values) {
  const v = Object.fromEntries(REQUIRED.map((name) => [name, values[name]]));
  const clientId = v.FUNCTION_IDENTITY_CLIENT_ID;
  const workspaceHost = v.DATABRICKS_WORKSPACE_URL.replace(/^https:\/\//, '').replace(/\/$/, '');
  // Names unique per data lake account: one storage credential, an external location per container.
  const credential = v.DATA_LAKE_ACCOUNT_NAME;
  const location = `${v.DATA_LAKE_ACCOUNT_NAME}_stage`;
  const lakehouseLocation = `${v.DATA_LAKE_ACCOUNT_NAME}_lakehouse`;
  const catalog = v.LAKEHOUSE_CATALOG;
  // A folder per catalog under the lakehouse location, so more catalogs could share the container.
  const managedLocation = `${v.LAKEHOUSE_ABFSS_URL.replace(/\/?$/, '/')}${catalog}`;
  const schema = `${catalog}.${v.LAKEHOUSE_SCHEMA}`;
  const credentialJson = JSON.stringify({
    name: credential,
    azure_managed_identity: { access_connector_id: v.DATABRICKS_ACCESS_CONNECTOR_ID },
  });
  const permissionsJson = JSON.stringify({
    access_control_list: [{ service_principal_name: clientId, permission_level: 'CAN_USE' }],
  });
  return `
Unity Catalog setup for ${v.AZURE_FUNCTION_APP_NAME} — once, as a metastore admin (docs/deploy.md, step "Connect Databricks").

1. Sign the Databricks CLI in to the workspace:

   databricks auth login --host ${v.DATABRICKS_WORKSPACE_URL}

2. A storage credential from the access connector (it has Storage Blob Data Contributor on ${v.DATA_LAKE_ACCOUNT_NAME}):

   databricks storage-credentials create --json '${credentialJson}'

3. The Function App's managed identity as a workspace service principal:

   databricks service-principals create --application-id ${clientId} --display-name ${v.AZURE_FUNCTION_APP_NAME}

4. In a SQL editor of the workspace: external locations over the stage and over the catalog's managed storage,
   the catalog ${catalog} (kept if it exists), its schema, and the grants:

   CREATE EXTERNAL LOCATION IF NOT EXISTS ${location}
     URL '${v.STAGE_ABFSS_URL}'
     WITH (STORAGE CREDENTIAL ${credential})
     COMMENT 'Staged MTA Bridges & Tunnels traffic (JSON Lines)';
   CREATE EXTERNAL LOCATION IF NOT EXISTS ${lakehouseLocation}
     URL '${v.LAKEHOUSE_ABFSS_URL}'
     WITH (STORAGE CREDENTIAL ${credential})
     COMMENT 'Managed storage of the ${catalog} catalog';
   CREATE CATALOG IF NOT EXISTS ${catalog}
     MANAGED LOCATION '${managedLocation}'
     COMMENT 'MTA Bridges & Tunnels traffic';
   CREATE SCHEMA IF NOT EXISTS ${schema};
   GRANT READ FILES ON EXTERNAL LOCATION ${location} TO \`${clientId}\`;
   GRANT USE CATALOG ON CATALOG ${catalog} TO \`${clientId}\`;
   GRANT USE SCHEMA, CREATE TABLE, SELECT, MODIFY ON SCHEMA ${schema} TO \`${clientId}\`;

5. Let the identity use your SQL warehouse (SQL Warehouses → your warehouse → Connection details: the id is
   the last part of the HTTP path):

   databricks warehouses update-permissions <warehouse-id> --json '${permissionsJson}'

6. Put the databricks-warehouse block into Key Vault (from the repository, after npm ci; .local/ is neither
   committed nor deployed):

   mkdir -p .local
   echo '{ "host": "${workspaceHost}", "httpPath": "/sql/1.0/warehouses/<warehouse-id>", "auth": { "type": "entra" } }' > .local/warehouse.json
   npm run blocks -- put ${v.DATABRICKS_WAREHOUSE_BLOCK_NAME} --type databricks-warehouse --file .local/warehouse.json --vault-url ${v.KEY_VAULT_URL}

Then start a first backfill: docs/deploy.md, step "First backfill".
`;
}

function main() {
  let values;
  try {
    values = readValues(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`postprovision: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const missing = REQUIRED.filter((name) => !values[name]);
  if (missing.length > 0) {
    process.stderr.write(
      `postprovision: missing deployment outputs: ${missing.join(', ')}. Run it after a deployment of infra/main.bicep ` +
        '(azd provision, or --outputs with the JSON of `az deployment group show --query properties.outputs`).\n',
    );
    return 1;
  }
  process.stdout.write(setupText(values));
  return 0;
}

process.exitCode = main();

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { validateBlock } from '../../src/blocks/types';
import { SQL_IDENTIFIER } from '../../src/common/names';
import { ROOT, SAMPLE_UNIQUE_STRING, moduleParams, outputs, params, read, resolveValue } from './bicep-text';

const HOOK = join(ROOT, 'infra/hooks/postprovision.mjs');

/** Deployment outputs as azd puts them in the hook's environment. */
const deployed: Record<string, string> = {
  AZURE_FUNCTION_APP_NAME: 'func-bnt-q7w3e9r1t5y2u',
  FUNCTION_IDENTITY_CLIENT_ID: '0b7c5d52-8a4f-4f44-9d0c-6f3e2a1b9c8d',
  KEY_VAULT_URL: 'https://kv-bnt-q7w3e9r1t5y2u.vault.azure.net/',
  DATA_LAKE_ACCOUNT_NAME: 'dlbntq7w3e9r1t5y2u',
  STAGE_ABFSS_URL: 'abfss://stage@dlbntq7w3e9r1t5y2u.dfs.core.windows.net/',
  LAKEHOUSE_ABFSS_URL: 'abfss://lakehouse@dlbntq7w3e9r1t5y2u.dfs.core.windows.net/',
  DATABRICKS_ACCESS_CONNECTOR_ID:
    '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-bnt/providers/Microsoft.Databricks/accessConnectors/dbac-bnt-q7w3e9r1t5y2u',
  DATABRICKS_WORKSPACE_URL: 'https://adb-1234567890123456.7.azuredatabricks.net',
  LAKEHOUSE_CATALOG: 'bnt_q7w3e9r1t5y2u',
  LAKEHOUSE_SCHEMA: 'bronze',
  DATABRICKS_WAREHOUSE_BLOCK_NAME: 'mtademo-databricks',
};

function runHook(args: string[], env: Record<string, string>) {
  // Only PATH from this process: the hook must not depend on anything else in the environment.
  return spawnSync(process.execPath, [HOOK, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });
}

const scratch = mkdtempSync(join(tmpdir(), 'bnt-infra-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('post-provision hook', () => {
  it('reads only outputs that main.bicep declares', () => {
    const required = /const REQUIRED = \[([\s\S]*?)\];/.exec(read('infra/hooks/postprovision.mjs'))?.[1];
    assert.ok(required);
    const names = [...required.matchAll(/'(\w+)'/g)].map((m) => m[1]!);
    assert.deepEqual(names.sort(), Object.keys(deployed).sort());
    const declared = outputs(read('infra/main.bicep'));
    for (const name of names) assert.ok(declared.has(name), `main.bicep outputs ${name}`);
  });

  it('prints the Unity Catalog commands with the deployed names filled in', () => {
    const result = runHook([], deployed);
    assert.equal(result.status, 0, result.stderr);
    const text = result.stdout;
    const clientId = deployed.FUNCTION_IDENTITY_CLIENT_ID!;
    assert.ok(text.includes(`databricks auth login --host ${deployed.DATABRICKS_WORKSPACE_URL}`));
    assert.ok(text.includes(`"access_connector_id":"${deployed.DATABRICKS_ACCESS_CONNECTOR_ID}"`));
    assert.ok(text.includes(`databricks service-principals create --application-id ${clientId}`));
    assert.ok(text.includes(`"name":"dlbntq7w3e9r1t5y2u","azure_managed_identity"`));
    assert.ok(text.includes(`URL '${deployed.STAGE_ABFSS_URL}'`));
    assert.ok(text.includes(`URL '${deployed.LAKEHOUSE_ABFSS_URL}'`));
    assert.equal(text.split('WITH (STORAGE CREDENTIAL dlbntq7w3e9r1t5y2u)').length - 1, 2, 'both locations');
    // The deployment's own catalog, with managed storage it provisioned: a new workspace may have no `main`.
    assert.ok(
      text.includes(
        `CREATE CATALOG IF NOT EXISTS bnt_q7w3e9r1t5y2u\n     MANAGED LOCATION '${deployed.LAKEHOUSE_ABFSS_URL}bnt_q7w3e9r1t5y2u'`,
      ),
    );
    assert.ok(text.includes('CREATE SCHEMA IF NOT EXISTS bnt_q7w3e9r1t5y2u.bronze;'));
    assert.ok(text.includes(`GRANT READ FILES ON EXTERNAL LOCATION dlbntq7w3e9r1t5y2u_stage TO \`${clientId}\`;`));
    assert.ok(text.includes(`GRANT USE CATALOG ON CATALOG bnt_q7w3e9r1t5y2u TO \`${clientId}\`;`));
    assert.ok(
      text.includes(
        `GRANT USE SCHEMA, CREATE TABLE, SELECT, MODIFY ON SCHEMA bnt_q7w3e9r1t5y2u.bronze TO \`${clientId}\`;`,
      ),
    );
    assert.doesNotMatch(text, /\bmain\b/);
    assert.ok(text.includes(`"service_principal_name":"${clientId}","permission_level":"CAN_USE"`));
    assert.ok(
      text.includes(
        `npm run blocks -- put mtademo-databricks --type databricks-warehouse --file .local/warehouse.json --vault-url ${deployed.KEY_VAULT_URL}`,
      ),
    );
    assert.doesNotMatch(text, /undefined|null/);
  });

  it('prints a databricks-warehouse block the code accepts once the warehouse id is filled in', () => {
    const text = runHook([], deployed).stdout;
    const json = /echo '(\{.*\})' > \.local\/warehouse\.json/.exec(text)?.[1];
    assert.ok(json, 'an echo line writes .local/warehouse.json');
    const document = JSON.parse(json.replace('<warehouse-id>', 'abcdef1234567890')) as unknown;
    assert.doesNotThrow(() => validateBlock('databricks-warehouse', document));
  });

  it('reads the outputs of `az deployment group show` on the az path', () => {
    const file = join(scratch, 'outputs.json');
    // ARM's shape: { name: { type, value } }, names as declared.
    writeFileSync(
      file,
      JSON.stringify(Object.fromEntries(Object.entries(deployed).map(([k, v]) => [k, { type: 'String', value: v }]))),
    );
    const result = runHook(['--outputs', file], {});
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, runHook([], deployed).stdout);
  });

  it('names the missing outputs and fails when run without a deployment', () => {
    const { KEY_VAULT_URL: _, ...rest } = deployed;
    const result = runHook([], rest);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /missing deployment outputs: KEY_VAULT_URL/);
    assert.equal(result.stdout, '');
  });

  it('gets the abfss URLs and data lake name the Bicep outputs', () => {
    const lake = resolveValue('storage.outputs.dataLakeName');
    assert.equal(resolveValue('storage.outputs.stageAbfssUrl'), `abfss://stage@${lake}.dfs.core.windows.net/`);
    assert.equal(resolveValue('storage.outputs.lakehouseAbfssUrl'), `abfss://lakehouse@${lake}.dfs.core.windows.net/`);
  });

  it('prints the catalog the deployment wrote into the lakehouse-table block: its own, bnt_<token>, by default', () => {
    const catalog = resolveValue(outputs(read('infra/main.bicep')).get('LAKEHOUSE_CATALOG')!.value);
    assert.equal(catalog, `bnt_${SAMPLE_UNIQUE_STRING}`);
    assert.match(catalog, SQL_IDENTIFIER);
    assert.equal(moduleParams(read('infra/main.bicep'), 'keyVault').get('lakehouseCatalog'), 'catalogName');
    assert.equal(params(read('infra/main.bicep')).get('lakehouseCatalog')?.defaultValue, "''");
  });
});

describe('azure.yaml', () => {
  const yaml = read('azure.yaml');

  it('deploys the project as a TypeScript function app from infra/main', () => {
    assert.match(yaml, /^\s+path: infra$/m);
    assert.match(yaml, /^\s+module: main$/m);
    assert.match(yaml, /^\s+project: \.$/m);
    assert.match(yaml, /^\s+language: ts$/m);
    assert.match(yaml, /^\s+host: function$/m);
  });

  it('runs the post-provision hook, and no package hook (azd builds the deploy folder itself)', () => {
    assert.doesNotMatch(yaml, /prepackage:/);
    assert.match(yaml, /postprovision:\n\s+posix:\n\s+shell: sh\n\s+run: node infra\/hooks\/postprovision\.mjs$/m);
  });

  it('names the service as the Function App is tagged', () => {
    const service = /^services:\n {2}(\w+):$/m.exec(yaml)?.[1];
    assert.ok(service);
    assert.match(
      read('infra/modules/functionapp.bicep'),
      new RegExp(`^param azdServiceName string = '${service}'$`, 'm'),
    );
  });
});

describe('docs/deploy.md', () => {
  const docs = read('docs/deploy.md');

  it('addresses the app by the FUNCTION_APP_URL output, never by a host name it puts together', () => {
    assert.ok(outputs(read('infra/main.bicep')).has('FUNCTION_APP_URL'));
    assert.doesNotMatch(docs, /azurewebsites\.net/);
    assert.match(docs, /curl -X POST "\$URL\/api\/backfill/);
    assert.match(docs, /properties\.outputs\.FUNCTION_APP_URL\.value/);
    assert.match(docs, /azd env get-value FUNCTION_APP_URL/);
  });

  it('publishes with func from the deploy folder, and warns that func start fetches the extension bundle once', () => {
    assert.match(docs, /\(cd deploy && func azure functionapp publish "\$APP"\)/);
    assert.doesNotMatch(docs, /npm prune/);
    assert.match(
      docs,
      /first run `func start`\s+downloads the Functions extension bundle[\s\S]{0,120}?needs\s+internet access/,
    );
  });
});

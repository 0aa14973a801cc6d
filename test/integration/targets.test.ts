import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { KeyVaultBlockStore } from '../../src/blocks/keyvault';
import { LocalBlockStore } from '../../src/blocks/store';
import { main } from '../../src/cli/pipeline';
import { type Azurite, startAzurite } from '../support/azurite';
import { lastJsonLine, runInProcess } from '../support/cli';
import { DatabricksStandIn } from '../support/databricks-standin';
import { TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type KeyVaultStandIn, secretClientOptions, startKeyVaultStandIn } from '../support/keyvault-standin';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const WEEK = ['--start-date', '2024-01-07', '--stop-date', '2024-01-14'];
const CONTAINER_BLOCK = { accountName: 'mtademostage', container: 'staging' };
const TABLE_BLOCK = { catalog: 'main', schema: 'bronze', format: 'iceberg' } as const;
const WAREHOUSE_BLOCK = {
  host: 'adb-1234567890123456.7.azuredatabricks.net',
  httpPath: '/sql/1.0/warehouses/abc123',
  auth: { type: 'entra' },
} as const;

describe('targets: stage and warehouse chosen by flags, settings and blocks', () => {
  let server: SocrataTestServer;
  let azurite: Azurite;
  let vault: KeyVaultStandIn;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  let cwd: string;

  before(async () => {
    [server, azurite, vault] = await Promise.all([
      startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2024-01-07', '2024-01-14') } }),
      startAzurite(),
      startKeyVaultStandIn(),
    ]);
  });
  after(async () => {
    await Promise.all([server.close(), azurite.stop(), vault.close()]);
  });
  beforeEach(async () => {
    await directory?.remove();
    directory = await temporaryDirectory();
    cwd = directory.path;
  });

  async function putLocalBlocks(blocks: Record<string, [string, unknown]>) {
    const store = new LocalBlockStore(join(cwd, '.local'));
    for (const [name, [type, document]] of Object.entries(blocks))
      await store.put(name, type as never, document as never);
  }

  const databricksBlocks = {
    'mtademo-container': ['azure-container', CONTAINER_BLOCK],
    'mtademo-iceberg': ['lakehouse-table', TABLE_BLOCK],
    'mtademo-databricks': ['databricks-warehouse', WAREHOUSE_BLOCK],
  } satisfies Record<string, [string, unknown]>;

  test('plan --stage azure --warehouse databricks prints injection-safe Databricks SQL from local blocks, touching nothing', async () => {
    await putLocalBlocks(databricksBlocks);
    const blocksBefore = await readFile(join(cwd, '.local', 'blocks.json'), 'utf8');
    const result = await runInProcess(
      main,
      ['plan', ...WEEK, '--stage', 'azure', '--warehouse', 'databricks', '--json'],
      { cwd },
    );
    assert.equal(result.code, 0, result.stderr);
    const plan = lastJsonLine(result.stdout) as {
      window: unknown;
      stagePaths: string[];
      statements: string[];
      table: string;
    };
    assert.deepEqual(plan.window, { start: '2024-01-07', stop: '2024-01-14' });
    assert.equal(plan.table, '`main`.`bronze`.`bnt_traffic_hourly`');
    assert.deepEqual(plan.stagePaths, [
      'https://mtademostage.blob.core.windows.net/staging/stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl',
      'https://mtademostage.blob.core.windows.net/staging/stage/bnt-hourly-traffic/2024-01-07_2024-01-14/_quarantine.jsonl',
      'https://mtademostage.blob.core.windows.net/staging/stage/bnt-hourly-traffic/2024-01-07_2024-01-14/_manifest.json',
    ]);
    assert.equal(plan.statements.length, 6);
    assert.deepEqual(plan.statements.slice(4), [
      'SET STATEMENT_TIMEOUT = 300',
      "SELECT COUNT(*) AS row_count FROM `main`.`bronze`.`bnt_traffic_hourly` WHERE `date` >= DATE '2024-01-07' AND `date` < DATE '2024-01-14'",
    ]);
    assert.equal(plan.statements[0], 'SET STATEMENT_TIMEOUT = 300', 'DDL and counts get 5 minutes');
    assert.equal(plan.statements[2], 'SET STATEMENT_TIMEOUT = 1800', 'a load gets 30');
    assert.match(
      plan.statements[1] ?? '',
      /^CREATE TABLE IF NOT EXISTS `main`\.`bronze`\.`bnt_traffic_hourly` .* USING ICEBERG PARTITIONED BY \(`date`\)$/,
    );
    assert.match(
      plan.statements[3] ?? '',
      /read_files\('abfss:\/\/staging@mtademostage\.dfs\.core\.windows\.net\/stage\/bnt-hourly-traffic\/2024-01-07_2024-01-14\/part-00000\.jsonl'/,
    );
    assert.match(
      result.stderr,
      /MERGE INTO `main`\.`bronze`\.`bnt_traffic_hourly` AS target/,
      'the readable plan goes to stderr with --json',
    );
    assert.deepEqual(await readdir(join(cwd, '.local')), ['blocks.json'], 'no stage directory and no DuckDB file');
    assert.equal(await readFile(join(cwd, '.local', 'blocks.json'), 'utf8'), blocksBefore);
    assert.equal(server.requests.length, 0, 'the source was not asked');
  });

  test('plan on the embedded defaults shows DuckDB SQL over the local stage and creates nothing', async () => {
    const result = await runInProcess(main, ['plan', ...WEEK], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /CREATE TABLE IF NOT EXISTS bronze\.bnt_traffic_hourly \("plaza_id" VARCHAR/);
    assert.match(
      result.stdout,
      new RegExp(
        `read_json\\(\\['${join(cwd, '.local')}/stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000\\.jsonl'\\]`,
      ),
    );
    assert.match(result.stdout, /\$where=date >= '2024-01-07T00:00:00' AND date < '2024-01-14T00:00:00'/);
    assert.ok(!existsSync(join(cwd, '.local')));
    const { statements } = lastJsonLine((await runInProcess(main, ['plan', ...WEEK, '--json'], { cwd })).stdout) as {
      statements: string[];
    };
    assert.equal(
      statements[0],
      "SET disabled_optimizers = 'top_n_window_elimination'",
      'connection setup comes once, first',
    );
    assert.equal(statements.filter((statement) => statement.startsWith('SET ')).length, 7);
    assert.match(statements.at(-2) ?? '', /^SELECT COUNT\(\*\) AS row_count FROM bronze\.bnt_traffic_hourly/);
    assert.equal(statements.at(-1), 'CHECKPOINT');
  });

  test('plan lists what goes out first: the count, and as many pages as the dataset’s estimate surely fills', async () => {
    const firstRequests = async (args: string[]) => {
      const result = await runInProcess(main, ['plan', ...args, '--json'], { cwd });
      assert.equal(result.code, 0, result.stderr);
      const { sourceRequests } = lastJsonLine(result.stdout) as { sourceRequests: string[] };
      return sourceRequests.map((url) => new URL(url).searchParams.get('$offset') ?? 'count');
    };
    assert.deepEqual(await firstRequests(WEEK), ['count', '0'], 'a week (3,360 rows) is one page');
    const twoYears = ['--start-date', '2022-01-01', '--stop-date', '2024-01-01'];
    // 730 days × 480 rows: half of it fills three pages; with 4 in flight, the count takes the fourth slot.
    assert.deepEqual(await firstRequests(twoYears), ['count', '0', '50000', '100000']);
    assert.deepEqual(await firstRequests([...twoYears, '--pages-in-flight', '2']), ['count', '0']);
    assert.equal(server.requests.length, 0, 'the source was not asked');
  });

  test('a block edited by hand to smuggle SQL into an identifier is refused on read, naming the block and field', async () => {
    await putLocalBlocks(databricksBlocks);
    const file = join(cwd, '.local', 'blocks.json');
    const blocks = JSON.parse(await readFile(file, 'utf8'));
    blocks['mtademo-iceberg'].document.catalog = 'main; DROP TABLE x';
    await writeFile(file, JSON.stringify(blocks));
    const result = await runInProcess(main, ['plan', ...WEEK, '--stage', 'azure', '--warehouse', 'databricks'], {
      cwd,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /block "mtademo-iceberg" .* is not a valid lakehouse-table block: catalog/);
    assert.ok(!result.stdout.includes('DROP TABLE'));
  });

  test('the databricks warehouse implies the azure stage, and a missing block says which and how to create it', async () => {
    const result = await runInProcess(main, ['plan', ...WEEK, '--warehouse', 'databricks'], { cwd });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /block "mtademo-container" .* does not exist; create it with: npm run blocks -- put mtademo-container --type azure-container/,
    );
  });

  test('the databricks warehouse over a local stage is refused with the reason, as a usage error', async () => {
    await putLocalBlocks(databricksBlocks);
    const result = await runInProcess(main, ['plan', ...WEEK, '--warehouse', 'databricks', '--stage', 'local'], {
      cwd,
    });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /--stage local cannot go with the databricks warehouse: Databricks reads the staged files from Azure storage itself; use the azure stage/,
    );
  });

  test('an unknown stage or warehouse is a usage error naming the flag or setting', async () => {
    const flag = await runInProcess(main, ['plan', ...WEEK, '--stage', 'ftp'], { cwd });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--stage/);
    const setting = await runInProcess(main, ['plan', ...WEEK], { cwd, env: { BNT_WAREHOUSE: 'snowflake' } });
    assert.equal(setting.code, 2);
    assert.match(setting.stderr, /BNT_WAREHOUSE "snowflake" must be one of duckdb, databricks/);
  });

  test('an app token given on the command line means no block is read for it, even with a vault configured', async () => {
    vault.requests.length = 0;
    const result = await runInProcess(main, ['plan', ...WEEK, '--app-token', 'abc'], {
      cwd,
      env: { KEY_VAULT_URL: vault.vaultUrl },
      deps: { credential: vault.credential, keyVaultClientOptions: secretClientOptions(vault) },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(vault.requests, [], 'the vault was never asked');
    assert.ok(!result.stdout.includes('abc') && !result.stderr.includes('abc'), 'the token is not printed');
  });

  test('a socrata-source block that is there but invalid fails the command instead of dropping the token', async () => {
    await putLocalBlocks({ 'mtademo-socrata': ['socrata-source', { appToken: 'valid-token' }] });
    const file = join(cwd, '.local', 'blocks.json');
    const blocks = JSON.parse(await readFile(file, 'utf8'));
    blocks['mtademo-socrata'].document.appToken = 'two words';
    await writeFile(file, JSON.stringify(blocks));
    const result = await runInProcess(main, ['plan', ...WEEK], { cwd });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /block "mtademo-socrata" .* is not a valid socrata-source block: appToken/);
    assert.ok(!result.stderr.includes('two words'), 'the refused secret is not repeated');
  });

  test('a SAS connection string for the stage never shows its signature in the plan', async () => {
    await putLocalBlocks(databricksBlocks);
    const sas = `BlobEndpoint=${azurite.blobEndpoint};SharedAccessSignature=sv=2024-01-01&ss=b&sig=TOPSECRETSIGNATURE`;
    const result = await runInProcess(main, ['plan', ...WEEK, '--warehouse', 'databricks', '--json'], {
      cwd,
      env: { BNT_STAGE_CONNECTION_STRING: sas },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes('TOPSECRETSIGNATURE') && !result.stderr.includes('TOPSECRETSIGNATURE'));
    assert.match(
      String((lastJsonLine(result.stdout).stagePaths as string[])[0]),
      new RegExp(`^${azurite.blobEndpoint}/staging/stage/`),
    );
  });

  test('block names follow their settings', async () => {
    await putLocalBlocks({
      'prod-container': ['azure-container', CONTAINER_BLOCK],
      'mtademo-iceberg': ['lakehouse-table', TABLE_BLOCK],
      'mtademo-databricks': ['databricks-warehouse', WAREHOUSE_BLOCK],
    });
    const result = await runInProcess(main, ['plan', ...WEEK, '--stage', 'azure', '--warehouse', 'databricks'], {
      cwd,
      env: { BLOCK_AZURE_CONTAINER: 'prod-container' },
    });
    assert.equal(result.code, 0, result.stderr);
  });

  test('run on Azurite + Databricks executes exactly the statements plan printed, and the token never shows', async () => {
    const warehouse = await DatabricksStandIn.start();
    after(() => warehouse.close());
    await putLocalBlocks({
      ...databricksBlocks,
      'mtademo-databricks': [
        'databricks-warehouse',
        { ...WAREHOUSE_BLOCK, host: warehouse.host, httpPath: warehouse.httpPath },
      ],
      'mtademo-socrata': ['socrata-source', { appToken: 'app-token-from-block' }],
    });
    const env = {
      BNT_STAGE_CONNECTION_STRING: azurite.connectionString,
      BNT_SOURCE_URL: server.baseUrl,
    };
    const flags = [...WEEK, '--stage', 'azure', '--warehouse', 'databricks', '--json'];
    warehouse.onStatement(/^SELECT COUNT/, { rows: [{ row_count: 3360 }] });
    const scopes: (string | string[])[] = [];
    const credential = {
      async getToken(scope: string | string[]) {
        scopes.push(scope);
        return { token: 'entra-token-xyz', expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };

    const planned = await runInProcess(main, ['plan', ...flags], { cwd, env });
    const ran = await runInProcess(main, ['run', ...flags], {
      cwd,
      env,
      deps: { databricksConnect: warehouse.connector(), credential },
    });
    assert.equal(ran.code, 0, ran.stderr);
    const { statements } = lastJsonLine(planned.stdout) as { statements: string[] };
    assert.deepEqual(
      warehouse.statements.map((recorded) => recorded.statement),
      statements,
    );
    assert.equal(lastJsonLine(ran.stdout).rowsInWindow, 3360);
    // One session each for CREATE, MERGE and the count, all signed in with the Entra token.
    assert.equal(warehouse.sessions.length, 3);
    assert.deepEqual(warehouse.tokens, ['entra-token-xyz']);
    assert.ok(scopes.length >= 3 && scopes.every((scope) => scope === '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default'));
    assert.equal(
      server.requests.at(-1)?.headers['x-app-token'],
      'app-token-from-block',
      'the socrata-source block supplies the app token',
    );
    for (const output of [ran.stdout, ran.stderr]) {
      assert.ok(!output.includes('entra-token-xyz') && !output.includes('app-token-from-block'));
    }

    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('staging');
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: 'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/' }))
      names.push(blob.name);
    assert.deepEqual(names.sort(), [
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/_manifest.json',
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl',
    ]);
  });

  test('a run stopped by its signal (SIGTERM on the command line) cancels the MERGE on Databricks and closes the session', async () => {
    const warehouse = await DatabricksStandIn.start();
    after(() => warehouse.close());
    await putLocalBlocks({
      ...databricksBlocks,
      'mtademo-databricks': [
        'databricks-warehouse',
        { ...WAREHOUSE_BLOCK, host: warehouse.host, httpPath: warehouse.httpPath },
      ],
    });
    warehouse.onStatement(/^MERGE/, { runningUntil: () => false });
    const controller = new AbortController();
    let stderr = '';
    const running = main(
      ['run', ...WEEK, '--stage', 'azure', '--warehouse', 'databricks'],
      {
        stdout: () => undefined,
        stderr: (text) => void (stderr += text),
        env: { BNT_STAGE_CONNECTION_STRING: azurite.connectionString, BNT_SOURCE_URL: server.baseUrl },
        cwd,
        now: () => new Date('2024-01-15T12:00:00Z'),
      },
      {
        databricksConnect: warehouse.connector(),
        credential: { getToken: async () => ({ token: 'entra-token', expiresOnTimestamp: Date.now() + 3_600_000 }) },
      },
      controller.signal,
    );
    // Polled: the CREATE session's SET and CREATE, then the MERGE session's SET and the MERGE, which runs on.
    // A run that ends before its MERGE runs fails the test at once instead of leaving it waiting.
    await Promise.race([
      warehouse.until(
        () =>
          warehouse.statements.some((recorded) => recorded.statement.startsWith('MERGE')) &&
          warehouse.callsOf('GetOperationStatus').length >= 4,
      ),
      running.then((code) => {
        throw new Error(`the run ended (exit ${code}) before its MERGE ran: ${stderr}`);
      }),
    ]);
    controller.abort(new Error('stopped by SIGTERM'));
    assert.equal(await running, 1, stderr);
    assert.match(stderr, /stopped by SIGTERM/);
    assert.equal(warehouse.cancelled.length, 1);
    assert.match(warehouse.cancelled[0] ?? '', /^MERGE INTO/);
    assert.ok(
      warehouse.sessions.every((session) => session.closed),
      'every session was closed',
    );
    assert.ok(!warehouse.statements.some((recorded) => recorded.statement.startsWith('SELECT')), 'nothing ran after');
  });

  test('blocks come from Key Vault when KEY_VAULT_URL is set', async () => {
    const store = new KeyVaultBlockStore(vault.vaultUrl, vault.credential, secretClientOptions(vault));
    await store.put('mtademo-container', 'azure-container', CONTAINER_BLOCK);
    await store.put('mtademo-iceberg', 'lakehouse-table', { ...TABLE_BLOCK, format: 'delta-uniform' });
    await store.put('mtademo-databricks', 'databricks-warehouse', WAREHOUSE_BLOCK);
    const result = await runInProcess(
      main,
      ['plan', ...WEEK, '--stage', 'azure', '--warehouse', 'databricks', '--json'],
      {
        cwd,
        env: { KEY_VAULT_URL: vault.vaultUrl },
        deps: { credential: vault.credential, keyVaultClientOptions: secretClientOptions(vault) },
      },
    );
    assert.equal(result.code, 0, result.stderr);
    const { statements } = lastJsonLine(result.stdout) as { statements: string[] };
    assert.match(
      statements[1] ?? '',
      /USING DELTA CLUSTER BY \(`date`\) TBLPROPERTIES \('delta.enableIcebergCompatV2' = 'true'/,
    );
    assert.ok(!existsSync(join(cwd, '.local')), 'no local blocks file was used or created');
  });
});

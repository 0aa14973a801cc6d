/**
 * `npm run test:live`: the whole pipeline against a real Azure storage account and Databricks SQL warehouse.
 * Opt-in: it runs only when the blocks it needs are reachable (Key Vault via KEY_VAULT_URL, or a local
 * blocks.json under BNT_DATA_DIR) and BNT_LIVE=1; otherwise each test is skipped with the reason printed.
 * The source is the local Socrata stand-in, so the rows and counts are known; everything else is real:
 * the blob stage (signed in with DefaultAzureCredential), Unity Catalog, read_files and the MERGE.
 * It loads one day of generated 2009 rows (before the real dataset starts), twice, into the table named by the
 * BLOCK_LAKEHOUSE_TABLE block, which must not be the production one. A second test checks that the warehouse's
 * own answers to a missing table, a syntax error and a statement timeout are the shapes the classifier knows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DefaultAzureCredential } from '@azure/identity';
import { DEFAULT_BLOCK_NAMES, blockNames } from '../../src/blocks/types';
import { main } from '../../src/cli/pipeline';
import { describeError, errorKind } from '../../src/common/errors';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { blockReaderFor, chooseTargets, openTargets } from '../../src/run/targets';
import {
  type DatabricksConnection,
  databricksErrorClass,
  dbsqlConnector,
  runStatements,
} from '../../src/warehouse/databricks-driver';
import { DATABRICKS_COLD_START_RETRY } from '../../src/warehouse/databricks';
import { lastJsonLine, runInProcess } from '../support/cli';
import { TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

function skipReason(): string | undefined {
  if (process.env.BNT_LIVE !== '1') {
    return 'set BNT_LIVE=1, plus KEY_VAULT_URL (or BNT_DATA_DIR with a blocks.json) holding the azure-container, lakehouse-table and databricks-warehouse blocks';
  }
  if (!process.env.KEY_VAULT_URL && !process.env.BNT_DATA_DIR)
    return 'neither KEY_VAULT_URL nor BNT_DATA_DIR says where the blocks are';
  const table = process.env.BLOCK_LAKEHOUSE_TABLE;
  if (!table || table === DEFAULT_BLOCK_NAMES['lakehouse-table']) {
    return 'set BLOCK_LAKEHOUSE_TABLE to a lakehouse-table block for a scratch schema: the suite writes generated rows and must not touch the real table';
  }
  return undefined;
}

const reason = skipReason();
if (reason) console.log(`# live suite skipped: ${reason}`);

describe('live: Socrata stand-in → Azure Blob stage → Databricks', () => {
  let server: SocrataTestServer;
  let cwd: Awaited<ReturnType<typeof temporaryDirectory>>;
  const window = ['--start-date', '2009-06-01', '--stop-date', '2009-06-02'];

  before(async () => {
    if (reason) return;
    server = await startSocrataServer({
      [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2009-06-01', '2009-06-02') },
    });
    cwd = await temporaryDirectory();
  });
  after(async () => {
    await server?.close();
    await cwd?.remove();
  });

  const run = () =>
    runInProcess(main, ['run', ...window, '--stage', 'azure', '--warehouse', 'databricks', '--json'], {
      cwd: cwd.path,
      env: { ...process.env, BNT_SOURCE_URL: server.baseUrl },
      now: new Date(),
    });

  test(
    'a day loads into the Databricks table, and a rerun leaves the same rows',
    { skip: reason, timeout: 15 * 60_000 },
    async () => {
      const first = await run();
      assert.equal(first.code, 0, first.stderr);
      assert.equal(lastJsonLine(first.stdout).rowsInWindow, 480);
      const second = await run();
      assert.equal(second.code, 0, second.stderr);
      assert.equal(lastJsonLine(second.stdout).rowsInWindow, 480);
    },
  );

  test(
    "the warehouse's answers to a missing table, a syntax error and a statement timeout are shapes the classifier knows",
    { skip: reason, timeout: 10 * 60_000 },
    async () => {
      const env = process.env;
      const choice = chooseTargets({ stage: 'azure', warehouse: 'databricks' }, env, process.cwd());
      const credential = new DefaultAzureCredential();
      const block = await blockReaderFor(choice, () => credential).read(
        blockNames(env)['databricks-warehouse'],
        'databricks-warehouse',
      );
      const connection: DatabricksConnection = {
        host: block.host,
        httpPath: block.httpPath,
        auth: block.auth.type === 'pat' ? block.auth : { type: 'entra', credential },
        retry: DATABRICKS_COLD_START_RETRY,
        connector: dbsqlConnector,
        progress: (message) => console.log(`# ${message}`),
      };
      const failure = async (statement: string, timeoutSeconds = 60) => {
        const error = await runStatements(connection, [statement], { timeoutSeconds }).then(
          () => assert.fail(`${statement} succeeded`),
          (caught: unknown) => caught,
        );
        console.log(`# ${statement.slice(0, 40)}…: ${errorKind(error)} ${describeError(error)}`);
        return error;
      };

      const missing = await failure('SELECT COUNT(*) FROM bnt_live_no_such_catalog.no_such_schema.no_such_table');
      assert.equal(errorKind(missing), 'terminal');
      assert.match(String(databricksErrorClass(missing)), /NOT_FOUND|NO_SUCH_CATALOG/);
      const syntax = await failure('SELEC 1');
      assert.equal(errorKind(syntax), 'terminal');
      assert.equal(databricksErrorClass(syntax), 'PARSE_SYNTAX_ERROR');
      const timedOut = await failure('SELECT sum(id * 2) FROM range(0, 100000000000000)', 1);
      assert.equal(errorKind(timedOut), 'terminal', 'a statement timeout is not retried');

      // The table named by the block (never created by this test) answers zero rows, not an error.
      const targets = await openTargets(choice, env, { credential });
      const neverCreated = {
        ...BNT_HOURLY_TRAFFIC,
        table: { ...BNT_HOURLY_TRAFFIC.table, name: 'bnt_live_never_created' },
      };
      assert.equal(await targets.warehouse.rowsInWindow(neverCreated, { start: '2009-06-01', stop: '2009-06-02' }), 0);
    },
  );
});

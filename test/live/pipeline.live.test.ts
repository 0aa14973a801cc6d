/**
 * `npm run test:live`: the whole pipeline against a real Azure storage account and Databricks SQL warehouse.
 * Opt-in: it runs only when the blocks it needs are reachable (Key Vault via KEY_VAULT_URL, or a local
 * blocks.json under BNT_DATA_DIR) and BNT_LIVE=1; otherwise each test is skipped with the reason printed.
 * The source is the local Socrata stand-in, so the rows and counts are known; everything else is real:
 * the blob stage (signed in with DefaultAzureCredential), Unity Catalog, read_files and the MERGE.
 * It loads one day of generated 2009 rows (before the real dataset starts), twice, into the table named by the
 * BLOCK_LAKEHOUSE_TABLE block, which must not be the production one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_BLOCK_NAMES } from '../../src/blocks/types';
import { main } from '../../src/cli/pipeline';
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
});

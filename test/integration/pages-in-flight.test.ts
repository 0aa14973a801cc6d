/**
 * How many pages a run keeps in flight: the flag or `BNT_PAGES_IN_FLIGHT` on the command line, and in the Functions
 * app at most `APP_MAX_PAGES_IN_FLIGHT`, so that a backfill's units × pages stay within the stated total.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/pipeline';
import { APP_MAX_PAGES_IN_FLIGHT, withAppRun } from '../../src/run/app';
import { MAX_CONCURRENCY, MAX_SOURCE_REQUESTS_IN_FLIGHT } from '../../src/schedule/backfill-request';
import { lastJsonLine, runInProcess } from '../support/cli';
import { TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

let server: SocrataTestServer;
let directory: Awaited<ReturnType<typeof temporaryDirectory>>;

before(async () => {
  server = await startSocrataServer({
    [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2024-01-07', '2024-01-14') },
  });
  directory = await temporaryDirectory();
});
after(async () => {
  await server.close();
  await directory.remove();
});

/** A week (3,360 rows) in pages of 500: seven pages, enough to keep any number up to 7 in flight. */
async function runWeek(argv: string[], env: NodeJS.ProcessEnv, together: number) {
  server.requests.length = 0;
  server.answerTogether(together, { $limit: '500' });
  const result = await runInProcess(
    main,
    ['run', '--start-date', '2024-01-07', '--stop-date', '2024-01-14', '--json', ...argv],
    {
      cwd: directory.path,
      env: { BNT_SOURCE_URL: server.baseUrl, ...env },
      deps: { sourceOptions: { pageSize: 500 } },
    },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(lastJsonLine(result.stdout).fetched, 3360);
  return server.maxInFlight;
}

test('the setting sets the pages in flight, and the flag wins over it', async () => {
  assert.equal(await runWeek([], {}, 4), 4, 'four by default');
  assert.equal(await runWeek([], { BNT_PAGES_IN_FLIGHT: '2' }, 2), 2);
  assert.equal(await runWeek(['--pages-in-flight', '3'], { BNT_PAGES_IN_FLIGHT: '2' }, 3), 3);
  assert.equal(await runWeek(['--pages-in-flight', '1'], {}, 1), 1);
});

test('a setting outside 1–8 is refused naming it, before any request', async () => {
  server.requests.length = 0;
  const result = await runInProcess(main, ['run', '--start-date', '2024-01-07', '--stop-date', '2024-01-14'], {
    cwd: directory.path,
    env: { BNT_SOURCE_URL: server.baseUrl, BNT_PAGES_IN_FLIGHT: 'lots' },
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^error: BNT_PAGES_IN_FLIGHT "lots" must be a whole number from 1 to 8/m);
  assert.deepEqual(server.requests, []);
});

test('the Functions app keeps at most 4 pages in flight per step, saying so when the setting asks for more', async () => {
  const lines: string[] = [];
  const env = { BNT_DATA_DIR: directory.path, BNT_SOURCE_URL: server.baseUrl };
  const asked = (pages: string) =>
    withAppRun(
      'bnt-hourly-traffic',
      (line) => lines.push(line),
      async (ports) => ports.source.pagesInFlight,
      {
        ...env,
        BNT_PAGES_IN_FLIGHT: pages,
      },
    );
  assert.equal(await asked('8'), APP_MAX_PAGES_IN_FLIGHT);
  assert.match(lines.join('\n'), /BNT_PAGES_IN_FLIGHT 8 is capped at 4 here: a backfill stages up to 16 units at once/);
  lines.length = 0;
  assert.equal(await asked('2'), 2, 'fewer are taken as asked');
  assert.equal(await asked(''), 4, 'unset: the default');
  assert.deepEqual(lines, []);
});

test('a backfill’s units × pages in flight stay within the stated total', () => {
  assert.ok(MAX_CONCURRENCY * APP_MAX_PAGES_IN_FLIGHT <= MAX_SOURCE_REQUESTS_IN_FLIGHT);
});

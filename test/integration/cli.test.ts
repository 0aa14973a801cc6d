import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/pipeline';
import { lastJsonLine, runInProcess } from '../support/cli';
import {
  CROSSINGS_FIELDS,
  CROSSINGS_ID,
  TRAFFIC_FIELDS,
  TRAFFIC_ID,
  crossingsRows,
  temporaryDirectory,
  trafficRows,
} from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const ROOT = join(__dirname, '..', '..');

function runCli(argv: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; now?: Date }) {
  return runInProcess(main, argv, options);
}

describe('pipeline command line', () => {
  let server: SocrataTestServer;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;

  before(async () => {
    server = await startSocrataServer({
      [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2024-01-07', '2024-01-14') },
      [CROSSINGS_ID]: { fields: CROSSINGS_FIELDS, rows: crossingsRows('2024-01-07', '2024-01-09') },
      // A source that drifted from the definition: every direction is spelled out.
      [`drifted/${TRAFFIC_ID}`]: {
        fields: TRAFFIC_FIELDS,
        rows: trafficRows('2024-01-07', '2024-01-08').map((row) => ({ ...row, direction: 'Inbound' })),
      },
    });
    directory = await temporaryDirectory();
  });
  after(async () => {
    await server.close();
    await directory.remove();
  });

  test('run --json ends stdout with one JSON summary whose counts add up', async () => {
    const result = await runCli(
      ['run', '--start-date', '2024-01-07', '--stop-date', '2024-01-14', '--source-url', server.baseUrl, '--json'],
      { cwd: directory.path },
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = lastJsonLine(result.stdout) as {
      staged: number;
      quarantined: number;
      fetched: number;
      [key: string]: unknown;
    };
    assert.equal(summary.dataset, 'bnt-hourly-traffic');
    assert.deepEqual(summary.window, { start: '2024-01-07', stop: '2024-01-14' });
    assert.equal(summary.fetched, 3360);
    assert.equal(summary.staged + summary.quarantined, summary.fetched);
    assert.equal(summary.rowsInWindow, 3360);
    assert.equal(summary.table, 'bronze.bnt_traffic_hourly');
    assert.match(result.stderr, /page 1: 3,360\/3,360 rows fetched/);
    assert.ok(
      existsSync(join(directory.path, '.local', 'warehouse.duckdb')),
      '--data-dir defaults to .local under the working directory',
    );
  });

  test('without dates it runs the previous Sunday–Saturday week; BNT_SOURCE_URL is the base of the source', async () => {
    const result = await runCli(['run', '--data-dir', 'other'], {
      cwd: directory.path,
      env: { BNT_SOURCE_URL: server.baseUrl, SOCRATA_APP_TOKEN: 'from-env' },
      now: new Date('2024-01-15T12:00:00Z'),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /bnt-hourly-traffic \[2024-01-07, 2024-01-14\)/);
    assert.match(result.stdout, /3,360 rows in the window/);
    assert.equal(server.requests.at(-1)?.headers['x-app-token'], 'from-env');
    assert.ok(!result.stdout.includes('from-env') && !result.stderr.includes('from-env'), 'the token is never printed');
  });

  test("one BNT_SOURCE_URL base serves every dataset: each dataset's resource path is appended to it", async () => {
    const env = { BNT_SOURCE_URL: `${server.baseUrl}/` };
    for (const [dataset, rows, path] of [
      ['bnt-hourly-traffic', 2 * 480, `/resource/${TRAFFIC_ID}.json`],
      ['bnt-hourly-crossings', 2 * 24 * 16, `/resource/${CROSSINGS_ID}.json`],
    ] as const) {
      const argv = ['run', '--dataset', dataset, '--start-date', '2024-01-07', '--stop-date', '2024-01-09'];
      const result = await runCli([...argv, '--data-dir', 'one-base', '--json'], { cwd: directory.path, env });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(lastJsonLine(result.stdout).rowsInWindow, rows);
      assert.equal(lastJsonLine(result.stdout).source, `${server.baseUrl}${path}`);
      assert.equal(server.requests.at(-1)?.path, path);
    }
  });

  test("a source URL naming one dataset's resource is refused: the setting is a base now", async () => {
    const result = await runCli(['run', '--data-dir', 'untouched'], {
      cwd: directory.path,
      env: { BNT_SOURCE_URL: server.resourceUrl(TRAFFIC_ID) },
    });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /BNT_SOURCE_URL http:\/\/127\.0\.0\.1:\d+\/resource\/qzve-kjga\.json names one dataset's resource; give the base each dataset's resource path is appended to \(e\.g\. http:\/\/127\.0\.0\.1:\d+\)/,
    );
  });

  const badInput: [string, string[], RegExp][] = [
    [
      'a date that is not on the calendar',
      ['--start-date', '2024-02-30', '--stop-date', '2024-03-02'],
      /--start-date "2024-02-30" is not a calendar date/,
    ],
    [
      'a malformed date',
      ['--start-date', '01/07/2024', '--stop-date', '2024-01-14'],
      /--start-date "01\/07\/2024" is not a date in the form YYYY-MM-DD/,
    ],
    [
      'a stop before the start',
      ['--start-date', '2024-01-14', '--stop-date', '2024-01-07'],
      /--stop-date "2024-01-07" must be after --start-date/,
    ],
    ['only one date', ['--start-date', '2024-01-14'], /--stop-date is required/],
    ['an unknown dataset', ['--dataset', 'nope'], /--dataset "nope" is not a known dataset/],
    [
      'a source URL that is not a URL',
      ['--source-url', 'not a url', '--start-date', '2024-01-07', '--stop-date', '2024-01-14'],
      /--source-url is not a URL/,
    ],
    ['an unknown flag', ['--frobnicate'], /unknown option '--frobnicate'/],
    [
      'more pages in flight than 8',
      ['--pages-in-flight', '9', '--start-date', '2024-01-07', '--stop-date', '2024-01-14'],
      /--pages-in-flight "9" must be a whole number from 1 to 8/,
    ],
    [
      'pages in flight that are no whole number',
      ['--pages-in-flight', '2.5', '--start-date', '2024-01-07', '--stop-date', '2024-01-14'],
      /--pages-in-flight "2\.5" must be a whole number from 1 to 8/,
    ],
  ];
  for (const [name, flags, message] of badInput) {
    test(`refuses ${name} with exit 2, naming the flag, touching nothing`, async () => {
      const result = await runCli(['run', '--data-dir', 'untouched', ...flags], { cwd: directory.path });
      assert.equal(result.code, 2);
      assert.match(result.stderr, message);
      assert.ok(!existsSync(join(directory.path, 'untouched')), 'no data directory was created');
    });
  }

  test('a window quarantined over its limit fails (exit 1) and says why, with its counts and the limit that applied', async () => {
    const argv = [
      'run',
      '--source-url',
      server.baseFor('drifted'),
      '--start-date',
      '2024-01-07',
      '--stop-date',
      '2024-01-08',
    ];
    const result = await runCli([...argv, '--json'], { cwd: directory.path });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /warning: 480 of 480 records were quarantined, over the 1% limit \(not_allowed 480\); check stage\/bnt-hourly-traffic\/2024-01-07_2024-01-08\/_quarantine\.jsonl/,
    );
    assert.match(
      result.stderr,
      /^error: bnt-hourly-traffic \[2024-01-07, 2024-01-08\): 480 of 480 records \(100%\) were quarantined, over the 1% limit \(top reasons: not_allowed 480; see stage\/bnt-hourly-traffic\/2024-01-07_2024-01-08\/_quarantine\.jsonl\)/m,
    );
    assert.doesNotMatch(result.stderr, /returned no rows/);
    const summary = lastJsonLine(result.stdout);
    assert.equal(summary.ok, false);
    assert.equal(summary.status, 'failed');
    assert.equal(summary.fetched, 480);
    assert.equal(summary.quarantined, 480);
    assert.equal(summary.maxQuarantinePercent, 1);
    assert.deepEqual(summary.error, { kind: 'terminal', message: (summary.error as { message: string }).message });

    const allowed = await runCli([...argv, '--max-quarantine-percent', '100', '--json'], { cwd: directory.path });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(lastJsonLine(allowed.stdout).maxQuarantinePercent, 100);
    assert.match(
      allowed.stderr,
      /none of the 480 records the source returned for \[2024-01-07, 2024-01-08\) passed the checks/,
    );
  });

  test('a failing run exits 1 with a one-line cause', async () => {
    server.failNext({
      kind: 'status',
      status: 404,
      body: { code: 'not_found', error: true, message: 'Dataset not found' },
    });
    const result = await runCli(
      ['run', '--source-url', server.baseUrl, '--start-date', '2024-01-07', '--stop-date', '2024-01-14'],
      {
        cwd: directory.path,
      },
    );
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.trim().split('\n').at(-1),
      'error: the source refused the request with HTTP 404 (not_found): Dataset not found',
    );
  });

  test('every run leaves a ledger record, failed ones too, and status shows each week’s state, rows and last run', async () => {
    const dataDir = join(directory.path, 'ledgered');
    const run = (start: string, stop: string) =>
      runCli(
        ['run', '--source-url', server.baseUrl, '--data-dir', dataDir, '--start-date', start, '--stop-date', stop],
        {
          cwd: directory.path,
        },
      );
    const loaded = await run('2024-01-07', '2024-01-14');
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.match(
      loaded.stderr,
      /^bnt\.run\.finished \{"dataset":"bnt-hourly-traffic","start":"2024-01-07".*"instanceId":"cli","status":"completed"/m,
    );
    server.failNext({ kind: 'status', status: 400, body: { code: 'query.soql.malformed', message: 'bad query' } });
    const failed = await run('2024-01-14', '2024-01-21');
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^bnt\.run\.finished \{.*"start":"2024-01-14".*"status":"failed"/m);

    const status = await runCli(
      ['status', '--data-dir', dataDir, '--start-date', '2024-01-07', '--stop-date', '2024-01-28', '--json'],
      { cwd: directory.path, now: new Date('2024-03-01T00:00:00Z') },
    );
    assert.equal(status.code, 0, status.stderr);
    const answer = lastJsonLine(status.stdout) as { weeks: { state: string; rows: number; lastRun: any }[] };
    assert.deepEqual(
      answer.weeks.map((week) => [week.state, week.rows, week.lastRun?.instanceId, week.lastRun?.status]),
      [
        ['loaded', 3360, 'cli', 'completed'],
        ['failed', 0, 'cli', 'failed'],
        ['never-run', 0, undefined, undefined],
      ],
    );
    assert.match(answer.weeks[1]?.lastRun.error.message, /HTTP 400 \(query\.soql\.malformed\): bad query/);
    assert.match(status.stderr, /2024-01-14 \.\. 2024-01-20 {2}failed/);

    const byDefault = await runCli(['status', '--data-dir', dataDir, '--json'], {
      cwd: directory.path,
      now: new Date('2024-01-24T09:00:00Z'),
    });
    assert.equal(byDefault.code, 0, byDefault.stderr);
    const defaultWeeks = lastJsonLine(byDefault.stdout) as { window: unknown; weeks: { state: string }[] };
    assert.deepEqual(
      defaultWeeks.window,
      { start: '2023-10-29', stop: '2024-01-21' },
      'without dates: the twelve Sunday–Saturday weeks before the last Sunday',
    );
    assert.deepEqual(
      defaultWeeks.weeks.slice(-2).map((week) => week.state),
      ['loaded', 'failed'],
    );

    // Dates typed mid-week still show the timer's Sunday–Saturday weeks, widened to hold them.
    const midWeek = await runCli(
      ['status', '--data-dir', dataDir, '--start-date', '2024-01-10', '--stop-date', '2024-01-16', '--json'],
      { cwd: directory.path, now: new Date('2024-03-01T00:00:00Z') },
    );
    assert.equal(midWeek.code, 0, midWeek.stderr);
    const widened = lastJsonLine(midWeek.stdout) as { window: unknown; weeks: { start: string; state: string }[] };
    assert.deepEqual(widened.window, { start: '2024-01-07', stop: '2024-01-21' });
    assert.deepEqual(
      widened.weeks.map((week) => [week.start, week.state]),
      [
        ['2024-01-07', 'loaded'],
        ['2024-01-14', 'failed'],
      ],
    );

    const wrong = await runCli(['status', '--data-dir', dataDir, '--stop-date', '2024-01-28'], { cwd: directory.path });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--start-date is required when --stop-date is given/);
  });

  /** The command line as its own process, as `npm run pipeline` starts it. */
  async function spawnCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'pipeline.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, stdout, stderr };
  }

  test('npm run pipeline works as a process: exit code, stderr and the JSON last line', async () => {
    const good = await spawnCli([
      ...['run', '--start-date', '2024-01-07', '--stop-date', '2024-01-09', '--json'],
      ...['--source-url', server.baseUrl, '--data-dir', join(directory.path, 'spawned')],
    ]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(lastJsonLine(good.stdout).rowsInWindow, 960);

    const bad = await spawnCli(['run', '--start-date', '2024-02-30', '--stop-date', '2024-03-01']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--start-date "2024-02-30" is not a calendar date/);
  });
});

/**
 * What a new user gets wrong, and what goes wrong around a run: every misconfiguration exits 2 before the
 * source is asked and names what to fix; two runs of one window never both succeed with rows missing; a
 * signal stops a run; no token reaches the output.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { main } from '../../src/cli/pipeline';
import { lastJsonLine, runInProcess } from '../support/cli';
import { TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const ROOT = join(__dirname, '..', '..');
const WEEK = ['--start-date', '2024-01-07', '--stop-date', '2024-01-14'];

describe('a run that cannot work fails before the first request', () => {
  let server: SocrataTestServer;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;

  before(async () => {
    server = await startSocrataServer({
      [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2024-01-07', '2024-01-14') },
    });
  });
  after(() => server.close());
  beforeEach(async () => {
    server.requests.length = 0;
    directory = await temporaryDirectory();
  });
  afterEach(() => directory.remove());

  const run = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
    runInProcess(main, ['run', ...WEEK, '--source-url', server.baseUrl, ...argv], {
      cwd: directory.path,
      env,
    });

  async function expectRefused(argv: string[], env: NodeJS.ProcessEnv, message: RegExp) {
    const result = await run(argv, env);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n').length, 1, 'one line on stderr');
    assert.deepEqual(server.requests, [], 'the source was never asked');
  }

  test('a data directory that is a file', async () => {
    await writeFile(join(directory.path, 'a-file'), 'x');
    await expectRefused(['--data-dir', 'a-file'], {}, /^error: --data-dir .*a-file is not a folder/);
    await expectRefused(
      [],
      { BNT_DATA_DIR: join(directory.path, 'a-file', 'below') },
      /^error: BNT_DATA_DIR .* is not a folder/,
    );
  });

  test('a data directory that cannot be created (under /proc) is refused, not retried forever', async (t) => {
    if (!existsSync('/proc/self')) return t.skip('no /proc on this system');
    await expectRefused(['--data-dir', '/proc/bnt-nope'], {}, /--data-dir \/proc\/bnt-nope cannot be created/);
  });

  test('an empty --data-dir is refused instead of meaning the current folder', async () => {
    await expectRefused(['--data-dir', ''], {}, /--data-dir is empty/);
  });

  test('the databricks warehouse over a local stage', async () => {
    await expectRefused(
      ['--warehouse', 'databricks', '--stage', 'local'],
      {},
      /--stage local cannot go with the databricks warehouse/,
    );
    await expectRefused([], { BNT_WAREHOUSE: 'databricks', BNT_STAGE: 'local' }, /BNT_STAGE local cannot go/);
  });

  test('a malformed stage connection string is named, never echoed', async () => {
    const result = await run(['--stage', 'azure'], { BNT_STAGE_CONNECTION_STRING: 'AccountKey=SECRETKEY;nonsense' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /BNT_STAGE_CONNECTION_STRING is not a storage connection string/);
    assert.ok(!result.stderr.includes('SECRETKEY'));
    assert.deepEqual(server.requests, []);
  });

  test('a data directory that is only blanks is refused, as a flag or as BNT_DATA_DIR', async () => {
    await expectRefused(['--data-dir', '   '], {}, /^error: --data-dir is only blanks; name a folder/);
    await expectRefused([], { BNT_DATA_DIR: ' \t ' }, /^error: BNT_DATA_DIR is only blanks; name a folder/);
  });

  test('an app token longer than any real one is refused up front, never echoed', async () => {
    const token = `SECRET${'x'.repeat(300)}`;
    await expectRefused(
      [],
      { SOCRATA_APP_TOKEN: token },
      /^error: SOCRATA_APP_TOKEN has 306 characters, more than any Socrata app token/,
    );
    await expectRefused(['--app-token', token], {}, /^error: --app-token has 306 characters/);
    const result = await run([], { SOCRATA_APP_TOKEN: token });
    assert.ok(!`${result.stdout}${result.stderr}`.includes('SECRET'), 'the token is not printed');
  });

  test('a BLOCK_SOCRATA_SOURCE that names a block that is not there fails before any request', async () => {
    const result = await run([], { BLOCK_SOCRATA_SOURCE: 'my-socrata' });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /^error: BLOCK_SOCRATA_SOURCE names block "my-socrata" in .*blocks\.json does not exist; create it with: npm run blocks -- put my-socrata --type socrata-source/,
    );
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.deepEqual(server.requests, [], 'the source was never asked');
    // Not named on purpose, the default block may be missing: requests then share the anonymous pool.
    assert.equal((await run([])).code, 0);
  });

  test('a source URL setting is named as the setting', async () => {
    const result = await runInProcess(main, ['run', ...WEEK], { cwd: directory.path, env: { BNT_SOURCE_URL: 'nope' } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: BNT_SOURCE_URL is not a URL/);
  });

  test('an app token with a control character never reaches the output and is not retried', async () => {
    const result = await run([], { SOCRATA_APP_TOKEN: 'SECRET\u0000X4' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: SOCRATA_APP_TOKEN must be non-empty printable ASCII/);
    assert.ok(!`${result.stdout}${result.stderr}`.includes('SECRET'), 'the token is not printed');
    assert.deepEqual(server.requests, []);
  });

  /** A child process holding the DuckDB file open for writing, for `holdMs` (DuckDB's lock is per process). */
  async function holdDuckDbFile(holdMs: number) {
    const file = join(directory.path, '.local', 'warehouse.duckdb');
    await mkdir(join(directory.path, '.local'), { recursive: true });
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require('@duckdb/node-api').DuckDBInstance.create(${JSON.stringify(file)}).then((db) => { console.log('open'); setTimeout(() => db.closeSync(), ${holdMs}); setInterval(() => {}, 1000); });`,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await once(holder.stdout as NodeJS.ReadableStream, 'data');
    return {
      async stop() {
        holder.kill('SIGKILL');
        await once(holder, 'exit');
      },
    };
  }

  test('a DuckDB file another process holds is reported up front, and the run waits its turn and succeeds', async () => {
    const holder = await holdDuckDbFile(2_500);
    try {
      const result = await run(['--json']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(lastJsonLine(result.stdout).rowsInWindow, 7 * 480);
      assert.match(
        result.stderr,
        /the DuckDB file .*warehouse\.duckdb is in use by another process \(PID \d+\) now; this run waits its turn when it loads/,
      );
      assert.match(
        result.stderr,
        /the DuckDB file .*warehouse\.duckdb is in use by another process \(PID \d+\); waiting its turn/,
      );
    } finally {
      await holder.stop();
    }
  });

  test('a wait for the DuckDB file that runs out is transient (exit 1), never a usage error', async () => {
    const holder = await holdDuckDbFile(60_000);
    try {
      const result = await runInProcess(main, ['run', ...WEEK, '--source-url', server.baseUrl, '--json'], {
        cwd: directory.path,
        deps: { duckDbWaitMs: 1_000 },
      });
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /^error: the DuckDB file .*warehouse\.duckdb was still in use by another process \(PID \d+\) after 1 s/m,
      );
      assert.equal((lastJsonLine(result.stdout).error as { kind: string }).kind, 'transient');
    } finally {
      await holder.stop();
    }
  });

  test('with --json a failure still ends stdout with one JSON line: ok false, the kind, the field', async () => {
    const bad = await runInProcess(main, ['run', '--start-date', '2024-02-30', '--stop-date', '2024-03-01', '--json'], {
      cwd: directory.path,
    });
    assert.equal(bad.code, 2);
    assert.deepEqual(lastJsonLine(bad.stdout), {
      ok: false,
      error: {
        kind: 'input',
        message: '--start-date "2024-02-30" is not a calendar date (YYYY-MM-DD)',
        field: '--start-date',
      },
    });

    server.failNext({ kind: 'status', status: 404, body: { code: 'not_found', message: 'Dataset not found' } });
    const failed = await run(['--json']);
    assert.equal(failed.code, 1);
    const line = lastJsonLine(failed.stdout) as { ok: boolean; error: { kind: string; message: string } };
    assert.equal(line.ok, false);
    assert.equal(line.error.kind, 'terminal');
    assert.match(line.error.message, /HTTP 404 \(not_found\): Dataset not found/);

    const good = await run(['--json']);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(lastJsonLine(good.stdout).ok, true);
  });
});

/** The command as its own process, the way `npm run pipeline` starts it. */
function spawnPipeline(args: string[]): ChildProcess & { output: () => { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'pipeline.ts'), ...args], {
    // From the project, where `--import tsx` resolves; the data directory is given as an absolute path.
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return Object.assign(child, { output: () => ({ stdout, stderr }) });
}

async function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

async function countRows(file: string, where: string): Promise<number> {
  const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  try {
    const connection = await instance.connect();
    const [row] = (
      await connection.runAndReadAll(`SELECT count(*)::INT AS n FROM bronze.bnt_traffic_hourly WHERE ${where}`)
    ).getRowObjectsJson();
    connection.closeSync();
    return Number(row?.n);
  } finally {
    instance.closeSync();
  }
}

describe('runs as processes', () => {
  let server: SocrataTestServer;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  const month = ['--start-date', '2024-01-01', '--stop-date', '2024-02-01'];

  before(async () => {
    // Every request takes a while, as against the real API, so a second run starts while the first works.
    server = await startSocrataServer(
      { [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2024-01-01', '2024-02-01') } },
      { latencyMs: 1_000 },
    );
  });
  after(() => server.close());
  beforeEach(async () => {
    directory = await temporaryDirectory();
  });
  afterEach(() => directory.remove());

  test('two runs of one window at once: never both report success with rows missing', async () => {
    const args = [...['run', ...month, '--json', '--source-url', server.baseUrl], ...['--data-dir', directory.path]];
    const first = spawnPipeline(args);
    const second = spawnPipeline(args);
    const codes = await Promise.all([exitOf(first), exitOf(second)]);
    const rows = await countRows(join(directory.path, 'warehouse.duckdb'), "date >= DATE '2024-01-01'");
    const outputs = [first.output(), second.output()];
    for (const [index, code] of codes.entries()) {
      const output = outputs[index] as { stdout: string; stderr: string };
      if (code === 0) {
        assert.equal(lastJsonLine(output.stdout).rowsInWindow, 31 * 480, 'a success reports the whole window');
      } else {
        assert.match(
          output.stderr,
          /another run is working on bnt-hourly-traffic \[2024-01-01, 2024-02-01\)|in use by another process/,
          output.stderr,
        );
      }
    }
    assert.ok(codes.includes(0), `one of them succeeds: ${JSON.stringify(outputs)}`);
    assert.equal(rows, 31 * 480, 'the table holds the whole window exactly once');
  });

  test('two runs of different, overlapping windows into one data dir take turns and both succeed', async () => {
    const first = spawnPipeline([
      ...['run', '--start-date', '2024-01-01', '--stop-date', '2024-01-22', '--json', '--source-url', server.baseUrl],
      ...['--data-dir', directory.path],
    ]);
    const second = spawnPipeline([
      ...['run', '--start-date', '2024-01-15', '--stop-date', '2024-02-01', '--json', '--source-url', server.baseUrl],
      ...['--data-dir', directory.path],
    ]);
    const codes = await Promise.all([exitOf(first), exitOf(second)]);
    assert.deepEqual(codes, [0, 0], JSON.stringify([first.output(), second.output()]));
    assert.equal(lastJsonLine(first.output().stdout).rowsInWindow, 21 * 480);
    assert.equal(lastJsonLine(second.output().stdout).rowsInWindow, 17 * 480);
    const rows = await countRows(join(directory.path, 'warehouse.duckdb'), "date >= DATE '2024-01-01'");
    assert.equal(rows, 31 * 480, 'the table holds the union of both windows, each row once');
  });

  test('SIGTERM stops a run within seconds, exits non-zero, and a rerun converges', async () => {
    const args = [...['run', ...month, '--source-url', server.baseUrl], ...['--data-dir', directory.path]];
    // Page 1 goes out beside the count; held back, it keeps the run paging when the signal comes.
    server.failOn({ $offset: '0' }, { kind: 'delay', ms: 20_000 });
    const child = spawnPipeline([...args, '--json']);
    // Stop it once it is paging: the count has been answered. (Bounded by the child's own life.)
    while (!child.output().stderr.includes('the source has') && child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(child.exitCode, null, `the run was still working when signalled: ${child.output().stderr}`);
    child.kill('SIGTERM');
    const code = await exitOf(child);
    assert.equal(code, 143, child.output().stderr);
    assert.match(child.output().stderr, /SIGTERM: stopping/);

    const rerun = spawnPipeline([...args, '--json']);
    assert.equal(await exitOf(rerun), 0, rerun.output().stderr);
    assert.equal(lastJsonLine(rerun.output().stdout).rowsInWindow, 31 * 480);
  });
  test('killing the shell npm started (which does not pass the signal on) still stops the run', async () => {
    const args = [...['run', ...month, '--source-url', server.baseUrl], ...['--data-dir', directory.path]];
    // `; true` keeps the shell from exec-ing node, as npm's shell does: the shell is node's parent.
    const command = `"${process.execPath}" --import tsx src/cli/pipeline.ts ${args.map((arg) => `'${arg}'`).join(' ')}; true`;
    server.failOn({ $offset: '0' }, { kind: 'delay', ms: 20_000 });
    const shell = spawn('/bin/sh', ['-c', command], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const closed = once(shell.stderr, 'close'); // when node, the last writer, is gone too
    while (!stderr.includes('the source has') && shell.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(shell.exitCode, null, `the run was still working when its shell was killed: ${stderr}`);
    shell.kill('SIGTERM');
    await closed;
    assert.match(stderr, /parent process gone: stopping/);

    const rerun = spawnPipeline([...args, '--json']);
    assert.equal(await exitOf(rerun), 0, rerun.output().stderr);
    assert.equal(lastJsonLine(rerun.output().stdout).rowsInWindow, 31 * 480);
  });
});

describe('windows and records out of bounds', () => {
  let server: SocrataTestServer;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  const huge = 'x'.repeat(20_000);

  before(async () => {
    server = await startSocrataServer({
      [TRAFFIC_ID]: {
        fields: TRAFFIC_FIELDS,
        rows: [
          ...trafficRows('2024-01-07', '2024-01-08'),
          { ...trafficRows('2024-01-07', '2024-01-08')[0], plaza_id: huge },
        ],
      },
    });
    directory = await temporaryDirectory();
  });
  after(async () => {
    await server.close();
    await directory.remove();
  });

  test('1900..2100 is clipped to the dataset’s dates and runs as one short query, saying so', async () => {
    server.requests.length = 0;
    const result = await runInProcess(
      main,
      ['run', '--start-date', '1900-01-01', '--stop-date', '2100-01-01', '--json'],
      {
        cwd: directory.path,
        env: { BNT_SOURCE_URL: server.baseUrl },
        now: new Date('2024-02-01T12:00:00Z'),
      },
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = lastJsonLine(result.stdout);
    assert.deepEqual(summary.window, { start: '2010-01-01', stop: '2024-02-02' });
    assert.deepEqual(summary.requestedWindow, { start: '1900-01-01', stop: '2100-01-01' });
    // 14 years at the dataset's estimate of 480 rows a day fill three pages at half, so pages 2 and 3 go out beside
    // the count and page 1; this source has one day, so page 1 is short and ends it, and the two are dropped.
    assert.equal(summary.requests, 4, 'the count, one short page that ends it, and the two the estimate expected');
    assert.deepEqual(
      server.requests
        .filter((request) => request.params.$limit)
        .map((request) => Number(request.params.$offset))
        .sort((a, b) => a - b),
      [0, 50_000, 100_000],
    );
    assert.match(result.stderr, /clipped +from \[1900-01-01, 2100-01-01\)/);
  });

  test('a record with an oversized value is quarantined as too_long, with only an excerpt kept', async () => {
    const result = await runInProcess(
      main,
      ['run', '--start-date', '2024-01-07', '--stop-date', '2024-01-08', '--json'],
      { cwd: directory.path, env: { BNT_SOURCE_URL: server.baseUrl } },
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = lastJsonLine(result.stdout) as {
      quarantineReasons: Record<string, number>;
      quarantineFiles: string[];
    };
    assert.deepEqual(summary.quarantineReasons, { too_long: 1 });
    const quarantine = await readFile(join(directory.path, '.local', summary.quarantineFiles[0] ?? ''), 'utf8');
    assert.ok(quarantine.length < 2_000, `the quarantine file holds an excerpt, not ${quarantine.length} characters`);
    assert.match(quarantine, /"reason":"too_long"/);
  });

  test('years before 1000 are refused as unsupported, not as a bad calendar date', async () => {
    const result = await runInProcess(main, ['run', '--start-date', '0999-01-01', '--stop-date', '2024-01-08'], {
      cwd: directory.path,
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--start-date "0999-01-01" is not supported/);
  });

  test('a corrupt blocks.json is an error naming the file, exit 2, before any request', async () => {
    await mkdir(join(directory.path, '.local'), { recursive: true });
    await writeFile(join(directory.path, '.local', 'blocks.json'), '{ not json');
    server.requests.length = 0;
    try {
      const result = await runInProcess(main, ['run', '--start-date', '2024-01-07', '--stop-date', '2024-01-08'], {
        cwd: directory.path,
        env: { BNT_SOURCE_URL: server.baseUrl },
      });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /blocks\.json/);
      assert.deepEqual(server.requests, []);
    } finally {
      await writeFile(join(directory.path, '.local', 'blocks.json'), '{}');
    }
  });
});

/**
 * The Databricks adapter driven through the real `@databricks/sql` driver against the loopback Thrift stand-in:
 * sessions, retries, tokens, TLS, cancellation and what query history would show. Which failures are retried
 * is in databricks-errors.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { AccessToken, TokenCredential } from '@azure/core-auth';

import { describeError, errorKind } from '../../src/common/errors';
import type { RetryPolicy } from '../../src/common/retry';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import type { StageStore, StagedWindow } from '../../src/pipeline/ports';
import {
  DATABRICKS_ENTRA_SCOPE,
  type DatabricksConnection,
  databricksConnector,
  runStatements,
} from '../../src/warehouse/databricks-driver';
import {
  DatabricksWarehouse,
  LOAD_STATEMENT_TIMEOUT_SECONDS,
  QUERY_STATEMENT_TIMEOUT_SECONDS,
} from '../../src/warehouse/databricks';
import { DatabricksStandIn, type StandInOptions } from '../support/databricks-standin';

const TINY_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
const OPTIONS = { timeoutSeconds: 600 };
const MERGE = 'MERGE INTO t USING s ON true WHEN NOT MATCHED THEN INSERT *';

async function withStandIn(work: (standIn: DatabricksStandIn) => Promise<void>, options?: StandInOptions) {
  const standIn = await DatabricksStandIn.start(options);
  try {
    await work(standIn);
  } finally {
    await standIn.close();
  }
}

function connection(standIn: DatabricksStandIn, overrides: Partial<DatabricksConnection> = {}): DatabricksConnection {
  return {
    host: standIn.host,
    httpPath: standIn.httpPath,
    auth: { type: 'pat', token: 'dapi-test-token' },
    retry: TINY_RETRY,
    connector: standIn.connector(),
    ...overrides,
  };
}

/** Hands out the tokens given, in order (the last one from then on), and remembers the scopes asked for. */
function credentialOf(...tokens: AccessToken[]): TokenCredential & { scopes: (string | string[])[] } {
  const scopes: (string | string[])[] = [];
  return {
    scopes,
    async getToken(scope: string | string[]): Promise<AccessToken> {
      scopes.push(scope);
      const token = tokens.length > 1 ? tokens.shift() : tokens[0];
      if (!token) throw new Error('no token');
      return token;
    },
  };
}

const hourFromNow = () => Date.now() + 3_600_000;

function warehouse(
  standIn: DatabricksStandIn,
  overrides: Partial<ConstructorParameters<typeof DatabricksWarehouse>[0]> = {},
) {
  return new DatabricksWarehouse({
    host: standIn.host,
    httpPath: standIn.httpPath,
    auth: { type: 'pat', token: 'dapi-test-token' },
    catalog: 'lakehouse',
    schema: 'bronze',
    format: 'delta-uniform',
    retry: TINY_RETRY,
    connect: standIn.connector(),
    ...overrides,
  });
}

const STAGE = { location: { kind: 'azure', accountName: 'mtastage', container: 'stage' } } as StageStore;
const WEEKS: StagedWindow[] = [
  {
    window: { start: '2024-01-07', stop: '2024-01-14' },
    parts: ['stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl'],
  },
  {
    window: { start: '2024-01-14', stop: '2024-01-21' },
    parts: ['stage/bnt-hourly-traffic/2024-01-14_2024-01-21/part-00000.jsonl'],
  },
];

test('statements run in order in one session after the timeout SET; every operation and the session are closed', () =>
  withStandIn(async (standIn) => {
    standIn.onStatement(/^SELECT/, { rows: [{ row_count: 7 }] });
    const results = await runStatements(
      connection(standIn),
      ['CREATE TABLE t (a INT)', 'SELECT COUNT(*) AS row_count FROM t'],
      OPTIONS,
    );
    assert.deepEqual(results, [[], [{ row_count: 7 }]], 'results are for the caller’s statements only, not the SET');
    assert.deepEqual(
      standIn.statements.map((recorded) => recorded.statement),
      ['SET STATEMENT_TIMEOUT = 600', 'CREATE TABLE t (a INT)', 'SELECT COUNT(*) AS row_count FROM t'],
    );
    assert.equal(standIn.sessions.length, 1);
    assert.ok(standIn.statements.every((recorded) => recorded.session === standIn.sessions[0]?.id));
    assert.equal(standIn.callsOf('CloseOperation').length, 3);
    assert.equal(standIn.sessions[0]?.closed, true);
    assert.equal(standIn.calls.at(-1)?.call, 'CloseSession');
    assert.ok(
      standIn.calls.every((recorded) => recorded.call !== 'unknown'),
      'nothing but TCLIService calls: the driver’s telemetry and feature-flag requests are off',
    );
  }));

test('with direct results (a warehouse answering quick statements at once) the rows are the same', () =>
  withStandIn(
    async (standIn) => {
      standIn.onStatement(/^SELECT/, { rows: [{ day: '2024-01-07' }, { day: '2024-01-08' }] });
      const [days] = await runStatements(connection(standIn), ['SELECT DISTINCT day FROM t'], OPTIONS);
      assert.deepEqual(days, [{ day: '2024-01-07' }, { day: '2024-01-08' }]);
      assert.equal(standIn.callsOf('GetOperationStatus').length, 0, 'the status came with the answer');
      assert.equal(standIn.callsOf('FetchResults').length, 0, 'so did the rows');
    },
    { directResults: true },
  ));

test('a statement submitted without a result set is still waited for, and its failure still surfaces', () =>
  withStandIn(async (standIn) => {
    let polls = 0;
    standIn.onStatement(/^CREATE/, {
      noResultSet: true,
      runningUntil: () => (polls += 1) > 3,
      error: {
        errorClass: 'SCHEMA_NOT_FOUND',
        message: 'The schema `lakehouse`.`bronze` cannot be found.',
        sqlState: '42704',
      },
    });
    await assert.rejects(
      runStatements(connection(standIn), ['CREATE TABLE IF NOT EXISTS t (a INT)'], OPTIONS),
      /Databricks statement 2 of 2 \(CREATE TABLE IF NOT EXISTS t \(a INT\)\) failed: \[SCHEMA_NOT_FOUND\]/,
    );
    assert.ok(polls > 3, 'the operation was polled until it ended');
  }));

test('a cold start is retried: OpenSession answers 503 twice, then the statements run once', () =>
  withStandIn(async (standIn) => {
    const progress: string[] = [];
    standIn.failCall('OpenSession', { kind: 'http', status: 503 }, 2);
    await runStatements(connection(standIn, { progress: (message) => progress.push(message) }), [MERGE], OPTIONS);
    assert.equal(standIn.callsOf('OpenSession').length, 3);
    assert.deepEqual(
      standIn.statements.map((recorded) => recorded.statement),
      ['SET STATEMENT_TIMEOUT = 600', MERGE],
    );
    assert.equal(progress.filter((message) => message.includes('retrying')).length, 2);
    assert.match(progress.find((message) => message.includes('attempt 2 of 3')) ?? '', /bad HTTP status code: 503/);
  }));

test('every session starts with the timeout SET, including the one a retry opens, and each is closed', () =>
  withStandIn(async (standIn) => {
    standIn.onStatement(/^MERGE/, {
      error: {
        errorClass: 'DELTA_CONCURRENT_APPEND',
        message: 'ConcurrentAppendException: Files were added to the root of the table by a concurrent update.',
        sqlState: '2D521',
      },
    });
    await runStatements(connection(standIn), [MERGE], OPTIONS);
    assert.deepEqual(
      standIn.statements.map((recorded) => recorded.statement),
      ['SET STATEMENT_TIMEOUT = 600', MERGE, 'SET STATEMENT_TIMEOUT = 600', MERGE],
    );
    assert.equal(standIn.sessions.length, 2);
    assert.ok(standIn.sessions.every((session) => session.closed));
  }));

test('a SQL error is not retried, names the statement, and nothing runs after it', () =>
  withStandIn(async (standIn) => {
    standIn.onStatement(/^CREATE/, {
      refused: { errorClass: 'PARSE_SYNTAX_ERROR', message: "Syntax error at or near 'TABEL'.", sqlState: '42601' },
    });
    await assert.rejects(
      runStatements(connection(standIn), ['CREATE TABEL t (a INT)', 'SELECT 1'], OPTIONS),
      (error) => {
        assert.equal(errorKind(error), 'terminal');
        assert.match(
          describeError(error),
          /^Databricks statement 2 of 3 \(CREATE TABEL t \(a INT\)\) failed: \[PARSE_SYNTAX_ERROR\]/,
        );
        assert.ok(!describeError(error).includes('[object Object]'));
        return true;
      },
    );
    assert.equal(standIn.sessions.length, 1);
    assert.ok(!standIn.statements.some((recorded) => recorded.statement === 'SELECT 1'));
    assert.equal(standIn.sessions[0]?.closed, true);
  }));

test('a failed statement is closed, then its session', () =>
  withStandIn(async (standIn) => {
    standIn.onStatement(/^MERGE/, {
      error: {
        errorClass: 'INSUFFICIENT_PERMISSIONS',
        message: 'Insufficient privileges: User does not have MODIFY on Table `lakehouse`.`bronze`.`t`.',
        sqlState: '42501',
      },
    });
    await assert.rejects(runStatements(connection(standIn), [MERGE], OPTIONS), /INSUFFICIENT_PERMISSIONS/);
    assert.equal(standIn.sessions.length, 1, 'a permission error is not retried');
    assert.deepEqual(
      standIn.calls.slice(-2).map((recorded) => recorded.call),
      ['CloseOperation', 'CloseSession'],
    );
  }));

test('the driver gives up on a poll answered 503 and wraps it; the statement is closed and run again', () =>
  withStandIn(async (standIn) => {
    const progress: string[] = [];
    // After the SET's poll, the MERGE's polls: the driver's own retries (3 attempts in these tests) all get 503.
    standIn.failCall('GetOperationStatus', { kind: 'http', status: 503 }, 3, { after: 1 });
    await runStatements(connection(standIn, { progress: (message) => progress.push(message) }), [MERGE], OPTIONS);
    assert.match(progress.join('\n'), /Hive driver: 503 when connecting to resource\. Max retry count exceeded/);
    assert.equal(standIn.sessions.length, 2);
    assert.equal(standIn.statements.filter((recorded) => recorded.statement === MERGE).length, 2);
  }));

test('it gives up after the policy’s attempts with a message saying so', () =>
  withStandIn(async (standIn) => {
    standIn.failCall('OpenSession', { kind: 'http', status: 503 }, 3);
    await assert.rejects(runStatements(connection(standIn), ['SELECT 1'], OPTIONS), (error) => {
      assert.equal(errorKind(error), 'transient', 'an outer driver may still try later');
      assert.match(
        describeError(error),
        /running 1 statement\(s\) on Databricks 127\.0\.0\.1\/sql\/1\.0\/warehouses\/\w+ failed after 3 attempts \(limit: 3 attempts\): Received a response with a bad HTTP status code: 503/,
      );
      return true;
    });
    assert.equal(standIn.callsOf('OpenSession').length, 3);
  }));

// ---------------------------------------------------------------------------------------------------------
// Tokens and TLS

test('Entra auth: the credential is asked for the Azure Databricks scope and its token reaches the warehouse', () =>
  withStandIn(async (standIn) => {
    const credential = credentialOf({ token: 'entra-token-for-test', expiresOnTimestamp: hourFromNow() });
    await runStatements(connection(standIn, { auth: { type: 'entra', credential } }), ['SELECT 1'], OPTIONS);
    assert.equal(DATABRICKS_ENTRA_SCOPE, '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default');
    assert.ok(credential.scopes.length > 0 && credential.scopes.every((scope) => scope === DATABRICKS_ENTRA_SCOPE));
    assert.deepEqual(standIn.tokens, ['entra-token-for-test']);
    assert.ok(standIn.calls.every((recorded) => recorded.authorization === 'Bearer entra-token-for-test'));
  }));

test('a token near its expiry is replaced while a statement runs: the warehouse sees the fresh one in the same session', () =>
  withStandIn(async (standIn) => {
    // The driver refreshes a token five minutes before it expires; this one gets there half a second from now.
    const credential = credentialOf(
      { token: 'entra-token-1', expiresOnTimestamp: Date.now() + 5 * 60_000 + 500 },
      { token: 'entra-token-2', expiresOnTimestamp: hourFromNow() },
    );
    standIn.onStatement(/^MERGE/, { runningUntil: () => standIn.tokens.includes('entra-token-2') });
    await runStatements(
      connection(standIn, {
        auth: { type: 'entra', credential },
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      }),
      [MERGE],
      OPTIONS,
    );
    assert.deepEqual(standIn.tokens, ['entra-token-1', 'entra-token-2']);
    assert.equal(standIn.sessions.length, 1, 'the statement did not have to start over');
    const fresh = standIn.calls.filter((recorded) => recorded.authorization === 'Bearer entra-token-2');
    assert.ok(
      fresh.some((recorded) => recorded.call === 'GetOperationStatus' && recorded.session === standIn.sessions[0]?.id),
    );
  }));

test('a warehouse whose certificate is not trusted gets no token: the connection fails before any request', () =>
  withStandIn(async (standIn) => {
    // The driver as deployed, only pointed at the stand-in's port: the stand-in's certificate is not trusted.
    const untrusting = databricksConnector({ port: standIn.port });
    await assert.rejects(
      runStatements(connection(standIn, { connector: untrusting }), ['SELECT 1'], OPTIONS),
      (error) => {
        assert.equal(errorKind(error), 'terminal', 'a certificate that does not verify is not retried');
        assert.match(describeError(error), /certificate/);
        return true;
      },
    );
    assert.deepEqual(standIn.calls, [], 'no request, so no Authorization header, reached the stand-in');
  }));

test('a token never appears in a thrown error or a progress line, even when the warehouse echoes it', () =>
  withStandIn(async (standIn) => {
    const secret = 'entra-token-which-must-not-leak';
    const auth = {
      type: 'entra',
      credential: credentialOf({ token: secret, expiresOnTimestamp: hourFromNow() }),
    } as const;
    standIn.failCall('OpenSession', { kind: 'status', message: `Invalid access token: Bearer ${secret}` });
    await assert.rejects(runStatements(connection(standIn, { auth }), ['SELECT 1'], OPTIONS), (error: Error) => {
      assert.ok(!describeError(error).includes(secret), describeError(error));
      assert.ok(!(error.stack ?? '').includes(secret));
      assert.match(error.message, /Bearer <redacted>/);
      return true;
    });
    const progress: string[] = [];
    standIn.failCall(
      'ExecuteStatement',
      {
        kind: 'status',
        message: `[TEMPORARILY_UNAVAILABLE] The service is temporarily unavailable (token ${secret})`,
      },
      3,
    );
    await assert.rejects(
      runStatements(
        connection(standIn, { auth, progress: (message) => progress.push(message) }),
        ['SELECT 1'],
        OPTIONS,
      ),
      (error: Error) => !describeError(error).includes(secret) && !(error.stack ?? '').includes(secret),
    );
    assert.equal(progress.filter((message) => message.includes('retrying')).length, 2);
    assert.ok(
      progress.every((message) => !message.includes(secret)),
      'progress lines carry no token',
    );
  }));

// ---------------------------------------------------------------------------------------------------------
// Cancellation

test('an abort cancels the running statement and closes its session; nothing is retried', () =>
  withStandIn(async (standIn) => {
    standIn.onStatement(/^MERGE/, { runningUntil: () => false });
    const controller = new AbortController();
    const running = runStatements(connection(standIn), [MERGE], { ...OPTIONS, signal: controller.signal });
    // The SET's poll, then the MERGE's: the MERGE is running on the warehouse.
    await standIn.until(() => standIn.callsOf('GetOperationStatus').length >= 2);
    controller.abort(new Error('stopped by SIGTERM'));
    await assert.rejects(running, /stopped by SIGTERM/);
    assert.deepEqual(standIn.cancelled, [MERGE]);
    const calls = standIn.calls.map((recorded) => recorded.call);
    assert.ok(calls.indexOf('CancelOperation') < calls.lastIndexOf('CloseSession'), calls.join(' '));
    assert.equal(standIn.sessions[0]?.closed, true);
    assert.equal(standIn.sessions.length, 1);
  }));

test('an abort before anything started sends nothing; one during a retry wait stops the wait', () =>
  withStandIn(async (standIn) => {
    const stopped = new AbortController();
    stopped.abort(new Error('stopped by SIGINT'));
    await assert.rejects(
      runStatements(connection(standIn), ['SELECT 1'], { ...OPTIONS, signal: stopped.signal }),
      /stopped by SIGINT/,
    );
    assert.deepEqual(standIn.calls, []);

    standIn.failCall('OpenSession', { kind: 'http', status: 503 });
    const controller = new AbortController();
    const slowRetry: RetryPolicy = { attempts: 3, baseDelayMs: 3_600_000, maxDelayMs: 3_600_000 };
    const running = runStatements(
      connection(standIn, {
        retry: slowRetry,
        progress: (message) => {
          if (message.includes('retrying')) controller.abort(new Error('lost the lock'));
        },
      }),
      ['SELECT 1'],
      {
        ...OPTIONS,
        signal: controller.signal,
      },
    );
    await assert.rejects(running, /lost the lock/);
    assert.equal(standIn.callsOf('OpenSession').length, 1);
  }));

// ---------------------------------------------------------------------------------------------------------
// The warehouse on top

test('the warehouse runs exactly what it plans: the DDL and the MERGE in sessions of their own, each with its timeout', () =>
  withStandIn(async (standIn) => {
    const target = warehouse(standIn);
    await target.ensureTable(BNT_HOURLY_TRAFFIC);
    await target.loadWindows(BNT_HOURLY_TRAFFIC, WEEKS, STAGE);
    assert.deepEqual(
      standIn.statements.map((recorded) => recorded.statement),
      target.planStatements(BNT_HOURLY_TRAFFIC, WEEKS, STAGE.location),
    );
    assert.deepEqual(
      standIn.statements
        .filter((recorded) => recorded.statement.startsWith('SET'))
        .map((recorded) => recorded.statement),
      [
        `SET STATEMENT_TIMEOUT = ${QUERY_STATEMENT_TIMEOUT_SECONDS}`,
        `SET STATEMENT_TIMEOUT = ${LOAD_STATEMENT_TIMEOUT_SECONDS}`,
      ],
    );
    assert.equal(standIn.sessions.length, 2);
  }));

test('query history says who ran a statement: the app in the user agent, dataset, purpose and window in query tags', () =>
  withStandIn(async (standIn) => {
    standIn.onStatement(/^SELECT COUNT/, { rows: [{ row_count: 1344 }] });
    const target = warehouse(standIn);
    await target.loadWindows(BNT_HOURLY_TRAFFIC, WEEKS, STAGE);
    assert.equal(await target.rowsInWindow(BNT_HOURLY_TRAFFIC, { start: '2024-01-07', stop: '2024-01-14' }), 1344);
    assert.ok(
      standIn.calls.every((recorded) =>
        /^NodejsDatabricksSqlConnector\/[\d.]+ \(bnt-hourly-traffic; /.test(recorded.userAgent ?? ''),
      ),
      standIn.calls[0]?.userAgent,
    );
    const tags = (prefix: string) =>
      standIn.statements.find((recorded) => recorded.statement.startsWith(prefix))?.queryTags;
    assert.equal(
      tags('MERGE'),
      'app:bnt-hourly-traffic,dataset:bnt-hourly-traffic,purpose:load,window:2024-01-07_2024-01-21,windows:2',
    );
    assert.equal(
      tags('SELECT COUNT'),
      'app:bnt-hourly-traffic,dataset:bnt-hourly-traffic,purpose:count,window:2024-01-07_2024-01-14',
    );
  }));

test('rows per day come from one GROUP BY over the window, days as text, tagged rows-per-day; no table, no rows', () =>
  withStandIn(async (standIn) => {
    standIn.onStatement(/^SELECT CAST/, {
      rows: [
        { day: '2024-01-07', row_count: 480 },
        { day: '2024-01-09', row_count: 12 },
      ],
    });
    const target = warehouse(standIn);
    const week = { start: '2024-01-07', stop: '2024-01-14' };
    assert.deepEqual(await target.rowsPerDay(BNT_HOURLY_TRAFFIC, week), [
      { day: '2024-01-07', rows: 480 },
      { day: '2024-01-09', rows: 12 },
    ]);
    const statement = standIn.statements.find((s) => /^SELECT CAST/.test(s.statement));
    assert.match(
      statement?.statement ?? '',
      /COUNT\(\*\) AS row_count FROM .* GROUP BY CAST\(CAST\(`date` AS DATE\) AS STRING\) ORDER BY day$/,
    );
    assert.equal(
      statement?.queryTags,
      'app:bnt-hourly-traffic,dataset:bnt-hourly-traffic,purpose:rows-per-day,window:2024-01-07_2024-01-14',
    );
    standIn.onStatement(/^SELECT CAST/, {
      error: { errorClass: 'TABLE_OR_VIEW_NOT_FOUND', message: 'The table cannot be found.', sqlState: '42P01' },
    });
    assert.deepEqual(await target.rowsPerDay(BNT_HOURLY_TRAFFIC, week), []);
  }));

test('counting a table that was never created answers zero; any other failure of the count is thrown', () =>
  withStandIn(async (standIn) => {
    const notFound = {
      errorClass: 'TABLE_OR_VIEW_NOT_FOUND',
      message: 'The table or view `lakehouse`.`bronze`.`bnt_traffic_hourly` cannot be found.',
      sqlState: '42P01',
    };
    standIn.onStatement(/^SELECT/, { error: notFound });
    const target = warehouse(standIn);
    const week = { start: '2024-01-07', stop: '2024-01-14' };
    assert.equal(await target.rowsInWindow(BNT_HOURLY_TRAFFIC, week), 0);
    standIn.onStatement(/^SELECT/, { refused: notFound });
    assert.deepEqual(await target.rowsPerDay(BNT_HOURLY_TRAFFIC, week), []);
    standIn.onStatement(/^SELECT/, {
      error: {
        errorClass: 'INSUFFICIENT_PERMISSIONS',
        message: 'User does not have SELECT on Table.',
        sqlState: '42501',
      },
    });
    await assert.rejects(target.rowsInWindow(BNT_HOURLY_TRAFFIC, week), /INSUFFICIENT_PERMISSIONS/);
  }));

test('the port’s signal reaches the warehouse: aborting a load cancels its MERGE', () =>
  withStandIn(async (standIn) => {
    standIn.onStatement(/^MERGE/, { runningUntil: () => false });
    const controller = new AbortController();
    const loading = warehouse(standIn).loadWindows(BNT_HOURLY_TRAFFIC, WEEKS, STAGE, controller.signal);
    await standIn.until(() => standIn.callsOf('GetOperationStatus').length >= 2);
    controller.abort(new Error('lost the lock locks/bnt-hourly-traffic/table'));
    await assert.rejects(loading, /lost the lock/);
    assert.equal(standIn.cancelled.length, 1);
    assert.match(standIn.cancelled[0] ?? '', /^MERGE INTO/);
    assert.equal(standIn.sessions[0]?.closed, true);
  }));

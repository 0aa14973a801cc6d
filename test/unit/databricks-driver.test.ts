import assert from 'node:assert/strict';
import { test } from 'node:test';

import { THTTPException } from '@databricks/sql/dist/connection/connections/ThriftHttpConnection';
import OperationStateError, { OperationStateErrorCode } from '@databricks/sql/dist/errors/OperationStateError';
import RetryError, { RetryErrorCode } from '@databricks/sql/dist/errors/RetryError';
import StatusError from '@databricks/sql/dist/errors/StatusError';

import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { describeError } from '../../src/common/errors';
import type { RetryPolicy } from '../../src/common/retry';
import type { StageStore } from '../../src/pipeline/ports';
import {
  DATABRICKS_ENTRA_SCOPE,
  type DatabricksAuth,
  type DatabricksConnection,
  type DatabricksConnector,
  isTransientDatabricksError,
  runStatements,
} from '../../src/warehouse/databricks-driver';
import { DatabricksWarehouse } from '../../src/warehouse/databricks';
import { FakeDatabricks, fakeCredential } from '../support/fake-databricks';

const TINY_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

function connection(fake: FakeDatabricks, overrides: Partial<DatabricksConnection> = {}): DatabricksConnection {
  return {
    host: 'adb-1234567890123456.7.azuredatabricks.net',
    httpPath: '/sql/1.0/warehouses/abc123def456',
    auth: { type: 'pat', token: 'dapi-test-token' },
    statementTimeoutSeconds: 600,
    retry: TINY_RETRY,
    connector: fake,
    ...overrides,
  };
}

const coldStart = () => new THTTPException({ status: 503 });
const sqlError = (message: string) =>
  new OperationStateError(OperationStateErrorCode.Error, {
    status: { statusCode: 3 },
    displayMessage: message,
  });

test('statements run in order in one session after the timeout SET, and operation, session and client are closed', async () => {
  const fake = new FakeDatabricks({ rows: { SELECT: [{ row_count: 7 }] } });
  const results = await runStatements(connection(fake), [
    'CREATE TABLE t (a INT)',
    'SELECT COUNT(*) AS row_count FROM t',
  ]);
  assert.deepEqual(fake.events, [
    'connect',
    'openSession',
    'execute SET STATEMENT_TIMEOUT = 600',
    'fetchAll',
    'operation.close',
    'execute CREATE TABLE t (a INT)',
    'fetchAll',
    'operation.close',
    'execute SELECT COUNT(*) AS row_count FROM t',
    'fetchAll',
    'operation.close',
    'session.close',
    'client.close',
  ]);
  assert.deepEqual(results, [[], [{ row_count: 7 }]], 'results are for the caller’s statements only, not the SET');
});

test('the driver is asked for the host, path and token with telemetry off', async () => {
  const fake = new FakeDatabricks();
  await runStatements(connection(fake), ['SELECT 1']);
  assert.deepEqual(fake.connections, [
    {
      host: 'adb-1234567890123456.7.azuredatabricks.net',
      path: '/sql/1.0/warehouses/abc123def456',
      token: 'dapi-test-token',
      telemetryEnabled: false,
    },
  ]);
});

test('a cold start is retried: connect fails twice with transient errors, then the statements run once', async () => {
  const progress: string[] = [];
  const fake = new FakeDatabricks({ connectFailures: [coldStart(), new RetryError(RetryErrorCode.AttemptsExceeded)] });
  await runStatements(connection(fake, { progress: (message) => progress.push(message) }), [
    'MERGE INTO t USING s ON true',
  ]);
  assert.equal(fake.connections.length, 3);
  assert.deepEqual(fake.executed, ['SET STATEMENT_TIMEOUT = 600', 'MERGE INTO t USING s ON true']);
  assert.equal(progress.filter((message) => message.includes('retrying')).length, 2);
  assert.match(progress.find((message) => message.includes('attempt 2 of 3')) ?? '', /bad HTTP status code: 503/);
});

test('every session starts with the timeout SET, including the one a retry opens', async () => {
  const fake = new FakeDatabricks();
  let failedOnce = false;
  const flaky: DatabricksConnector = {
    async connect(options) {
      const client = await fake.connect(options);
      return {
        close: () => client.close(),
        openSession: async () => {
          const session = await client.openSession();
          if (failedOnce) return session;
          failedOnce = true;
          return {
            close: () => session.close(),
            executeStatement: async (statement) => {
              if (statement.startsWith('MERGE'))
                throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
              return session.executeStatement(statement);
            },
          };
        },
      };
    },
  };
  await runStatements(connection(fake, { connector: flaky }), ['MERGE INTO t USING s ON true']);
  assert.deepEqual(fake.executed, [
    'SET STATEMENT_TIMEOUT = 600',
    'SET STATEMENT_TIMEOUT = 600',
    'MERGE INTO t USING s ON true',
  ]);
  assert.equal(fake.events.filter((event) => event === 'client.close').length, 2);
  assert.equal(fake.events.filter((event) => event === 'session.close').length, 2);
});

test('a SQL error is not retried, names the statement, and session and client are still closed', async () => {
  const fake = new FakeDatabricks({
    executeFailures: {
      CREATE: [
        new StatusError({
          statusCode: 3,
          errorMessage: "[PARSE_SYNTAX_ERROR] Syntax error at or near 'TABEL'. SQLSTATE: 42601",
        }),
      ],
    },
  });
  await assert.rejects(runStatements(connection(fake), ['CREATE TABEL t (a INT)', 'SELECT 1']), (error: Error) => {
    assert.match(
      error.message,
      /^Databricks statement 2 of 3 \(CREATE TABEL t \(a INT\)\) failed: \[PARSE_SYNTAX_ERROR\]/,
    );
    assert.ok(!describeError(error).includes('[object Object]'));
    return true;
  });
  assert.equal(fake.connections.length, 1);
  assert.deepEqual(fake.events.slice(-3), ['execute CREATE TABEL t (a INT)', 'session.close', 'client.close']);
  assert.ok(!fake.executed.includes('SELECT 1'), 'nothing runs after a failed statement');
});

test('when fetchAll throws, the operation, session and client are all closed', async () => {
  const fake = new FakeDatabricks({
    fetchFailures: {
      MERGE: [
        sqlError(
          '[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have MODIFY on Table. SQLSTATE: 42501',
        ),
      ],
    },
  });
  await assert.rejects(runStatements(connection(fake), ['MERGE INTO t USING s ON true']), /INSUFFICIENT_PERMISSIONS/);
  assert.equal(fake.connections.length, 1, 'a permission error is not retried');
  assert.deepEqual(fake.events.slice(-5), [
    'execute MERGE INTO t USING s ON true',
    'fetchAll',
    'operation.close',
    'session.close',
    'client.close',
  ]);
});

test('a transient failure during a statement is retried and still closes what that attempt opened', async () => {
  // The MERGE's first fetch fails as a warehouse under strain answers; the retry's fetch succeeds.
  const fake = new FakeDatabricks({
    fetchFailures: { MERGE: [new Error('[TEMPORARILY_UNAVAILABLE] The service is temporarily unavailable')] },
  });
  await runStatements(connection(fake), ['MERGE INTO t USING s ON true']);
  assert.equal(fake.connections.length, 2);
  assert.equal(fake.events.filter((event) => event === 'operation.close').length, 4);
  assert.deepEqual(fake.events.slice(-2), ['session.close', 'client.close']);
});

test('Entra auth asks the credential for the Azure Databricks scope on each connection and passes the token on', async () => {
  const credential = fakeCredential('entra-token-for-test');
  const fake = new FakeDatabricks({ connectFailures: [coldStart()] });
  await runStatements(connection(fake, { auth: { type: 'entra', credential } }), ['SELECT 1']);
  assert.equal(DATABRICKS_ENTRA_SCOPE, '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default');
  assert.deepEqual(credential.scopes, [DATABRICKS_ENTRA_SCOPE, DATABRICKS_ENTRA_SCOPE]);
  assert.deepEqual(
    fake.connections.map((options) => options.token),
    ['entra-token-for-test', 'entra-token-for-test'],
  );
});

test('a token never appears in a thrown error, even when the driver puts it in its message', async () => {
  const secret = 'entra-token-which-must-not-leak';
  const auth: DatabricksAuth = { type: 'entra', credential: fakeCredential(secret) };
  const progress: string[] = [];
  const leakyPermanent = new FakeDatabricks({ connectFailures: [new Error(`401 Unauthorized for Bearer ${secret}`)] });
  await assert.rejects(runStatements(connection(leakyPermanent, { auth }), ['SELECT 1']), (error: Error) => {
    assert.ok(!describeError(error).includes(secret), describeError(error));
    assert.ok(!(error.stack ?? '').includes(secret));
    assert.match(error.message, /401 Unauthorized for Bearer <redacted>/);
    return true;
  });
  const leakyTransient = new FakeDatabricks({
    connectFailures: [1, 2, 3].map(() => new Error(`503 Service Unavailable (token ${secret})`)),
  });
  await assert.rejects(
    runStatements(connection(leakyTransient, { auth, progress: (message) => progress.push(message) }), ['SELECT 1']),
    (error: Error) => !describeError(error).includes(secret) && !(error.stack ?? '').includes(secret),
  );
  assert.equal(progress.length > 0, true);
  assert.ok(
    progress.every((message) => !message.includes(secret)),
    'progress messages carry no token',
  );
});

test('it gives up after the policy’s attempts with a message saying so', async () => {
  const fake = new FakeDatabricks({ connectFailures: [coldStart(), coldStart(), coldStart(), coldStart()] });
  await assert.rejects(
    runStatements(connection(fake), ['SELECT 1']),
    /running 1 statement\(s\) on Databricks adb-1234567890123456\.7\.azuredatabricks\.net\/sql\/1\.0\/warehouses\/abc123def456 failed after 3 attempts \(limit: 3 attempts\): Received a response with a bad HTTP status code: 503/,
  );
  assert.equal(fake.connections.length, 3);
});

test('transient: cold start, throttling, 5xx, driver retries exhausted, network resets; not: SQL, auth, DNS typos, timeouts', () => {
  const transient: unknown[] = [
    new THTTPException({ status: 503 }),
    new THTTPException({ status: 429 }),
    new THTTPException({ status: 502 }),
    new RetryError(RetryErrorCode.TimeoutExceeded),
    Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    Object.assign(new Error('connect ETIMEDOUT 10.0.0.1:443'), { code: 'ETIMEDOUT' }),
    new Error('socket hang up'),
    new Error('Request timed out'),
    new Error('[TEMPORARILY_UNAVAILABLE] The SQL warehouse is starting'),
    sqlError('[TEMPORARILY_UNAVAILABLE] The warehouse is starting, please retry'),
    new Error('Databricks statement 2 of 2 (MERGE …) failed: wrapped', {
      cause: new THTTPException({ status: 503 }),
    }),
  ];
  const permanent: unknown[] = [
    sqlError("[PARSE_SYNTAX_ERROR] Syntax error at or near 'MERGE'. SQLSTATE: 42601"),
    sqlError('[TABLE_OR_VIEW_NOT_FOUND] The table or view `main`.`bronze`.`x` cannot be found. SQLSTATE: 42P01'),
    new StatusError({
      statusCode: 3,
      errorMessage: 'PERMISSION_DENIED: User does not have USE CATALOG on Catalog main',
    }),
    new Error('permission denied for storage location abfss://stage@mtastage.dfs.core.windows.net/'),
    new THTTPException({ status: 401 }),
    new THTTPException({ status: 403 }),
    new THTTPException({ status: 501 }),
    Object.assign(new Error('getaddrinfo ENOTFOUND adb-typo.azuredatabricks.net'), { code: 'ENOTFOUND' }),
    new OperationStateError(OperationStateErrorCode.Timeout),
    new OperationStateError(OperationStateErrorCode.Canceled),
    new Error('something nobody has seen before'),
    new Error('wrapped', { cause: sqlError('[PARSE_SYNTAX_ERROR] 503 Service Unavailable in a string literal') }),
  ];
  for (const error of transient) assert.equal(isTransientDatabricksError(error), true, describeError(error));
  for (const error of permanent) assert.equal(isTransientDatabricksError(error), false, describeError(error));
});

test('the warehouse runs exactly what it plans: SET + CREATE in one session, SET + MERGE in another', async () => {
  const fake = new FakeDatabricks();
  const warehouse = new DatabricksWarehouse({
    host: 'adb-1234567890123456.7.azuredatabricks.net',
    httpPath: '/sql/1.0/warehouses/abc123def456',
    auth: { type: 'pat', token: 'dapi-test-token' },
    catalog: 'main',
    schema: 'bronze',
    format: 'delta-uniform',
    retry: TINY_RETRY,
    connect: fake,
  });
  const stage = { location: { kind: 'azure', accountName: 'mtastage', container: 'stage' } } as StageStore;
  const windows = [
    {
      window: { start: '2024-01-07', stop: '2024-01-14' },
      parts: ['stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl'],
    },
  ];
  await warehouse.ensureTable(BNT_HOURLY_TRAFFIC);
  await warehouse.loadWindows(BNT_HOURLY_TRAFFIC, windows, stage);
  assert.deepEqual(fake.executed, warehouse.planStatements(BNT_HOURLY_TRAFFIC, windows, stage.location));
  assert.equal(fake.events.filter((event) => event === 'openSession').length, 2);
});

test('rowsInWindow counts the window’s rows with the shared count statement', async () => {
  const fake = new FakeDatabricks({ rows: { SELECT: [{ row_count: 1344 }] } });
  const warehouse = new DatabricksWarehouse({
    host: 'adb-1234567890123456.7.azuredatabricks.net',
    httpPath: '/sql/1.0/warehouses/abc123def456',
    auth: { type: 'pat', token: 'dapi-test-token' },
    catalog: 'main',
    schema: 'bronze',
    format: 'iceberg',
    connect: fake,
  });
  assert.equal(await warehouse.rowsInWindow(BNT_HOURLY_TRAFFIC, { start: '2024-01-07', stop: '2024-01-14' }), 1344);
  assert.deepEqual(fake.executed, [
    'SET STATEMENT_TIMEOUT = 3600',
    "SELECT COUNT(*) AS row_count FROM `main`.`bronze`.`bnt_traffic_hourly` WHERE `date` >= DATE '2024-01-07' AND `date` < DATE '2024-01-14'",
  ]);
});

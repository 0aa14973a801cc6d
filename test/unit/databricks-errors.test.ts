/**
 * Which failures are worth another attempt, decided from what the real driver surfaces: every case is produced
 * by the loopback Thrift stand-in answering the real `@databricks/sql` client the way a warehouse does. A
 * transient case must be retried (the second attempt succeeds); a terminal one must fail after one attempt.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TStatusCode } from '@databricks/sql/thrift/TCLIService_types';

import { describeError, errorKind } from '../../src/common/errors';
import { type DatabricksConnection, databricksConnector, runStatements } from '../../src/warehouse/databricks-driver';
import { DatabricksStandIn, type StatementError } from '../support/databricks-standin';

const MERGE = 'MERGE INTO lakehouse.bronze.t USING s ON t.k = s.k WHEN NOT MATCHED THEN INSERT *';
const SELECT = 'SELECT COUNT(*) AS row_count FROM lakehouse.bronze.t';

interface Case {
  readonly name: string;
  readonly kind: 'transient' | 'terminal';
  /** What the error says, so the case proves the shape it claims. */
  readonly says: RegExp;
  readonly arrange: (standIn: DatabricksStandIn) => void;
  readonly statement?: string;
  readonly connection?: (standIn: DatabricksStandIn) => Partial<DatabricksConnection>;
  /** Only the kind is checked: the fault cannot be limited to one attempt (the driver keeps retrying by time). */
  readonly kindOnly?: boolean;
}

const failing = (error: StatementError) => (standIn: DatabricksStandIn) =>
  standIn.onStatement(/^(MERGE|SELECT)/, { error });
const refusing = (error: StatementError) => (standIn: DatabricksStandIn) =>
  standIn.onStatement(/^(MERGE|SELECT)/, { refused: error });
const conflict = (errorClass: string, message: string): Case['arrange'] =>
  failing({ errorClass, message, sqlState: '2D521' });

/** The driver's own retries get 3 attempts in these tests; a fault on all of them exhausts them. */
const DRIVER_ATTEMPTS = 3;

const CASES: readonly Case[] = [
  // A warehouse that is stopped, starting, overloaded or briefly unreachable
  {
    name: 'OpenSession answered HTTP 503 (a stopped warehouse starting up)',
    kind: 'transient',
    says: /bad HTTP status code: 503/,
    arrange: (standIn) => standIn.failCall('OpenSession', { kind: 'http', status: 503 }),
  },
  {
    name: 'every poll answered HTTP 503 until the driver gave up ("Max retry count exceeded")',
    kind: 'transient',
    says: /Hive driver: 503 when connecting to resource\. Max retry count exceeded/,
    arrange: (standIn) =>
      standIn.failCall('GetOperationStatus', { kind: 'http', status: 503 }, DRIVER_ATTEMPTS, { after: 1 }),
  },
  {
    name: 'every poll answered HTTP 503 until the driver ran out of time ("Retry timeout exceeded")',
    kind: 'transient',
    says: /Hive driver: 503 when connecting to resource\. Retry timeout exceeded/,
    arrange: (standIn) => standIn.failCall('GetOperationStatus', { kind: 'http', status: 503 }, 1_000, { after: 1 }),
    connection: (standIn) => ({ connector: standIn.connector({ retriesTimeout: 1, retryMaxAttempts: 1_000 }) }),
    kindOnly: true,
  },
  {
    name: 'ExecuteStatement answered HTTP 429 (throttled)',
    kind: 'transient',
    says: /bad HTTP status code: 429/,
    arrange: (standIn) =>
      standIn.failCall('ExecuteStatement', { kind: 'http', status: 429, retryAfterSeconds: 1 }, 1, { after: 1 }),
  },
  {
    name: 'every result-metadata call answered HTTP 429 until the driver gave up',
    kind: 'transient',
    says: /Hive driver: 429 when connecting to resource\. Max retry count exceeded/,
    arrange: (standIn) =>
      standIn.failCall('GetResultSetMetadata', { kind: 'http', status: 429 }, DRIVER_ATTEMPTS, { after: 1 }),
  },
  {
    name: 'FetchResults answered HTTP 502',
    kind: 'transient',
    says: /bad HTTP status code: 502/,
    statement: SELECT,
    arrange: (standIn) => {
      standIn.onStatement(/^SELECT/, { rows: [{ row_count: 3360 }] }, 2);
      standIn.failCall('FetchResults', { kind: 'http', status: 502 }, 1, { after: 1 });
    },
  },
  {
    name: 'OpenSession answered HTTP 504 (a gateway timeout)',
    kind: 'transient',
    says: /bad HTTP status code: 504/,
    arrange: (standIn) => standIn.failCall('OpenSession', { kind: 'http', status: 504 }),
  },
  {
    name: 'the connection was reset during OpenSession',
    kind: 'transient',
    says: /socket hang up|ECONNRESET/,
    arrange: (standIn) => standIn.failCall('OpenSession', { kind: 'reset' }),
  },
  {
    name: 'every poll lost its connection until the driver gave up ("Error when connecting")',
    kind: 'transient',
    says: /Hive driver: Error when connecting to resource\. Max retry count exceeded/,
    arrange: (standIn) => standIn.failCall('GetOperationStatus', { kind: 'reset' }, DRIVER_ATTEMPTS, { after: 1 }),
  },
  {
    name: 'ERROR_STATUS: the session handle has not been initialized or had already closed (a pro/classic warehouse starting)',
    kind: 'transient',
    says: /has not been initialized or had already closed/,
    arrange: (standIn) =>
      standIn.failCall(
        'ExecuteStatement',
        {
          kind: 'status',
          message:
            'Session handle 01ef2c4a-5d6e-1a2b-9c3d-4e5f6a7b8c9d has not been initialized or had already closed.',
        },
        1,
        { after: 1 },
      ),
  },
  {
    name: 'INVALID_HANDLE_STATUS: the warehouse restarted and forgot the session',
    kind: 'transient',
    says: /Invalid SessionHandle/,
    arrange: (standIn) =>
      standIn.failCall(
        'GetOperationStatus',
        {
          kind: 'status',
          statusCode: TStatusCode.INVALID_HANDLE_STATUS,
          message: 'Invalid SessionHandle: SessionHandle [01ef2c4a-5d6e-1a2b-9c3d-4e5f6a7b8c9d]',
        },
        1,
        { after: 1 },
      ),
  },
  // Commit conflicts: another commit to the table won; the idempotent MERGE can run again
  {
    name: 'DELTA_CONCURRENT_APPEND (SQLSTATE 2D521)',
    kind: 'transient',
    says: /\[DELTA_CONCURRENT_APPEND\]/,
    arrange: conflict(
      'DELTA_CONCURRENT_APPEND',
      'ConcurrentAppendException: Files were added to the root of the table by a concurrent update. Please try the operation again.',
    ),
  },
  {
    name: 'DELTA_CONCURRENT_DELETE_READ (SQLSTATE 2D521): a background OPTIMIZE during the MERGE',
    kind: 'transient',
    says: /\[DELTA_CONCURRENT_DELETE_READ\]/,
    arrange: conflict(
      'DELTA_CONCURRENT_DELETE_READ',
      'ConcurrentDeleteReadException: This transaction attempted to read one or more files that were deleted (for example part-00000.parquet) by a concurrent update.',
    ),
  },
  {
    name: 'DELTA_CONCURRENT_DELETE_DELETE (SQLSTATE 2D521)',
    kind: 'transient',
    says: /\[DELTA_CONCURRENT_DELETE_DELETE\]/,
    arrange: conflict(
      'DELTA_CONCURRENT_DELETE_DELETE',
      'ConcurrentDeleteDeleteException: This transaction attempted to delete one or more files that were deleted by a concurrent update.',
    ),
  },
  {
    name: 'DELTA_CONCURRENT_TRANSACTION (SQLSTATE 2D521)',
    kind: 'transient',
    says: /\[DELTA_CONCURRENT_TRANSACTION\]/,
    arrange: conflict(
      'DELTA_CONCURRENT_TRANSACTION',
      'ConcurrentTransactionException: This error occurs when multiple streaming queries are using the same checkpoint.',
    ),
  },
  {
    name: 'DELTA_METADATA_CHANGED (SQLSTATE 2D521)',
    kind: 'transient',
    says: /\[DELTA_METADATA_CHANGED\]/,
    arrange: conflict(
      'DELTA_METADATA_CHANGED',
      'MetadataChangedException: The metadata of the Delta table has been changed by a concurrent update.',
    ),
  },
  {
    name: 'DELTA_PROTOCOL_CHANGED.CONFLICTING_COMMIT (SQLSTATE 2D521)',
    kind: 'transient',
    says: /\[DELTA_PROTOCOL_CHANGED\.CONFLICTING_COMMIT\]/,
    arrange: conflict(
      'DELTA_PROTOCOL_CHANGED.CONFLICTING_COMMIT',
      'ProtocolChangedException: The protocol version of the Delta table has been changed by a concurrent update.',
    ),
  },
  {
    name: 'a commit conflict known only by its SQLSTATE 2D521 (e.g. a managed Iceberg table)',
    kind: 'transient',
    says: /SQLSTATE: 2D521/,
    arrange: conflict('CONCURRENT_COMMIT_CONFLICT', 'The commit conflicted with a concurrent commit to the table.'),
  },
  {
    name: "Apache Iceberg's CommitFailedException without a SQLSTATE of its own",
    kind: 'transient',
    says: /CommitFailedException/,
    arrange: (standIn) =>
      standIn.onStatement(/^MERGE/, {
        refused: {
          errorClass: 'INTERNAL_ERROR',
          message:
            'org.apache.iceberg.exceptions.CommitFailedException: Requirement failed: branch main has changed: expected id 2 != 3',
          sqlState: 'XX000',
        },
      }),
  },
  // The same statement would fail the same way again
  {
    name: 'OpenSession answered HTTP 401 (a token the workspace does not accept)',
    kind: 'terminal',
    says: /bad HTTP status code: 401/,
    arrange: (standIn) => standIn.failCall('OpenSession', { kind: 'http', status: 401 }),
  },
  {
    name: 'ExecuteStatement answered HTTP 403 (no CAN USE on the warehouse)',
    kind: 'terminal',
    says: /bad HTTP status code: 403/,
    arrange: (standIn) => standIn.failCall('ExecuteStatement', { kind: 'http', status: 403 }, 1, { after: 1 }),
  },
  {
    name: 'HTTP 404: a warehouse id that does not exist',
    kind: 'terminal',
    says: /bad HTTP status code: 404/,
    arrange: () => undefined,
    connection: () => ({ httpPath: '/sql/1.0/warehouses/doesnotexist0000' }),
  },
  {
    name: "the warehouse's certificate does not verify",
    kind: 'terminal',
    says: /self-signed certificate/,
    arrange: () => undefined,
    connection: (standIn) => ({ connector: databricksConnector({ port: standIn.port }) }),
  },
  {
    name: 'INSUFFICIENT_PERMISSIONS (SQLSTATE 42501) on the table',
    kind: 'terminal',
    says: /\[INSUFFICIENT_PERMISSIONS\]/,
    arrange: failing({
      errorClass: 'INSUFFICIENT_PERMISSIONS',
      message: 'Insufficient privileges: User does not have MODIFY on Table `lakehouse`.`bronze`.`t`.',
      sqlState: '42501',
    }),
  },
  {
    name: 'INSUFFICIENT_PERMISSIONS (SQLSTATE 42501) on the external location read_files reads',
    kind: 'terminal',
    says: /READ FILES/,
    arrange: refusing({
      errorClass: 'INSUFFICIENT_PERMISSIONS',
      message: "Insufficient privileges: User does not have READ FILES on External Location 'mtademo_stage'.",
      sqlState: '42501',
    }),
  },
  {
    name: 'PARSE_SYNTAX_ERROR (SQLSTATE 42601), refused at submission',
    kind: 'terminal',
    says: /\[PARSE_SYNTAX_ERROR\]/,
    arrange: refusing({
      errorClass: 'PARSE_SYNTAX_ERROR',
      message: "Syntax error at or near 'INTO'.",
      sqlState: '42601',
    }),
  },
  {
    name: 'TABLE_OR_VIEW_NOT_FOUND (SQLSTATE 42P01)',
    kind: 'terminal',
    says: /\[TABLE_OR_VIEW_NOT_FOUND\]/,
    arrange: failing({
      errorClass: 'TABLE_OR_VIEW_NOT_FOUND',
      message: 'The table or view `lakehouse`.`bronze`.`t` cannot be found.',
      sqlState: '42P01',
    }),
  },
  {
    name: 'SCHEMA_NOT_FOUND (SQLSTATE 42704)',
    kind: 'terminal',
    says: /\[SCHEMA_NOT_FOUND\]/,
    arrange: failing({
      errorClass: 'SCHEMA_NOT_FOUND',
      message: 'The schema `lakehouse`.`bronze` cannot be found.',
      sqlState: '42704',
    }),
  },
  {
    name: 'NO_SUCH_CATALOG_EXCEPTION (SQLSTATE 42704): a catalog such as main that does not exist',
    kind: 'terminal',
    says: /\[NO_SUCH_CATALOG_EXCEPTION\]/,
    arrange: failing({
      errorClass: 'NO_SUCH_CATALOG_EXCEPTION',
      message: "Catalog 'main' was not found.",
      sqlState: '42704',
    }),
  },
  {
    name: 'a statement that ran past its STATEMENT_TIMEOUT (TIMEDOUT_STATE)',
    kind: 'terminal',
    says: /timed out/,
    arrange: (standIn) => standIn.onStatement(/^MERGE/, { timedOut: true }),
  },
  {
    name: 'a timeout reported as an error of its own class',
    kind: 'terminal',
    says: /TIMEOUT/,
    arrange: failing({
      errorClass: 'QUERY_EXECUTION_TIMEOUT_EXCEEDED',
      message: 'Query execution was cancelled due to exceeding the timeout (1800s).',
      sqlState: '57KD0',
    }),
  },
  {
    name: 'a statement cancelled by someone else (CANCELED_STATE)',
    kind: 'terminal',
    says: /canceled/,
    arrange: (standIn) => standIn.onStatement(/^MERGE/, { cancelledElsewhere: true }),
  },
  {
    name: 'DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE (SQLSTATE 21506): data the MERGE refuses',
    kind: 'terminal',
    says: /\[DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE\]/,
    arrange: failing({
      errorClass: 'DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE',
      message: 'Cannot perform Merge as multiple source rows matched and attempted to modify the same target row.',
      sqlState: '21506',
    }),
  },
  {
    name: 'MALFORMED_RECORD_IN_PARSING (SQLSTATE 22023): read_files in FAILFAST mode met a bad line',
    kind: 'terminal',
    says: /\[MALFORMED_RECORD_IN_PARSING\b/,
    arrange: failing({
      errorClass: 'MALFORMED_RECORD_IN_PARSING.WITHOUT_SUGGESTION',
      message: 'Malformed records are detected in record parsing: [null]. Parse Mode: FAILFAST.',
      sqlState: '22023',
    }),
  },
  {
    name: 'a syntax error whose text happens to mention 503 and a concurrent append',
    kind: 'terminal',
    says: /\[PARSE_SYNTAX_ERROR\]/,
    arrange: refusing({
      errorClass: 'PARSE_SYNTAX_ERROR',
      message: "Syntax error at or near '503 Service Unavailable DELTA_CONCURRENT_APPEND'.",
      sqlState: '42601',
    }),
  },
  {
    name: 'an error nobody has seen before',
    kind: 'terminal',
    says: /\[INTERNAL_ERROR\]/,
    arrange: failing({ errorClass: 'INTERNAL_ERROR', message: 'Something unexpected happened.', sqlState: 'XX000' }),
  },
];

for (const scenario of CASES) {
  test(`${scenario.kind}: ${scenario.name}`, async () => {
    const standIn = await DatabricksStandIn.start();
    try {
      scenario.arrange(standIn);
      const progress: string[] = [];
      const connection: DatabricksConnection = {
        host: standIn.host,
        httpPath: standIn.httpPath,
        auth: { type: 'pat', token: 'dapi-test-token' },
        retry: { attempts: scenario.kindOnly ? 1 : 2, baseDelayMs: 1, maxDelayMs: 2 },
        connector: standIn.connector(),
        progress: (message) => progress.push(message),
        ...scenario.connection?.(standIn),
      };
      const run = runStatements(connection, [scenario.statement ?? MERGE], { timeoutSeconds: 600 });
      if (scenario.kind === 'transient' && !scenario.kindOnly) {
        await run;
        const retries = progress.filter((message) => message.includes('retrying'));
        assert.equal(retries.length, 1, 'retried once, and the second attempt succeeded');
        assert.match(retries[0] ?? '', scenario.says);
        assert.equal(standIn.callsOf('OpenSession').length, 2);
        return;
      }
      await assert.rejects(run, (error) => {
        assert.equal(errorKind(error), scenario.kind, describeError(error));
        assert.match(describeError(error), scenario.says);
        return true;
      });
      if (scenario.kind === 'terminal') {
        assert.ok(standIn.callsOf('OpenSession').length <= 1, 'a terminal failure is not retried');
      }
    } finally {
      await standIn.close();
    }
  });
}

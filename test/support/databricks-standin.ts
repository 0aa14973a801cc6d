/**
 * A loopback stand-in for a Databricks SQL warehouse at the wire, so the real `DBSQLClient` of `@databricks/sql`
 * runs in `npm test`: HTTPS on 127.0.0.1 (a certificate made at test time, trusted only by the connectors this
 * file hands out), Thrift binary protocol over HTTP POST, decoded and encoded with the TCLIService definitions
 * the driver itself ships.
 *
 * What it imitates, read from the driver's source and what a SQL warehouse answers:
 *  - OpenSession (protocol V8, a random session handle), ExecuteStatement (every statement runs asynchronously:
 *    the handle comes back with the operation still running unless direct results are switched on),
 *    GetOperationStatus, GetResultSetMetadata and FetchResults (results as inline Arrow IPC, which is what a
 *    warehouse sends a V8 client that can read Arrow), CancelOperation, CloseOperation, CloseSession;
 *  - every statement has a result set, as on a warehouse (DDL's has no columns); SET answers key/value, MERGE its
 *    four counts;
 *  - a failed statement ends in ERROR_STATE with the SQLSTATE in `sqlState` and the message formatted as
 *    Databricks does (`[ERROR_CLASS] text SQLSTATE: 42P01`), the long form in `errorMessage`;
 *  - a refused call answers its TStatus with ERROR_STATUS (or INVALID_HANDLE_STATUS) and the message;
 *  - a cancelled operation reports CANCELED_STATE; an unknown session or operation handle is refused.
 * Scripted faults on top: HTTP statuses (503, 429, 401…) or a reset connection on any call, ERROR_STATUS answers,
 * statements that fail, time out, or keep running until a condition holds or they are cancelled.
 *
 * It records every call with its Authorization and User-Agent headers, every statement with its session and
 * query tags, and cancellations and closes, so tests check what reached the warehouse.
 *
 * Known differences from a real warehouse: no SQL is parsed or run (answers are scripted by pattern), no result
 * is ever large enough for CloudFetch links or several batches, no LZ4, tokens are recorded but never validated.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Int64, TBinaryProtocol, TBufferedTransport } from 'thrift';
import { Int64 as ArrowInt64, Schema, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { Processor } from '@databricks/sql/thrift/TCLIService';
import {
  TCancelOperationResp,
  TCloseOperationResp,
  TCloseSessionResp,
  TExecuteStatementResp,
  TFetchResultsResp,
  TGetOperationStatusResp,
  TGetResultSetMetadataResp,
  TOpenSessionResp,
  TOperationState,
  TOperationType,
  TProtocolVersion,
  TSparkRowSetType,
  TStatusCode,
  TTypeId,
} from '@databricks/sql/thrift/TCLIService_types';
import type {
  TCancelOperationReq,
  TCloseOperationReq,
  TCloseSessionReq,
  TExecuteStatementReq,
  TFetchResultsReq,
  TGetOperationStatusReq,
  TGetResultSetMetadataReq,
  TOpenSessionReq,
  TOperationHandle,
  TSessionHandle,
  TStatus,
} from '@databricks/sql/thrift/TCLIService_types';
import {
  type DatabricksConnector,
  type DriverSettings,
  databricksConnector,
} from '../../src/warehouse/databricks-driver';
import { testCertificate } from './test-certificate';

export const STANDIN_HTTP_PATH = '/sql/1.0/warehouses/standin0123456789';

/** The calls the driver makes for a statement's life, and the ones a fault can be put on. */
export type ThriftCall =
  | 'OpenSession'
  | 'CloseSession'
  | 'ExecuteStatement'
  | 'GetOperationStatus'
  | 'GetResultSetMetadata'
  | 'FetchResults'
  | 'CancelOperation'
  | 'CloseOperation';

export type CallFault =
  /** The HTTP layer answers this status instead of the call (a starting warehouse's 503, throttling's 429). */
  | { readonly kind: 'http'; readonly status: number; readonly retryAfterSeconds?: number }
  /** The connection is dropped before any answer. */
  | { readonly kind: 'reset' }
  /** The call is answered, with an error status: what the warehouse says when it refuses the call itself. */
  | {
      readonly kind: 'status';
      readonly message: string;
      readonly sqlState?: string;
      readonly statusCode?: TStatusCode.ERROR_STATUS | TStatusCode.INVALID_HANDLE_STATUS;
    };

/** A statement's failure as the warehouse reports it: `[errorClass] message SQLSTATE: sqlState`. */
export interface StatementError {
  readonly errorClass: string;
  readonly message: string;
  readonly sqlState: string;
}

export type Cell = string | number | null;
export type Row = Readonly<Record<string, Cell>>;

export interface StatementScript {
  /** Rows returned; numbers are BIGINT and strings STRING, as COUNT(*) and CAST(… AS STRING) give. */
  readonly rows?: readonly Row[];
  /** The operation ends in ERROR_STATE with this error. */
  readonly error?: StatementError;
  /** ExecuteStatement itself answers ERROR_STATUS with this error, as for a statement that does not parse. */
  readonly refused?: StatementError;
  /** The operation ends in TIMEDOUT_STATE, as a statement that ran past its STATEMENT_TIMEOUT. */
  readonly timedOut?: boolean;
  /** The operation ends in CANCELED_STATE, as when someone cancels it from query history. */
  readonly cancelledElsewhere?: boolean;
  /** The operation keeps RUNNING until this holds (asked on every status poll), or until it is cancelled. */
  readonly runningUntil?: () => boolean;
  /** Says at submission that there is no result set, as some servers do for statements without output. */
  readonly noResultSet?: boolean;
}

export interface RecordedCall {
  readonly call: ThriftCall | 'unknown';
  readonly authorization: string | undefined;
  readonly userAgent: string | undefined;
  /** The session the call was about (hex of the handle's guid), when it names one. */
  readonly session?: string | undefined;
  /** True when a scripted fault answered it instead. */
  readonly faulted: boolean;
}

export interface RecordedStatement {
  readonly statement: string;
  readonly session: string;
  /** The `query_tags` entry of the statement's confOverlay: the driver's serialised `queryTags`. */
  readonly queryTags: string | undefined;
}

export interface RecordedSession {
  readonly id: string;
  /** The session configuration sent with OpenSession (the driver puts session query tags in `QUERY_TAGS`). */
  readonly configuration: Readonly<Record<string, string>>;
  closed: boolean;
}

export interface StandInOptions {
  /** Answer quick statements with direct results in the ExecuteStatement response, as a warehouse may. */
  readonly directResults?: boolean;
}

interface Operation {
  readonly id: string;
  readonly session: string;
  readonly statement: string;
  readonly script: StatementScript;
  readonly result: ResultSet;
  state: TOperationState;
  fetched: boolean;
}

interface ResultSet {
  readonly columns: readonly { readonly name: string; readonly type: 'BIGINT' | 'STRING' }[];
  readonly rows: readonly Row[];
}

export class DatabricksStandIn {
  readonly host = '127.0.0.1';
  readonly httpPath = STANDIN_HTTP_PATH;
  readonly calls: RecordedCall[] = [];
  readonly statements: RecordedStatement[] = [];
  readonly sessions: RecordedSession[] = [];
  /** Statements whose operation received CancelOperation. */
  readonly cancelled: string[] = [];

  private readonly faults: { call: ThriftCall; fault: CallFault; skip: number; left: number }[] = [];
  private readonly scripts: { pattern: RegExp; script: StatementScript; left: number }[] = [];
  private readonly operations = new Map<string, Operation>();
  private readonly openSessions = new Set<string>();
  private readonly waiters: { check: () => boolean; resolve: () => void }[] = [];

  private constructor(
    private readonly server: https.Server,
    readonly port: number,
    /** PEM of the certificate the stand-in presents (self-signed: it is its own CA). */
    readonly certificate: string,
    private readonly options: StandInOptions,
  ) {}

  static async start(options: StandInOptions = {}): Promise<DatabricksStandIn> {
    const { key, cert } = await testCertificate();
    const server = https.createServer({ key, cert });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const standIn = new DatabricksStandIn(server, (server.address() as AddressInfo).port, cert, options);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void standIn.handle(req, res));
    return standIn;
  }

  /**
   * The real driver pointed at the stand-in: its port, its certificate added to the trust store for these clients
   * only, and the driver's own retry settings shortened so a test of its retries takes milliseconds.
   */
  connector(settings: DriverSettings = {}): DatabricksConnector {
    return databricksConnector({
      port: this.port,
      customCaCert: this.certificate,
      retryMaxAttempts: 3,
      retryDelayMin: 1,
      retryDelayMax: 5,
      ...settings,
    });
  }

  /** The next `times` calls of this kind, after the next `after` (e.g. a SET's poll), get `fault` instead of an answer. */
  failCall(call: ThriftCall, fault: CallFault, times = 1, { after = 0 }: { after?: number } = {}): void {
    this.faults.push({ call, fault, skip: after, left: times });
  }

  /** The next `times` statements matching `pattern` behave as scripted; others succeed with no rows. */
  onStatement(pattern: RegExp, script: StatementScript, times = 1): void {
    this.scripts.push({ pattern, script, left: times });
  }

  callsOf(call: ThriftCall): RecordedCall[] {
    return this.calls.filter((recorded) => recorded.call === call);
  }

  /** The bearer tokens received, in order, without repeats next to each other. */
  get tokens(): string[] {
    const tokens: string[] = [];
    for (const { authorization } of this.calls) {
      const token = authorization?.replace(/^Bearer /, '');
      if (token !== undefined && tokens.at(-1) !== token) tokens.push(token);
    }
    return tokens;
  }

  /** Resolves once `check` holds, checked after every call the stand-in answers. */
  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ check, resolve }));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------------------------------------------
  // HTTP: one Thrift message per POST, as the driver's ThriftHttpConnection sends them

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const call = callName(body);
    const headers = { authorization: req.headers.authorization, userAgent: req.headers['user-agent'] };
    if (req.method !== 'POST' || req.url?.split('?')[0] !== this.httpPath) {
      this.calls.push({ call, ...headers, faulted: false });
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such endpoint');
      return this.notify();
    }
    if (!ANSWERED.has(call)) {
      // A call the stand-in does not answer shows up as an obvious failure, not a hang.
      this.calls.push({ call, ...headers, faulted: false });
      res.writeHead(501, { 'content-type': 'text/plain' }).end(`the stand-in does not answer ${call}`);
      return this.notify();
    }
    const fault = this.takeFault(call as ThriftCall);
    if (fault?.kind === 'http' || fault?.kind === 'reset') {
      this.calls.push({ call, ...headers, faulted: true });
      if (fault.kind === 'reset') req.socket.destroy();
      else {
        const retryAfter =
          fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
        res.writeHead(fault.status, { 'content-type': 'text/plain', ...retryAfter }).end(`HTTP ${fault.status}`);
      }
      return this.notify();
    }
    const recorded: { session?: string } = {};
    const answer = await this.process(body, fault, recorded);
    this.calls.push({ call, ...headers, session: recorded.session, faulted: fault !== undefined });
    res.writeHead(200, { 'content-type': 'application/x-thrift' }).end(answer);
    this.notify();
  }

  private takeFault(call: ThriftCall): CallFault | undefined {
    const entry = this.faults.find((candidate) => candidate.call === call && candidate.left > 0);
    if (!entry) return undefined;
    if (entry.skip > 0) {
      entry.skip -= 1;
      return undefined;
    }
    entry.left -= 1;
    return entry.fault;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) {
      if (!waiter.check()) continue;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  /** Decodes the call with the driver's own generated processor and encodes its answer the same way. */
  private process(body: Buffer, fault: CallFault | undefined, recorded: { session?: string }): Promise<Buffer> {
    return new Promise((resolve) => {
      const output = new TBinaryProtocol(new TBufferedTransport(undefined, (answer) => resolve(answer as Buffer)));
      TBufferedTransport.receiver((transport) => {
        const refusal = fault?.kind === 'status' ? refusedStatus(fault) : undefined;
        new Processor(this.handler(refusal, recorded)).process(new TBinaryProtocol(transport), output);
      }, 0)(body);
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // TCLIService: what the warehouse does for each call

  private handler(refusal: TStatus | undefined, recorded: { session?: string }) {
    const sessionOf = (handle: TSessionHandle | undefined): string | undefined => {
      const id = handle ? hex(handle.sessionId.guid) : undefined;
      recorded.session = id;
      return id !== undefined && this.openSessions.has(id) ? id : undefined;
    };
    const operationOf = (handle: TOperationHandle | undefined): Operation | undefined => {
      const operation = handle ? this.operations.get(hex(handle.operationId.guid)) : undefined;
      recorded.session = operation?.session;
      return operation;
    };
    return {
      OpenSession: (req: TOpenSessionReq) => {
        if (refusal) return new TOpenSessionResp({ status: refusal, serverProtocolVersion: PROTOCOL });
        const guid = newGuid();
        const id = hex(guid);
        recorded.session = id;
        this.openSessions.add(id);
        this.sessions.push({ id, configuration: { ...(req.configuration ?? {}) }, closed: false });
        return new TOpenSessionResp({
          status: OK,
          serverProtocolVersion: PROTOCOL,
          sessionHandle: { sessionId: { guid, secret: randomBytes(16) } },
          canUseMultipleCatalogs: true,
        });
      },
      CloseSession: (req: TCloseSessionReq) => {
        const session = sessionOf(req.sessionHandle);
        if (refusal) return new TCloseSessionResp({ status: refusal });
        if (!session) return new TCloseSessionResp({ status: invalidSession(req.sessionHandle) });
        this.openSessions.delete(session);
        const record = this.sessions.find((candidate) => candidate.id === session);
        if (record) record.closed = true;
        return new TCloseSessionResp({ status: OK });
      },
      ExecuteStatement: (req: TExecuteStatementReq) => {
        const session = sessionOf(req.sessionHandle);
        if (refusal) return new TExecuteStatementResp({ status: refusal });
        if (!session) return new TExecuteStatementResp({ status: invalidSession(req.sessionHandle) });
        this.statements.push({ statement: req.statement, session, queryTags: req.confOverlay?.query_tags });
        if (!req.canReadArrowResult) {
          return new TExecuteStatementResp({ status: error('the stand-in serves Arrow results only', 'HY000') });
        }
        const script = this.takeScript(req.statement);
        if (script.refused) {
          const message = displayMessage(script.refused);
          return new TExecuteStatementResp({
            status: {
              statusCode: TStatusCode.ERROR_STATUS,
              errorMessage: message,
              displayMessage: message,
              sqlState: script.refused.sqlState,
            },
          });
        }
        const guid = newGuid();
        const operation: Operation = {
          id: hex(guid),
          session,
          statement: req.statement,
          script,
          result: resultOf(req.statement, script),
          state: TOperationState.RUNNING_STATE,
          fetched: false,
        };
        this.operations.set(operation.id, operation);
        const handle = {
          operationId: { guid, secret: randomBytes(16) },
          operationType: TOperationType.EXECUTE_STATEMENT,
          hasResultSet: !script.noResultSet,
        };
        const quick = !script.runningUntil && !script.error && !script.timedOut && !script.cancelledElsewhere;
        if (!this.options.directResults || !quick || !req.getDirectResults) {
          return new TExecuteStatementResp({ status: OK, operationHandle: handle });
        }
        operation.state = TOperationState.FINISHED_STATE;
        operation.fetched = true;
        return new TExecuteStatementResp({
          status: OK,
          operationHandle: handle,
          directResults: {
            operationStatus: statusOf(operation),
            resultSetMetadata: metadataOf(operation),
            resultSet: rowsOf(operation),
          },
        });
      },
      GetOperationStatus: (req: TGetOperationStatusReq) => {
        const operation = operationOf(req.operationHandle);
        if (refusal) return new TGetOperationStatusResp({ status: refusal });
        if (!operation) return new TGetOperationStatusResp({ status: invalidOperation() });
        advance(operation);
        return statusOf(operation);
      },
      GetResultSetMetadata: (req: TGetResultSetMetadataReq) => {
        const operation = operationOf(req.operationHandle);
        if (refusal) return new TGetResultSetMetadataResp({ status: refusal });
        if (!operation) return new TGetResultSetMetadataResp({ status: invalidOperation() });
        return metadataOf(operation);
      },
      FetchResults: (req: TFetchResultsReq) => {
        const operation = operationOf(req.operationHandle);
        if (refusal) return new TFetchResultsResp({ status: refusal });
        if (!operation) return new TFetchResultsResp({ status: invalidOperation() });
        if (operation.state !== TOperationState.FINISHED_STATE) {
          return new TFetchResultsResp({ status: error('the operation has no results to fetch', 'HY010') });
        }
        if (operation.fetched) return new TFetchResultsResp({ status: OK, hasMoreRows: false, results: emptyRows() });
        operation.fetched = true;
        return rowsOf(operation);
      },
      CancelOperation: (req: TCancelOperationReq) => {
        const operation = operationOf(req.operationHandle);
        if (refusal) return new TCancelOperationResp({ status: refusal });
        if (!operation) return new TCancelOperationResp({ status: invalidOperation() });
        this.cancelled.push(operation.statement);
        if (isRunning(operation.state)) operation.state = TOperationState.CANCELED_STATE;
        return new TCancelOperationResp({ status: OK });
      },
      CloseOperation: (req: TCloseOperationReq) => {
        const operation = operationOf(req.operationHandle);
        if (refusal) return new TCloseOperationResp({ status: refusal });
        if (!operation) return new TCloseOperationResp({ status: invalidOperation() });
        // Closing a running operation cancels it on a warehouse too.
        operation.state = TOperationState.CLOSED_STATE;
        this.operations.delete(operation.id);
        return new TCloseOperationResp({ status: OK });
      },
    };
  }

  private takeScript(statement: string): StatementScript {
    const entry = this.scripts.find((candidate) => candidate.left > 0 && candidate.pattern.test(statement));
    if (!entry) return {};
    entry.left -= 1;
    return entry.script;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Answers

const PROTOCOL = TProtocolVersion.SPARK_CLI_SERVICE_PROTOCOL_V8;
const ANSWERED = new Set<string>([
  'OpenSession',
  'CloseSession',
  'ExecuteStatement',
  'GetOperationStatus',
  'GetResultSetMetadata',
  'FetchResults',
  'CancelOperation',
  'CloseOperation',
]);
const OK = { statusCode: TStatusCode.SUCCESS_STATUS };

function callName(body: Buffer): ThriftCall | 'unknown' {
  let name: string | undefined;
  try {
    TBufferedTransport.receiver((transport) => {
      name = new TBinaryProtocol(transport).readMessageBegin().fname;
    }, 0)(body);
  } catch {
    return 'unknown';
  }
  return (name as ThriftCall | undefined) ?? 'unknown';
}

/** Handles are UUIDs on a warehouse, and the driver prints them as such (it refuses anything else). */
function newGuid(): Buffer {
  return Buffer.from(randomUUID().replaceAll('-', ''), 'hex');
}

function hex(buffer: Buffer): string {
  return Buffer.from(buffer).toString('hex');
}

function error(message: string, sqlState: string): TStatus {
  return { statusCode: TStatusCode.ERROR_STATUS, errorMessage: message, displayMessage: message, sqlState };
}

function refusedStatus(fault: Extract<CallFault, { kind: 'status' }>): TStatus {
  return {
    statusCode: fault.statusCode ?? TStatusCode.ERROR_STATUS,
    errorMessage: fault.message,
    displayMessage: fault.message,
    ...(fault.sqlState ? { sqlState: fault.sqlState } : {}),
  };
}

function invalidSession(handle: TSessionHandle | undefined): TStatus {
  const id = handle ? hex(handle.sessionId.guid) : 'unknown';
  return {
    statusCode: TStatusCode.INVALID_HANDLE_STATUS,
    errorMessage: `Invalid SessionHandle: SessionHandle [${id}]`,
  };
}

function invalidOperation(): TStatus {
  return { statusCode: TStatusCode.INVALID_HANDLE_STATUS, errorMessage: 'Invalid OperationHandle' };
}

function isRunning(state: TOperationState): boolean {
  return [TOperationState.INITIALIZED_STATE, TOperationState.PENDING_STATE, TOperationState.RUNNING_STATE].includes(
    state,
  );
}

/** A running operation moves on when polled: it finishes (or fails) unless its script keeps it running. */
function advance(operation: Operation): void {
  if (!isRunning(operation.state)) return;
  if (operation.script.runningUntil && !operation.script.runningUntil()) return;
  if (operation.script.error) operation.state = TOperationState.ERROR_STATE;
  else if (operation.script.timedOut) operation.state = TOperationState.TIMEDOUT_STATE;
  else if (operation.script.cancelledElsewhere) operation.state = TOperationState.CANCELED_STATE;
  else operation.state = TOperationState.FINISHED_STATE;
}

/** Databricks' own format: the error class in brackets first, the SQLSTATE last. */
function displayMessage(error: StatementError): string {
  return `[${error.errorClass}] ${error.message} SQLSTATE: ${error.sqlState}`;
}

function statusOf(operation: Operation): TGetOperationStatusResp {
  const failure = operation.state === TOperationState.ERROR_STATE ? operation.script.error : undefined;
  return new TGetOperationStatusResp({
    status: OK,
    operationState: operation.state,
    hasResultSet: !operation.script.noResultSet,
    ...(failure
      ? {
          sqlState: failure.sqlState,
          errorCode: 0,
          displayMessage: displayMessage(failure),
          errorMessage: `org.apache.hive.service.cli.HiveSQLException: Error running query: ${displayMessage(failure)}\n\tat org.apache.spark.sql.hive.thriftserver.HiveThriftServerErrors$.runningQueryError(HiveThriftServerErrors.scala:49)`,
        }
      : {}),
  });
}

function metadataOf(operation: Operation): TGetResultSetMetadataResp {
  const columns = operation.result.columns.map((column, index) => ({
    columnName: column.name,
    position: index + 1,
    typeDesc: {
      types: [{ primitiveEntry: { type: column.type === 'BIGINT' ? TTypeId.BIGINT_TYPE : TTypeId.STRING_TYPE } }],
    },
  }));
  return new TGetResultSetMetadataResp({
    status: OK,
    schema: { columns },
    resultFormat: TSparkRowSetType.ARROW_BASED_SET,
    lz4Compressed: false,
    arrowSchema: arrowSchemaOf(operation.result),
    isStagingOperation: false,
  });
}

function emptyRows() {
  return { startRowOffset: new Int64(0), rows: [], arrowBatches: [] };
}

function rowsOf(operation: Operation): TFetchResultsResp {
  const { result } = operation;
  const arrowBatches =
    result.rows.length === 0 ? [] : [{ batch: arrowBatchOf(result), rowCount: new Int64(result.rows.length) }];
  return new TFetchResultsResp({
    status: OK,
    hasMoreRows: false,
    results: { ...emptyRows(), arrowBatches },
  });
}

/** What a statement returns: scripted rows, or what a warehouse answers for SET, MERGE and DDL. */
function resultOf(statement: string, script: StatementScript): ResultSet {
  if (script.rows) return { columns: columnsOf(script.rows), rows: script.rows };
  const set = /^SET\s+(\w+)\s*=\s*(.*)$/is.exec(statement.trim());
  if (set) {
    return {
      columns: [
        { name: 'key', type: 'STRING' },
        { name: 'value', type: 'STRING' },
      ],
      rows: [{ key: set[1] ?? '', value: (set[2] ?? '').trim() }],
    };
  }
  if (/^MERGE\b/i.test(statement.trim())) {
    const counts = ['num_affected_rows', 'num_updated_rows', 'num_deleted_rows', 'num_inserted_rows'];
    return {
      columns: counts.map((name) => ({ name, type: 'BIGINT' as const })),
      rows: [Object.fromEntries(counts.map((name) => [name, 0]))],
    };
  }
  return { columns: [], rows: [] };
}

function columnsOf(rows: readonly Row[]): ResultSet['columns'] {
  const first = rows[0] ?? {};
  return Object.entries(first).map(([name, value]) => ({
    name,
    type: typeof value === 'number' ? ('BIGINT' as const) : ('STRING' as const),
  }));
}

/** An Arrow table of the result, with Int64 for BIGINT and Utf8 for STRING, as a warehouse encodes them. */
function arrowTable(result: ResultSet): Table {
  const vectors = Object.fromEntries(
    result.columns.map((column) => {
      const values = result.rows.map((row) => row[column.name] ?? null);
      const vector =
        column.type === 'BIGINT'
          ? vectorFromArray(
              values.map((value) => (value === null ? null : BigInt(value))),
              new ArrowInt64(),
            )
          : vectorFromArray(
              values.map((value) => (value === null ? null : String(value))),
              new Utf8(),
            );
      return [column.name, vector];
    }),
  );
  return new Table(vectors);
}

/** The IPC stream of a table is its schema message, its record batches, then an 8-byte end marker. */
const END_OF_STREAM_BYTES = 8;

function arrowSchemaOf(result: ResultSet): Buffer {
  const empty = new Table(new Schema(arrowTable(result).schema.fields));
  const stream = tableToIPC(empty, 'stream');
  return Buffer.from(stream.subarray(0, stream.length - END_OF_STREAM_BYTES));
}

function arrowBatchOf(result: ResultSet): Buffer {
  const stream = tableToIPC(arrowTable(result), 'stream');
  const schemaLength = arrowSchemaOf(result).length;
  return Buffer.from(stream.subarray(schemaLength, stream.length - END_OF_STREAM_BYTES));
}

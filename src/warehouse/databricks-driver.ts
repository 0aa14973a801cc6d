import type { TokenCredential } from '@azure/core-auth';
import type IDBSQLClient from '@databricks/sql/dist/contracts/IDBSQLClient';
import type { ConnectionOptions } from '@databricks/sql/dist/contracts/IDBSQLClient';
import type IDBSQLLogger from '@databricks/sql/dist/contracts/IDBSQLLogger';
import type IDBSQLSession from '@databricks/sql/dist/contracts/IDBSQLSession';
import type IOperation from '@databricks/sql/dist/contracts/IOperation';
import AuthenticationError from '@databricks/sql/dist/errors/AuthenticationError';
import OperationStateError, { OperationStateErrorCode } from '@databricks/sql/dist/errors/OperationStateError';
import {
  PipelineError,
  TerminalError,
  TransientError,
  causeChain,
  describeError,
  errorKind,
  httpStatusOf,
  messageOf,
} from '../common/errors';
import { type RetryPolicy, withRetry } from '../common/retry';

/**
 * The one place that talks to a Databricks SQL warehouse: connect, open a session, run statements, cancel and
 * close everything. The warehouse (databricks.ts) decides *what* to run; this file decides *how*, and which of
 * the driver's failures are worth another attempt.
 */

/** The Entra ID resource of Azure Databricks (the same id in every tenant). */
export const DATABRICKS_ENTRA_SCOPE = '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default';

/** What query history shows as the client (inside the driver's own User-Agent), and the `app` query tag. */
export const APP_NAME = 'bnt-hourly-traffic';

export type DatabricksAuth =
  { readonly type: 'entra'; readonly credential: TokenCredential } | { readonly type: 'pat'; readonly token: string };

/**
 * Connection options of the driver's own that a caller may set on every connection: a stand-in's port and
 * certificate in tests, shorter driver retries, or a TLS-inspecting proxy's CA (added to the public roots).
 */
export type DriverSettings = Pick<
  ConnectionOptions,
  'port' | 'customCaCert' | 'socketTimeout' | 'retryMaxAttempts' | 'retriesTimeout' | 'retryDelayMin' | 'retryDelayMax'
>;

/**
 * The driver retries polls, closes and cancels (never OpenSession or ExecuteStatement) on 429/5xx and network
 * faults: 5 attempts with 2, 4, 8 and 16 s between them, so about 30 s before it gives up with "Max retry count
 * exceeded". An idle socket fails after 2 minutes instead of the driver's 15, so a silent connection cannot eat
 * the function's time (every call of ours returns within seconds on a healthy warehouse).
 */
export const DRIVER_DEFAULTS: DriverSettings = {
  socketTimeout: 120_000,
  retryMaxAttempts: 5,
  retriesTimeout: 120_000,
};

/** What a connection needs beyond the driver settings; the token is asked for whenever the driver needs one. */
export interface DatabricksConnectOptions {
  readonly host: string;
  readonly path: string;
  readonly token: () => Promise<{ readonly token: string; readonly expiresOnTimestamp?: number | undefined }>;
}

/** The seam between this file and the driver: the real one is `databricksConnector()`. */
export interface DatabricksConnector {
  connect(options: DatabricksConnectOptions): Promise<IDBSQLClient>;
}

/**
 * A fresh `DBSQLClient` per connection, so a retry starts from a clean client, with certificates verified
 * (2.1.0 and later verify them by default), telemetry off, our user agent, and token-provider auth: the driver
 * asks for a token before every call and, through its cache, gets a new one five minutes before the old one
 * expires, so a statement may outlive the token it started with. The driver is loaded on first use: planning and
 * the DuckDB path never pay for it.
 */
export function databricksConnector(settings: DriverSettings = {}): DatabricksConnector {
  return {
    async connect({ host, path, token }) {
      const { DBSQLClient: Client, auth } = await import('@databricks/sql');
      const client = new Client({ logger: quietLogger });
      try {
        return await client.connect({
          ...DRIVER_DEFAULTS,
          ...settings,
          host,
          path,
          authType: 'token-provider',
          tokenProvider: {
            getName: () => APP_NAME,
            getToken: async () => {
              const { token: value, expiresOnTimestamp } = await token();
              return new auth.Token(value, expiresOnTimestamp ? { expiresAt: new Date(expiresOnTimestamp) } : {});
            },
          },
          userAgentEntry: APP_NAME,
          telemetryEnabled: false,
        });
      } catch (error) {
        await client.close().catch(() => undefined);
        throw error;
      }
    },
  };
}

export const dbsqlConnector: DatabricksConnector = databricksConnector();

// The driver's default logger is a winston console logger that also installs a process-wide
// uncaught-exception handler; failures reach us as thrown errors, so its log lines add nothing.
const quietLogger: IDBSQLLogger = { log: () => undefined };

export interface DatabricksConnection {
  readonly host: string;
  readonly httpPath: string;
  readonly auth: DatabricksAuth;
  readonly retry: RetryPolicy;
  readonly connector: DatabricksConnector;
  readonly progress?: ((message: string) => void) | undefined;
}

export interface StatementOptions {
  /** The session's `STATEMENT_TIMEOUT`: the warehouse stops a statement that runs longer. */
  readonly timeoutSeconds: number;
  /** On abort the running statement is cancelled and the session closed; nothing more is sent. */
  readonly signal?: AbortSignal | undefined;
  /** Query tags on every statement, so query history says what ran it and for which dataset and window. */
  readonly tags?: Readonly<Record<string, string>> | undefined;
}

/** The rows each statement returned, in statement order. */
export type StatementResults = (readonly object[])[];

/**
 * What each session runs before the caller's statements. SQL warehouses ignore the driver's per-statement
 * `queryTimeout`, so the timeout is a session setting.
 */
export function sessionPreamble(statementTimeoutSeconds: number): string[] {
  if (!Number.isSafeInteger(statementTimeoutSeconds) || statementTimeoutSeconds <= 0) {
    throw new Error(`statementTimeoutSeconds ${statementTimeoutSeconds} must be a positive whole number of seconds`);
  }
  return [`SET STATEMENT_TIMEOUT = ${statementTimeoutSeconds}`];
}

/**
 * Runs `statements` in order in one session (after the session preamble) and returns their rows.
 *
 * Connecting and running are retried together, as a whole, when the failure is transient: a stopped warehouse
 * that takes minutes to start, throttling, or a commit that lost to a concurrent one. Rerunning the whole list
 * is safe because every statement we send is idempotent: `SET`, `CREATE TABLE IF NOT EXISTS`, a `MERGE` that
 * converges to the same rows however often it runs, and read-only `SELECT`s. A statement whose status poll
 * failed is closed (which cancels it on the warehouse) before the retry's session starts.
 */
export async function runStatements(
  connection: DatabricksConnection,
  statements: readonly string[],
  options: StatementOptions,
): Promise<StatementResults> {
  const secrets = new Set<string>();
  const session = [...sessionPreamble(options.timeoutSeconds), ...statements];
  const where = `${connection.host}${connection.httpPath}`;
  try {
    const results = await withRetry(
      async ({ attempt }) => {
        try {
          return await runOnce(connection, session, options, attempt, secrets);
        } catch (error) {
          throw withKind(error);
        }
      },
      connection.retry,
      {
        what: `running ${statements.length} statement(s) on Databricks ${where}`,
        signal: options.signal,
        onRetry: ({ delayMs, error, limit }) =>
          connection.progress?.(
            `Databricks ${where} is not available: ${redact(describeError(error), secrets)}; ` +
              `retrying in ${Math.round(delayMs / 1000)} s (${limit})`,
          ),
      },
    );
    return results.slice(session.length - statements.length);
  } catch (error) {
    throw withoutSecrets(error, secrets);
  }
}

async function runOnce(
  connection: DatabricksConnection,
  statements: readonly string[],
  options: StatementOptions,
  attempt: number,
  secrets: Set<string>,
): Promise<StatementResults> {
  throwIfAborted(options.signal);
  if (attempt === 1) connection.progress?.(`connecting to Databricks ${connection.host}${connection.httpPath}`);
  const client = await connection.connector
    .connect({
      host: connection.host,
      path: connection.httpPath,
      token: async () => {
        const token = await accessToken(connection.auth);
        secrets.add(token.token);
        return token;
      },
    })
    .catch((error: unknown) => Promise.reject(asError(error)));
  try {
    throwIfAborted(options.signal);
    const session = await client.openSession().catch((error: unknown) => Promise.reject(asError(error)));
    try {
      const results: StatementResults = [];
      for (const [index, statement] of statements.entries()) {
        results.push(await runStatement(session, statement, { index, count: statements.length }, options));
      }
      return results;
    } finally {
      // Also on abort: a session left open would keep the warehouse busy for nothing.
      await closeQuietly('session', session, connection.progress);
    }
  } finally {
    await closeQuietly('client', client, connection.progress);
  }
}

async function runStatement(
  session: IDBSQLSession,
  statement: string,
  position: { readonly index: number; readonly count: number },
  options: StatementOptions,
): Promise<readonly object[]> {
  throwIfAborted(options.signal);
  let operation: IOperation;
  try {
    operation = await session.executeStatement(statement, options.tags ? { queryTags: { ...options.tags } } : {});
  } catch (error) {
    throw statementError(statement, position, error);
  }
  try {
    // `finished` waits for the statement whether or not the warehouse announced a result set; fetchAll alone
    // returns at once for a statement submitted without one, even while it still runs.
    return await untilAborted(
      async () => {
        await operation.finished();
        return operation.fetchAll();
      },
      options.signal,
      () => operation.cancel(),
    );
  } catch (error) {
    throw options.signal?.aborted ? error : statementError(statement, position, error);
  } finally {
    // Closing also cancels a statement still running on the server, e.g. after a failed status poll.
    await closeQuietly('operation', operation);
  }
}

/**
 * Runs `work` until it settles or `signal` aborts; on abort `cancel` runs (its failure is ignored: the session
 * close that follows ends the statement too) and the abort's reason is thrown without waiting for `work`.
 */
async function untilAborted<T>(
  work: () => Promise<T>,
  signal: AbortSignal | undefined,
  cancel: () => Promise<unknown>,
): Promise<T> {
  throwIfAborted(signal);
  if (!signal) return work();
  const running = work();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      // The work's own rejection (the cancelled statement) is expected now and not the story.
      running.catch(() => undefined);
      void cancel()
        .catch(() => undefined)
        .then(() => reject(abortReason(signal)));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([running, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new TerminalError(`stopped: ${String(reason)}`);
}

/** Names the statement; the driver's error stays as the cause, which is what retry decisions look at. */
function statementError(
  statement: string,
  position: { readonly index: number; readonly count: number },
  error: unknown,
): Error {
  const firstLine = statement.split('\n', 1)[0] ?? '';
  const summary = firstLine.length > 100 ? `${firstLine.slice(0, 100)}…` : firstLine;
  const cause = asError(error);
  return new Error(
    `Databricks statement ${position.index + 1} of ${position.count} (${summary}) failed: ${cause.message}`,
    {
      cause,
    },
  );
}

/**
 * The driver's StatusError (a refused Thrift call, e.g. OpenSession or ExecuteStatement) is not an Error: it
 * would read as "[object Object]" in messages. A copy that is an Error keeps its name, message and code.
 */
function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  const copy = new Error(messageOf(error));
  if (typeof name === 'string') copy.name = name;
  return code === undefined ? copy : Object.assign(copy, { code });
}

/**
 * A failed close must not hide the statement's own outcome (a MERGE that committed, or the error that
 * explains the failure), so it is reported, not thrown.
 */
async function closeQuietly(
  what: string,
  closable: { close(): Promise<unknown> },
  progress?: (message: string) => void,
): Promise<void> {
  try {
    await closable.close();
  } catch (error) {
    progress?.(`closing the Databricks ${what} failed: ${messageOf(error)}`);
  }
}

/**
 * A personal access token never expires as far as we know; an Entra token says when it does, and the credential
 * caches and refreshes it (a managed identity's token lives about 24 hours, a developer's about one).
 */
async function accessToken(auth: DatabricksAuth): Promise<{ token: string; expiresOnTimestamp?: number }> {
  if (auth.type === 'pat') return { token: auth.token };
  let token: { token: string; expiresOnTimestamp: number } | null;
  try {
    token = await auth.credential.getToken(DATABRICKS_ENTRA_SCOPE);
  } catch (error) {
    throw new Error(`getting a Microsoft Entra token for Azure Databricks failed: ${messageOf(error)}`, {
      cause: error,
    });
  }
  if (!token?.token)
    throw new Error(`the Entra credential returned no token for Azure Databricks (${DATABRICKS_ENTRA_SCOPE})`);
  return { token: token.token, expiresOnTimestamp: token.expiresOnTimestamp };
}

// ---------------------------------------------------------------------------------------------------------
// Which failures are worth another attempt, from what the driver really surfaces

/**
 * What one error in a cause chain says about itself. The driver gives a SQLSTATE only for a failed statement
 * (`OperationStateError.response.sqlState`); elsewhere the SQLSTATE and the error class are in the message, in
 * Databricks' format `[ERROR_CLASS] text SQLSTATE: 42P01`.
 */
interface Signs {
  readonly message: string;
  readonly sqlState: string | undefined;
  readonly errorClass: string | undefined;
  readonly httpStatus: number | undefined;
  readonly code: string | undefined;
}

const ERROR_CLASS = /\[([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*)\]/;
const SQLSTATE = /SQLSTATE: ([0-9A-Z]{5})\b/;
/** The driver's own retries gave up (it wraps its RetryError in this): `Hive driver: 503 when connecting…`. */
const DRIVER_GAVE_UP =
  /^Hive driver: (\d{3}|Error) when connecting to resource\. (?:Max retry count|Retry timeout) exceeded/;

function signsOf(error: unknown): Signs {
  const response = error instanceof OperationStateError ? error.response : undefined;
  const message = [messageOf(error), response?.errorMessage].filter(Boolean).join('\n');
  const gaveUp = DRIVER_GAVE_UP.exec(messageOf(error));
  const code = (error as { code?: unknown } | null)?.code;
  return {
    message,
    sqlState: response?.sqlState ?? SQLSTATE.exec(message)?.[1],
    errorClass: ERROR_CLASS.exec(message)?.[1],
    httpStatus: httpStatusOf(error) ?? (gaveUp?.[1] && gaveUp[1] !== 'Error' ? Number(gaveUp[1]) : undefined),
    code: typeof code === 'string' ? code : gaveUp?.[1] === 'Error' ? 'DRIVER_NETWORK_RETRIES_EXHAUSTED' : undefined,
  };
}

/** 429 and 5xx (but 501 Not Implemented), as the driver's own retry policy treats them. */
function isTransientHttpStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501);
}

/**
 * Network failures before or during a response, and the driver giving up on them. ENOTFOUND is left out on
 * purpose: a host name that does not resolve is almost always a typo in `host`, and retrying it would only
 * delay the real message by minutes.
 */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
  'DRIVER_NETWORK_RETRIES_EXHAUSTED',
]);

/** A certificate that does not verify is a wrong host or someone in the middle: never retried. */
const TLS_CERTIFICATE_CODE = /CERT|UNABLE_TO_VERIFY|SELF_SIGNED|ERR_TLS/;

/**
 * Commit conflicts (SQLSTATE 2D521 on Databricks, class 40 in the standard): another commit to the table won.
 * A MERGE restricted to its windows is idempotent, so running it again is safe.
 */
const CONFLICT_SQLSTATE = /^(?:2D521|40\d{3})$/;
const CONFLICT_CLASS = /^(?:DELTA_CONCURRENT_[A-Z_]+|DELTA_METADATA_CHANGED|DELTA_PROTOCOL_CHANGED)(?:\.|$)/;

/** What the SQL got wrong, what we may not do, or data the load refuses: the same statement fails again. */
const PERMANENT_SQLSTATE = /^(?:42|22|21|23|28|0A)/;
const PERMANENT_CLASS =
  /^(?:PARSE_SYNTAX_ERROR|TABLE_OR_VIEW_NOT_FOUND|SCHEMA_NOT_FOUND|NO_SUCH_CATALOG_EXCEPTION|CATALOG_NOT_FOUND|UNRESOLVED_[A-Z_]+|INSUFFICIENT_PERMISSIONS|PERMISSION_DENIED)(?:\.|$)/;
const PERMANENT_TEXT = /PERMISSION_DENIED|permission denied|not authorized/i;

/**
 * What only the message says: a pro or classic warehouse that is starting (or restarted under us) forgets its
 * sessions; Apache Iceberg's commit conflict; a request that timed out on the way.
 */
const TRANSIENT_TEXT =
  /has not been initialized or had already closed|Invalid SessionHandle|CommitFailedException|TEMPORARILY_UNAVAILABLE|socket hang up|premature close|Request timed out/i;

/**
 * The one place native driver errors become kinds: transient ones are retried here (a cold start, throttling,
 * a commit conflict) and may be retried again by an outer driver; everything else is terminal.
 */
export function withKind(error: unknown): PipelineError {
  if (error instanceof PipelineError) return error;
  const message = describeError(error);
  return isTransientDatabricksError(error)
    ? new TransientError(message, { cause: error })
    : new TerminalError(message, { cause: error });
}

/**
 * Transient: HTTP 429/5xx however the driver wraps them (`THTTPException`, or "Max retry count exceeded" once its
 * own retries ran out), a warehouse that forgot the session while starting, commit conflicts (SQLSTATE 2D521,
 * the DELTA_CONCURRENT_* classes, metadata or protocol changed, Iceberg's CommitFailedException), network
 * resets. Terminal: authentication, HTTP 4xx, certificates, permissions, syntax, missing objects, bad data
 * (SQLSTATE classes 42, 22, 21, 23, 28, 0A), a statement that timed out or was cancelled, and anything
 * unrecognised. A permanent sign anywhere in the cause chain wins over a transient one.
 */
export function isTransientDatabricksError(error: unknown): boolean {
  const chain = causeChain(error);
  if (chain.some(isPermanentFailure)) return false;
  return chain.some(isTransientFailure);
}

function isPermanentFailure(error: unknown): boolean {
  if (error instanceof AuthenticationError) return true;
  if (
    error instanceof OperationStateError &&
    [OperationStateErrorCode.Timeout, OperationStateErrorCode.Canceled, OperationStateErrorCode.Closed].includes(
      error.errorCode,
    )
  ) {
    return true;
  }
  const signs = signsOf(error);
  if (signs.sqlState !== undefined && PERMANENT_SQLSTATE.test(signs.sqlState)) return true;
  if (signs.errorClass !== undefined && PERMANENT_CLASS.test(signs.errorClass)) return true;
  if (signs.httpStatus !== undefined && signs.httpStatus >= 400 && !isTransientHttpStatus(signs.httpStatus)) {
    return true;
  }
  if (signs.code === 'ENOTFOUND' || (signs.code !== undefined && TLS_CERTIFICATE_CODE.test(signs.code))) return true;
  return PERMANENT_TEXT.test(signs.message);
}

function isTransientFailure(error: unknown): boolean {
  const signs = signsOf(error);
  if (signs.sqlState !== undefined && CONFLICT_SQLSTATE.test(signs.sqlState)) return true;
  if (signs.errorClass !== undefined && CONFLICT_CLASS.test(signs.errorClass)) return true;
  if (signs.httpStatus !== undefined && isTransientHttpStatus(signs.httpStatus)) return true;
  if (signs.code !== undefined && TRANSIENT_NETWORK_CODES.has(signs.code)) return true;
  return TRANSIENT_TEXT.test(signs.message);
}

/** The Databricks error class a failure carries (`TABLE_OR_VIEW_NOT_FOUND`), if any link of its chain has one. */
export function databricksErrorClass(error: unknown): string | undefined {
  for (const link of causeChain(error)) {
    const errorClass = signsOf(link).errorClass;
    if (errorClass !== undefined) return errorClass;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Keeping tokens out of errors

function redact(text: string, secrets: ReadonlySet<string>): string {
  let redacted = text;
  for (const secret of secrets) redacted = redacted.replaceAll(secret, '<redacted>');
  return redacted;
}

/**
 * We never put a token in a message, but a driver or credential might; an error that mentions one anywhere
 * in its chain is replaced by a redacted copy without the chain.
 */
function withoutSecrets(error: unknown, secrets: ReadonlySet<string>): unknown {
  const mentionsSecret = causeChain(error).some((link) => {
    const text = link instanceof Error ? `${link.message}\n${link.stack ?? ''}` : messageOf(link);
    return [...secrets].some((secret) => text.includes(secret));
  });
  if (!mentionsSecret) return error;
  const message = redact(describeError(error), secrets);
  return errorKind(error) === 'transient' ? new TransientError(message) : new TerminalError(message);
}

import type { TokenCredential } from '@azure/core-auth';
import type IDBSQLLogger from '@databricks/sql/dist/contracts/IDBSQLLogger';
import AuthenticationError from '@databricks/sql/dist/errors/AuthenticationError';
import OperationStateError, { OperationStateErrorCode } from '@databricks/sql/dist/errors/OperationStateError';
import RetryError from '@databricks/sql/dist/errors/RetryError';
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
 * The one place that talks to a Databricks SQL warehouse: connect, open a session, run statements, close
 * everything. The warehouse (databricks.ts) decides *what* to run; this file decides *how*.
 */

/** The Entra ID resource of Azure Databricks (the same id in every tenant). */
export const DATABRICKS_ENTRA_SCOPE = '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default';

export type DatabricksAuth =
  { readonly type: 'entra'; readonly credential: TokenCredential } | { readonly type: 'pat'; readonly token: string };

/** What `connect` is given; a subset of the driver's `ConnectionOptions`. */
export interface DatabricksConnectionOptions {
  readonly host: string;
  readonly path: string;
  /** A personal access token or an Entra token: the driver sends either as a Bearer token. */
  readonly token: string;
  /** The driver reports to Databricks by default; nothing here phones home. */
  readonly telemetryEnabled: false;
}

export interface DatabricksOperation {
  /** Waits for the statement to finish and returns its rows; throws if it failed. */
  fetchAll(): Promise<readonly object[]>;
  close(): Promise<unknown>;
}

export interface DatabricksSession {
  /** Only submits the statement: `fetchAll` on the operation is what waits and throws. */
  executeStatement(statement: string): Promise<DatabricksOperation>;
  close(): Promise<unknown>;
}

export interface DatabricksClient {
  openSession(): Promise<DatabricksSession>;
  close(): Promise<unknown>;
}

/** The seam tests replace: the real one is `DBSQLClient` from `@databricks/sql`. */
export interface DatabricksConnector {
  connect(options: DatabricksConnectionOptions): Promise<DatabricksClient>;
}

/**
 * A fresh `DBSQLClient` per connection, so a retry starts from a clean client. The driver is loaded on first
 * use: planning and the DuckDB path never pay for it.
 */
export const dbsqlConnector: DatabricksConnector = {
  async connect(options) {
    const { DBSQLClient: Client } = await import('@databricks/sql');
    // Typed as both interfaces so the compiler proves the real client fits the seam the tests fake.
    const client: DatabricksConnector & DatabricksClient = new Client({ logger: quietLogger });
    try {
      return await client.connect(options);
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
  },
};

// The driver's default logger is a winston console logger that also installs a process-wide
// uncaught-exception handler; failures reach us as thrown errors, so its log lines add nothing.
const quietLogger: IDBSQLLogger = { log: () => undefined };

export interface DatabricksConnection {
  readonly host: string;
  readonly httpPath: string;
  readonly auth: DatabricksAuth;
  readonly statementTimeoutSeconds: number;
  readonly retry: RetryPolicy;
  readonly connector: DatabricksConnector;
  readonly progress?: ((message: string) => void) | undefined;
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
 * Connecting and running are retried together, as a whole, when the failure is transient — typically a
 * stopped warehouse that takes minutes to start. The driver never retries OpenSession or ExecuteStatement
 * itself, and its other retries are far shorter than a cold start.
 * Rerunning the whole list is safe because every statement we send is idempotent: `SET`,
 * `CREATE TABLE IF NOT EXISTS`, a `MERGE` that converges to the same rows however often it runs, and
 * read-only `SELECT`s. Should a MERGE whose status poll failed still be running when the retry's MERGE
 * starts, the table format's optimistic concurrency fails one of the two commits; neither duplicates rows.
 */
export async function runStatements(
  connection: DatabricksConnection,
  statements: readonly string[],
): Promise<StatementResults> {
  const secrets = new Set<string>();
  const session = [...sessionPreamble(connection.statementTimeoutSeconds), ...statements];
  const where = `${connection.host}${connection.httpPath}`;
  try {
    const results = await withRetry(
      async ({ attempt }) => {
        try {
          return await runOnce(connection, session, attempt, secrets);
        } catch (error) {
          throw withKind(error);
        }
      },
      connection.retry,
      {
        what: `running ${statements.length} statement(s) on Databricks ${where}`,
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
  attempt: number,
  secrets: Set<string>,
): Promise<StatementResults> {
  const token = await accessToken(connection.auth);
  secrets.add(token);
  if (attempt === 1) connection.progress?.(`connecting to Databricks ${connection.host}${connection.httpPath}`);
  const client = await connection.connector
    .connect({ host: connection.host, path: connection.httpPath, token, telemetryEnabled: false })
    .catch((error: unknown) => Promise.reject(asError(error)));
  try {
    const session = await client.openSession().catch((error: unknown) => Promise.reject(asError(error)));
    try {
      const results: StatementResults = [];
      for (const [index, statement] of statements.entries()) {
        results.push(await runStatement(session, statement, index, statements.length));
      }
      return results;
    } finally {
      await closeQuietly('session', session, connection.progress);
    }
  } finally {
    await closeQuietly('client', client, connection.progress);
  }
}

async function runStatement(
  session: DatabricksSession,
  statement: string,
  index: number,
  count: number,
): Promise<readonly object[]> {
  let operation: DatabricksOperation;
  try {
    operation = await session.executeStatement(statement);
  } catch (error) {
    throw statementError(statement, index, count, error);
  }
  try {
    return await operation.fetchAll();
  } catch (error) {
    throw statementError(statement, index, count, error);
  } finally {
    // Closing also cancels a statement still running on the server, e.g. after a failed status poll.
    await closeQuietly('operation', operation);
  }
}

/** Names the statement; the driver's error stays as the cause, which is what retry decisions look at. */
function statementError(statement: string, index: number, count: number, error: unknown): Error {
  const firstLine = statement.split('\n', 1)[0] ?? '';
  const summary = firstLine.length > 100 ? `${firstLine.slice(0, 100)}…` : firstLine;
  const cause = asError(error);
  return new Error(`Databricks statement ${index + 1} of ${count} (${summary}) failed: ${cause.message}`, { cause });
}

/**
 * The driver's StatusError (a failed Thrift status, e.g. from openSession) is not an Error: it would read as
 * "[object Object]" in messages. A copy that is an Error keeps its name, message and code.
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

async function accessToken(auth: DatabricksAuth): Promise<string> {
  if (auth.type === 'pat') return auth.token;
  // Asked on every connection: the credential caches and refreshes, and a retry minutes later may need a new one.
  let token: { token: string } | null;
  try {
    token = await auth.credential.getToken(DATABRICKS_ENTRA_SCOPE);
  } catch (error) {
    throw new Error(`getting a Microsoft Entra token for Azure Databricks failed: ${messageOf(error)}`, {
      cause: error,
    });
  }
  if (!token?.token)
    throw new Error(`the Entra credential returned no token for Azure Databricks (${DATABRICKS_ENTRA_SCOPE})`);
  return token.token;
}

// ---------------------------------------------------------------------------------------------------------
// Which failures are worth another attempt

/** 429 and 5xx (but 501 Not Implemented), as the driver's own retry policy treats them. */
function isTransientHttpStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501);
}

/**
 * Network failures before or during a response. ENOTFOUND is left out on purpose: a host name that does not
 * resolve is almost always a typo in `host`, and retrying it would only delay the real message by minutes.
 */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);

/**
 * What a starting, overloaded or briefly unreachable warehouse says, and what a MERGE says when another
 * commit to the same table won: a MERGE restricted to its windows is idempotent, so running it again is safe.
 */
const TRANSIENT_MESSAGE =
  /CONCURRENT_APPEND|ConcurrentAppendException|ConcurrentDeleteReadException|ConcurrentDeleteDeleteException|ConcurrentTransactionException|CONCURRENT_MODIFICATION|CommitFailedException|TEMPORARILY_UNAVAILABLE|warehouse is (?:starting|not running|stopped)|is starting up|socket hang up|premature close|Request timed out|Service Unavailable|Too Many Requests|bad HTTP status code: (?:429|5\d\d)|HTTP error (?:429|5\d\d)/i;

/** What the SQL itself got wrong, or what we may not do: the same statement would fail the same way again. */
const PERMANENT_MESSAGE =
  /PARSE_SYNTAX_ERROR|TABLE_OR_VIEW_NOT_FOUND|SCHEMA_NOT_FOUND|CATALOG_NOT_FOUND|UNRESOLVED_|PERMISSION_DENIED|INSUFFICIENT_PERMISSIONS|permission denied|not authorized|Unauthorized|Forbidden|SQLSTATE: (?:42|22|23|0A)/i;

/**
 * The one place native driver errors become kinds: transient ones are retried here (a cold start) and may be
 * retried again by an outer driver; everything else is terminal.
 */
export function withKind(error: unknown): PipelineError {
  if (error instanceof PipelineError) return error;
  const message = describeError(error);
  return isTransientDatabricksError(error)
    ? new TransientError(message, { cause: error })
    : new TerminalError(message, { cause: error });
}

/**
 * Transient: HTTP 429/5xx (the driver throws `THTTPException` with `statusCode`), the driver giving up on its
 * own retries (`RetryError`), network resets and timeouts, and "temporarily unavailable / starting" messages.
 * Not transient: SQL errors (syntax, missing objects, permissions, data), authentication failures, other
 * HTTP statuses, statement timeouts and cancellations, and anything unrecognised. A permanent sign anywhere
 * in the cause chain wins over a transient one.
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
    [OperationStateErrorCode.Timeout, OperationStateErrorCode.Canceled].includes(error.errorCode)
  ) {
    return true;
  }
  const status = httpStatusOf(error);
  if (status !== undefined && status >= 400 && !isTransientHttpStatus(status)) return true;
  if (errorCode(error) === 'ENOTFOUND') return true;
  return PERMANENT_MESSAGE.test(messageOf(error));
}

function isTransientFailure(error: unknown): boolean {
  if (error instanceof RetryError) return true;
  const status = httpStatusOf(error);
  if (status !== undefined && isTransientHttpStatus(status)) return true;
  const code = errorCode(error);
  if (code !== undefined && TRANSIENT_NETWORK_CODES.has(code)) return true;
  return TRANSIENT_MESSAGE.test(messageOf(error));
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
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

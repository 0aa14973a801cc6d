import type { TokenCredential } from '@azure/core-auth';
import { z } from 'zod';
import type { ColumnType, DatasetDefinition } from '../pipeline/datasets';
import { InputError } from '../common/errors';
import {
  CONTAINER_NAME,
  DATABRICKS_HTTP_PATH,
  DATASET_NAME,
  HOST_NAME,
  SQL_IDENTIFIER,
  STORAGE_ACCOUNT_NAME,
} from '../common/names';
import type { RetryPolicy } from '../common/retry';
import { partFileName, windowLayout } from '../pipeline/layout';
import type { DayRows, StageLocation, StageStore } from '../pipeline/ports';
import { type Window, windowKey } from '../pipeline/window';
import {
  APP_NAME,
  type DatabricksAuth,
  type DatabricksConnection,
  type DatabricksConnector,
  type StatementResults,
  databricksErrorClass,
  dbsqlConnector,
  runStatements,
  sessionPreamble,
} from './databricks-driver';
import {
  type SourceRelation,
  type SqlDialect,
  checkedDate,
  checkedIdentifier,
  columnDefinitions,
  countInWindowStatement,
  rowsPerDayStatement,
  mergeStatement,
  stringLiteral,
} from './sql';
import type { StagedWindow, Warehouse } from '../pipeline/ports';

export type { DatabricksAuth, DatabricksConnector, DriverSettings } from './databricks-driver';
export { databricksConnector } from './databricks-driver';

export type DatabricksTableFormat = 'iceberg' | 'delta-uniform';

export interface DatabricksWarehouseOptions {
  /** Workspace host name without a scheme, e.g. `adb-1234567890123456.7.azuredatabricks.net`. */
  readonly host: string;
  /** `/sql/1.0/warehouses/<id>` (a SQL warehouse) or `/sql/protocolv1/o/<org>/<cluster>`. */
  readonly httpPath: string;
  readonly auth: DatabricksAuth;
  /** Unity Catalog catalog and schema; both must exist (the pipeline never creates a schema here). */
  readonly catalog: string;
  readonly schema: string;
  /** Managed Iceberg, or Delta with UniForm so Iceberg clients can read it. */
  readonly format: DatabricksTableFormat;
  /**
   * For a load's MERGE, enforced by the warehouse; table DDL and counts get at most
   * `QUERY_STATEMENT_TIMEOUT_SECONDS`. Default `LOAD_STATEMENT_TIMEOUT_SECONDS`.
   */
  readonly statementTimeoutSeconds?: number;
  /** Around connect + run; the default waits out a stopped warehouse's start. */
  readonly retry?: RetryPolicy;
  /** The driver with settings of its own (tests point it at a loopback stand-in); default `@databricks/sql` as is. */
  readonly connect?: DatabricksConnector;
  readonly progress?: (message: string) => void;
}

/**
 * The timeouts nest inside the Functions host's `functionTimeout` (host.json, one hour), which kills the worker
 * without warning: the Node worker never hears of an invocation's timeout (it ignores the host's cancel
 * message), so the warehouse must stop the statement first, and the next attempt's MERGE can never overlap
 * one still running. A load activity's worst case: 2 min waiting for the table lock, then CREATE (5 min of
 * cold start + 5 min) and MERGE (5 + 30 min): 47 min, well under the host's limit, with room for connecting,
 * polling and closing. test/unit/databricks-timeouts.test.ts checks the sum against host.json.
 */
export const LOAD_STATEMENT_TIMEOUT_SECONDS = 30 * 60;
/** Table DDL and counts: metadata operations and one aggregate over the date column, seconds on a warehouse. */
export const QUERY_STATEMENT_TIMEOUT_SECONDS = 5 * 60;

/**
 * Around each call (connect, session, statements). A serverless warehouse starts in seconds; a stopped pro or
 * classic one "typically" in about 4 minutes (Azure Databricks docs, "SQL warehouse types"). No new attempt
 * starts 5 minutes after the first (`budgetMs`), so the wait is bounded whatever the jitter draws and a step's
 * worst case stays within the 15 minutes test/functions/retry-budget.test.ts derives. Delays are fully jittered
 * with ceilings 5, 10, 20, 40, 60 s…
 */
export const DATABRICKS_COLD_START_RETRY: RetryPolicy = {
  attempts: 30,
  baseDelayMs: 5_000,
  maxDelayMs: 60_000,
  budgetMs: 5 * 60_000,
};

const DATABRICKS_TYPES: Record<ColumnType, string> = {
  string: 'STRING',
  int: 'INT',
  date: 'DATE',
  // Socrata's floating timestamps carry no zone; TIMESTAMP would reinterpret them in the session time zone.
  timestamp: 'TIMESTAMP_NTZ',
};

export const databricksDialect: SqlDialect = {
  name: 'databricks',
  quote: (identifier) => `\`${identifier}\``,
  columnType: (type) => DATABRICKS_TYPES[type],
  timestampLiteral: (value) => `TIMESTAMP_NTZ '${value}'`,
};

/**
 * A Databricks SQL warehouse in Unity Catalog. Loads read the staged JSON Lines straight from ADLS with
 * `read_files` inside one MERGE, so rows never pass through this process. Each call opens its own session;
 * nothing is held open between calls.
 */
export class DatabricksWarehouse implements Warehouse {
  readonly description: string;
  private readonly catalog: string;
  private readonly schema: string;
  private readonly format: DatabricksTableFormat;
  private readonly connection: DatabricksConnection;
  private readonly loadTimeoutSeconds: number;
  private readonly queryTimeoutSeconds: number;

  constructor(options: DatabricksWarehouseOptions) {
    const checked = checkedOptions(options);
    this.connection = {
      host: checked.host,
      httpPath: checked.httpPath,
      auth: options.auth,
      retry: options.retry ?? DATABRICKS_COLD_START_RETRY,
      connector: options.connect ?? dbsqlConnector,
      progress: options.progress,
    };
    this.loadTimeoutSeconds = checked.statementTimeoutSeconds ?? LOAD_STATEMENT_TIMEOUT_SECONDS;
    this.queryTimeoutSeconds = Math.min(QUERY_STATEMENT_TIMEOUT_SECONDS, this.loadTimeoutSeconds);
    this.catalog = checked.catalog;
    this.schema = checked.schema;
    this.format = checked.format;
    this.description = `Databricks ${this.connection.host}${this.connection.httpPath}`;
  }

  /** `catalog`.`schema`.`table`: the definition's `table.schema` is DuckDB's; here both come from the options. */
  tableName(dataset: DatasetDefinition): string {
    return [
      checkedIdentifier(this.catalog, 'catalog'),
      checkedIdentifier(this.schema, 'schema'),
      checkedIdentifier(dataset.table.name, 'table'),
    ]
      .map((identifier) => databricksDialect.quote(identifier))
      .join('.');
  }

  /** One preamble per session, because `ensureTable` and `loadWindows` each open their own. */
  planStatements(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageLocation): string[] {
    const merge = this.mergeStatement(dataset, windows, stage);
    return [
      ...sessionPreamble(this.queryTimeoutSeconds),
      this.createTableStatement(dataset),
      ...(merge ? [...sessionPreamble(this.loadTimeoutSeconds), merge] : []),
    ];
  }

  /** Every statement connects on its own (a session per call), so there is nothing to open ahead. */
  async open(): Promise<void> {}

  async ensureTable(dataset: DatasetDefinition, signal?: AbortSignal): Promise<void> {
    await runStatements(this.connection, [this.createTableStatement(dataset)], {
      timeoutSeconds: this.queryTimeoutSeconds,
      signal,
      tags: queryTags(dataset, 'create-table'),
    });
  }

  async loadWindows(
    dataset: DatasetDefinition,
    windows: readonly StagedWindow[],
    stage: StageStore,
    signal?: AbortSignal,
  ): Promise<void> {
    const merge = this.mergeStatement(dataset, windows, stage.location);
    if (!merge) return;
    await runStatements(this.connection, [merge], {
      timeoutSeconds: this.loadTimeoutSeconds,
      signal,
      tags: queryTags(
        dataset,
        'load',
        windows.map((staged) => staged.window),
      ),
    });
  }

  planCount(dataset: DatasetDefinition, window: Window): string[] {
    return [...sessionPreamble(this.queryTimeoutSeconds), this.countStatement(dataset, window)];
  }

  /** Every call opens its own session with its own preamble (see `inSession`); nothing wraps a whole run. */
  readonly sessionStatements = { open: [], close: [] };

  async rowsPerDay(dataset: DatasetDefinition, window: Window, signal?: AbortSignal): Promise<DayRows[]> {
    const [rows] = await runStatements(
      this.connection,
      [rowsPerDayStatement(databricksDialect, this.tableName(dataset), dataset, window)],
      { timeoutSeconds: this.queryTimeoutSeconds, signal, tags: queryTags(dataset, 'rows-per-day', [window]) },
    ).catch(noTableMeans([]));
    return (rows ?? []).map((row) => {
      const { day, row_count } = row as { day?: unknown; row_count?: unknown };
      return { day: String(day), rows: Number(row_count) };
    });
  }

  async rowsInWindow(dataset: DatasetDefinition, window: Window, signal?: AbortSignal): Promise<number> {
    const [rows] = await runStatements(this.connection, [this.countStatement(dataset, window)], {
      timeoutSeconds: this.queryTimeoutSeconds,
      signal,
      tags: queryTags(dataset, 'count', [window]),
    }).catch(noTableMeans([]));
    const row = rows?.[0] as { row_count?: unknown } | undefined;
    return Number(row?.row_count ?? 0);
  }

  /** Nothing to release: every call closes its own client and session. */
  async close(): Promise<void> {}

  private countStatement(dataset: DatasetDefinition, window: Window): string {
    return countInWindowStatement(databricksDialect, this.tableName(dataset), dataset, window);
  }

  /** Never creates the schema and never alters an existing table. */
  private createTableStatement(dataset: DatasetDefinition): string {
    const head = `CREATE TABLE IF NOT EXISTS ${this.tableName(dataset)} (${columnDefinitions(databricksDialect, dataset)})`;
    const dateColumn = layoutDateColumn(dataset);
    const quoted =
      dateColumn === undefined ? undefined : databricksDialect.quote(checkedIdentifier(dateColumn, 'column'));
    if (this.format === 'iceberg') {
      // Managed Iceberg rejects partition transforms such as years(date); a plain column becomes clustering keys.
      return `${head} USING ICEBERG${quoted ? ` PARTITIONED BY (${quoted})` : ''}`;
    }
    return (
      `${head} USING DELTA${quoted ? ` CLUSTER BY (${quoted})` : ''}` +
      ` TBLPROPERTIES ('delta.enableIcebergCompatV2' = 'true', 'delta.universalFormat.enabledFormats' = 'iceberg')`
    );
  }

  /** The MERGE over every window that has staged parts; undefined when none has, since then nothing runs. */
  private mergeStatement(
    dataset: DatasetDefinition,
    windows: readonly StagedWindow[],
    stage: StageLocation,
  ): string | undefined {
    const adls = adlsLocation(stage);
    const sources: SourceRelation[] = windows
      .filter((staged) => staged.parts.length > 0)
      .map((staged) => ({
        window: staged.window,
        relation: readFiles(dataset, partsUrl(adls, dataset, staged)),
      }));
    return sources.length > 0
      ? mergeStatement(databricksDialect, this.tableName(dataset), dataset, sources)
      : undefined;
  }
}

/**
 * Who ran a statement, for query history: the app, the dataset, what for, and the windows as `start_stop` (the
 * span of a batch, with how many windows it holds).
 */
function queryTags(
  dataset: DatasetDefinition,
  purpose: string,
  windows: readonly Window[] = [],
): Record<string, string> {
  const first = windows[0];
  const last = windows.at(-1);
  return {
    app: APP_NAME,
    dataset: dataset.name,
    purpose,
    ...(first && last ? { window: windowKey({ start: first.start, stop: last.stop }) } : {}),
    ...(windows.length > 1 ? { windows: String(windows.length) } : {}),
  };
}

/** A table that was never loaded holds no rows: asking about it answers no rows, not an error. */
function noTableMeans(value: StatementResults): (error: unknown) => StatementResults {
  return (error) => {
    if (databricksErrorClass(error) === 'TABLE_OR_VIEW_NOT_FOUND') return value;
    throw error;
  };
}

/**
 * The column the table is laid out by: the window field when it is a date (loads touch whole windows), else
 * a date field named `date` (the crossings dataset windows on a timestamp but carries its date too).
 */
export function layoutDateColumn(dataset: DatasetDefinition): string | undefined {
  const windowField = dataset.fields.find((field) => field.name === dataset.windowField);
  if (windowField?.type === 'date') return windowField.name;
  return dataset.fields.find((field) => field.name === 'date' && field.type === 'date')?.name;
}

interface AdlsLocation {
  readonly accountName: string;
  readonly container: string;
}

/**
 * Databricks reads the stage itself, so only an ADLS container will do. An emulator endpoint (Azurite) is
 * accepted for planning: the abfss URL is still what a real account would need, though Databricks could
 * never read the emulator itself.
 */
function adlsLocation(stage: StageLocation): AdlsLocation {
  if (stage.kind !== 'azure') {
    throw new InputError(
      'stage',
      `Databricks reads staged files from ADLS: use the azure stage (this stage is the local directory ${stage.root})`,
    );
  }
  if (!STORAGE_ACCOUNT_NAME.test(stage.accountName)) {
    throw new InputError(
      'stage.accountName',
      `stage account name "${stage.accountName}" is not a storage account name (3 to 24 lower-case letters and digits)`,
    );
  }
  if (!CONTAINER_NAME.test(stage.container)) {
    throw new InputError(
      'stage.container',
      `stage container "${stage.container}" is not a container name (3 to 63 lower-case letters, digits and single dashes, starting and ending with a letter or digit)`,
    );
  }
  return { accountName: stage.accountName, container: stage.container };
}

/**
 * Exactly the manifest's part files, as one `read_files` path: `abfss://…/<window>/part-00000.jsonl`, or a
 * `{part-00000.jsonl,part-00001.jsonl}` alternation for several. Never a glob over the folder, which could
 * read another run's half-written file. Built from checked parts only.
 */
function partsUrl(adls: AdlsLocation, dataset: DatasetDefinition, staged: StagedWindow): string {
  if (!DATASET_NAME.test(dataset.name))
    throw new Error(`dataset name "${dataset.name}" cannot be part of a storage path`);
  const checkedWindow = { start: checkedDate(staged.window.start), stop: checkedDate(staged.window.stop) };
  const layout = windowLayout(dataset.name, checkedWindow);
  const names = staged.parts.map((part) => partFileName(layout, part));
  const files = names.length === 1 ? names[0] : `{${names.join(',')}}`;
  return `abfss://${adls.container}@${adls.accountName}.dfs.core.windows.net/${layout.prefix}/${files}`;
}

/**
 * The staged parts as a relation with the table's own types. FAILFAST makes a malformed line fail the load
 * instead of silently becoming NULLs; the quarantine and manifest files start with `_` and are never listed.
 */
function readFiles(dataset: DatasetDefinition, url: string): string {
  // The table's own column list is exactly the schema read_files wants.
  const schema = columnDefinitions(databricksDialect, dataset);
  return `read_files(${stringLiteral(url)}, format => 'json', schema => ${stringLiteral(schema)}, mode => 'FAILFAST')`;
}

// ---------------------------------------------------------------------------------------------------------
// Options: one schema, checked once up front, so a bad setting fails before anything connects. The identifier
// and host patterns are the ones the block schemas use (src/common/names.ts).

const quote = (value: unknown) => JSON.stringify(value) ?? String(value);

const optionsSchema = z.object({
  host: z
    .string()
    .refine((host) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(host), {
      error: (issue) =>
        `host ${quote(issue.input)} must be the host name only, without the scheme (e.g. adb-1234567890123456.7.azuredatabricks.net)`,
      abort: true,
    })
    .regex(HOST_NAME, {
      error: (issue) =>
        `host ${quote(issue.input)} is not a host name (e.g. adb-1234567890123456.7.azuredatabricks.net; no path or port)`,
    }),
  httpPath: z.string().regex(DATABRICKS_HTTP_PATH, {
    error: (issue) =>
      `httpPath ${quote(issue.input)} must be /sql/1.0/warehouses/<warehouse id> or /sql/protocolv1/o/<org id>/<cluster id> (copy it from the warehouse's Connection details)`,
  }),
  auth: z.discriminatedUnion(
    'type',
    [
      z.object({
        type: z.literal('pat'),
        token: z.string().trim().min(1, { error: 'auth.token is empty: give a Databricks personal access token' }),
      }),
      z.object({
        type: z.literal('entra'),
        credential: z.custom<TokenCredential>(
          (value) => typeof (value as TokenCredential | undefined)?.getToken === 'function',
          {
            error: 'auth.credential must be a token credential (e.g. DefaultAzureCredential)',
          },
        ),
      }),
    ],
    {
      error: (issue) =>
        `auth.type ${quote((issue.input as { type?: unknown } | undefined)?.type)} must be "entra" or "pat"`,
    },
  ),
  catalog: z.string().regex(SQL_IDENTIFIER, { error: (issue) => identifierMessage('catalog', issue.input) }),
  schema: z.string().regex(SQL_IDENTIFIER, { error: (issue) => identifierMessage('schema', issue.input) }),
  format: z.enum(['iceberg', 'delta-uniform'], {
    error: (issue) => `format ${quote(issue.input)} must be "iceberg" or "delta-uniform"`,
  }),
  statementTimeoutSeconds: z
    .number()
    .refine((seconds) => Number.isSafeInteger(seconds) && seconds > 0, {
      error: (issue) => `statementTimeoutSeconds ${quote(issue.input)} must be a positive whole number of seconds`,
    })
    .optional(),
  retry: z
    .object({
      attempts: z
        .number()
        .int()
        .min(1, { error: (issue) => `retry.attempts ${quote(issue.input)} must be a whole number of at least 1` }),
      baseDelayMs: z.number().min(0),
      maxDelayMs: z.number(),
      budgetMs: z.number().positive().optional(),
    })
    .refine((retry) => retry.maxDelayMs >= retry.baseDelayMs, {
      error: 'retry delays must be non-negative, with maxDelayMs at least baseDelayMs',
    })
    .optional(),
});

function identifierMessage(field: string, value: unknown): string {
  return `${field} ${quote(value)} is not a plain SQL identifier (letters, digits and underscores, not starting with a digit)`;
}

/** The options as checked: the first problem becomes an input error naming its field. */
function checkedOptions(options: DatabricksWarehouseOptions): z.infer<typeof optionsSchema> {
  const parsed = optionsSchema.safeParse(options);
  if (parsed.success) return parsed.data;
  const [issue] = parsed.error.issues;
  const field = issue?.path.join('.') || 'options';
  throw new InputError(field, issue?.message ?? 'the Databricks options are invalid');
}

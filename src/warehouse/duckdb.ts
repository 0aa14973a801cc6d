import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { TerminalError, messageOf } from '../common/errors';
import type { ColumnType, DatasetDefinition } from '../pipeline/datasets';
import type { DayRows, LocalFile, StageLocation, StageStore } from '../pipeline/ports';
import { type Window, describeWindow } from '../pipeline/window';
import {
  type FileTurn,
  type FileWait,
  condenseDuckDbError,
  heldInThisProcess,
  missingCatalogEntry,
  takeFileTurn,
  tryOpen,
} from './duckdb-file';
import {
  type SourceRelation,
  type SqlDialect,
  checkedIdentifier,
  columnDefinitions,
  countInWindowStatement,
  mergeStatement,
  rowsPerDayStatement,
  stringLiteral,
} from './sql';
import type { StagedWindow, Warehouse } from '../pipeline/ports';

/**
 * Settings for every connection:
 * - DuckDB 1.5's top-N window optimizer fails with an internal error on the MERGE's
 *   `QUALIFY ROW_NUMBER() ... = 1` dedup; turning just that rewrite off keeps the statement shared with Databricks.
 * - The rest keeps a long run's memory down: each staged file is read once, so caching it is waste; the allocator
 *   hands memory back after each statement; and loaded rows reach the file after a few MB instead of 16.
 */
const SESSION_SETUP = [
  "SET disabled_optimizers = 'top_n_window_elimination'",
  // Everything needed is built in; never reach out to download an extension.
  'SET autoinstall_known_extensions = false',
  'SET enable_external_file_cache = false',
  'SET allocator_background_threads = true',
  "SET allocator_flush_threshold = '1MB'",
  "SET allocator_bulk_deallocation_flush_threshold = '1MB'",
  "SET checkpoint_threshold = '4MB'",
];

/** Closing would checkpoint on the calling thread and block the event loop; as a statement it runs on DuckDB's threads. */
const CLOSE_CHECKPOINT = 'CHECKPOINT';

const DUCKDB_TYPES: Record<ColumnType, string> = {
  string: 'VARCHAR',
  int: 'INTEGER',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
};

export const duckdbDialect: SqlDialect = {
  name: 'duckdb',
  quote: (identifier) => `"${identifier}"`,
  columnType: (type) => DUCKDB_TYPES[type],
  timestampLiteral: (value) => `TIMESTAMP '${value}'`,
};

/**
 * The embedded warehouse: one DuckDB file (`<data-dir>/warehouse.duckdb`). It reads the staged JSON Lines
 * itself with `read_json`, straight from a local stage, or from temporary copies of blobs. The file is taken on
 * first use (so planning touches nothing) and held until `close`, which each step calls when its work on the table
 * is done: every user of the file, in this process or another, takes turns on it (`duckdb-file.ts`).
 */
export class DuckDbWarehouse implements Warehouse {
  readonly description: string;
  private readonly file: string;
  private readonly wait: FileWait;
  private opened: Promise<{ turn: FileTurn; connection: DuckDBConnection }> | undefined;

  constructor(file: string, wait: FileWait = {}) {
    this.file = resolve(file);
    this.description = `DuckDB ${this.file}`;
    this.wait = wait;
  }

  tableName(dataset: DatasetDefinition): string {
    return `${checkedIdentifier(dataset.table.schema, 'schema')}.${checkedIdentifier(dataset.table.name, 'table')}`;
  }

  planStatements(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageLocation): string[] {
    const sources = windows
      .filter((staged) => staged.parts.length > 0)
      .map((staged) => ({
        window: staged.window,
        relation: readJson(
          dataset,
          staged.parts.map((part) => plannedPartPath(part, stage)),
        ),
      }));
    return [
      ...this.ddl(dataset),
      ...(sources.length > 0 ? [mergeStatement(duckdbDialect, this.tableName(dataset), dataset, sources)] : []),
    ];
  }

  planCount(dataset: DatasetDefinition, window: Window): string[] {
    return [countInWindowStatement(duckdbDialect, this.tableName(dataset), dataset, window)];
  }

  readonly sessionStatements = { open: SESSION_SETUP, close: [CLOSE_CHECKPOINT] };

  /**
   * Before the source is asked: a file that cannot be a DuckDB database is refused now. One held by another process
   * is only reported: this run waits its turn when it loads. Nothing stays open.
   */
  async open(): Promise<void> {
    if (this.opened || heldInThisProcess(this.file)) return;
    const tried = await tryOpen(this.file);
    if ('heldBy' in tried) {
      this.wait.onWait?.(
        `the DuckDB file ${this.file} is in use by ${tried.heldBy} now; this run waits its turn when it loads`,
      );
      return;
    }
    tried.instance.closeSync();
  }

  async ensureTable(dataset: DatasetDefinition): Promise<void> {
    const connection = await this.connection();
    for (const statement of this.ddl(dataset)) {
      await connection.run(statement).catch((error: unknown) => {
        throw statementError(`creating ${this.tableName(dataset)} in ${this.file}`, error);
      });
    }
  }

  async loadWindows(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageStore): Promise<void> {
    const copies: LocalFile[] = [];
    /** Each file DuckDB reads, with the staged part and window it is, for an error that names them. */
    const origins = new Map<string, { part: string; window: Window }>();
    try {
      const sources: SourceRelation[] = [];
      for (const staged of windows) {
        if (staged.parts.length === 0) continue;
        // Exactly the manifest's parts: a glob over the folder could read another run's half-written file.
        let files: string[];
        if (stage.location.kind === 'local') {
          const root = stage.location.root;
          files = staged.parts.map((part) => join(root, part));
        } else {
          for (const part of staged.parts) copies.push(await stage.localFile(part));
          files = copies.slice(-staged.parts.length).map((copy) => copy.path);
        }
        files.forEach((file, index) =>
          origins.set(duckdbPath(file), { part: staged.parts[index] as string, window: staged.window }),
        );
        sources.push({ window: staged.window, relation: readJson(dataset, files) });
      }
      if (sources.length === 0) return;
      const connection = await this.connection();
      await connection
        .run(mergeStatement(duckdbDialect, this.tableName(dataset), dataset, sources))
        .catch((error: unknown) => {
          throw loadError(dataset, windows, origins, this.file, error);
        });
    } finally {
      await Promise.all(copies.map((copy) => copy.release()));
    }
  }

  /** A file that does not exist yet holds no rows: asking creates none. */
  async rowsPerDay(dataset: DatasetDefinition, window: Window): Promise<DayRows[]> {
    if (!this.opened && !existsSync(this.file)) return [];
    const connection = await this.connection();
    const reader = await connection
      .runAndReadAll(rowsPerDayStatement(duckdbDialect, this.tableName(dataset), dataset, window))
      .catch(noTableMeans(undefined));
    return reader?.getRowObjects().map((row) => ({ day: String(row.day), rows: Number(row.row_count) })) ?? [];
  }

  async rowsInWindow(dataset: DatasetDefinition, window: Window): Promise<number> {
    const connection = await this.connection();
    const [statement] = this.planCount(dataset, window);
    const reader = await connection.runAndReadAll(statement as string).catch(noTableMeans(undefined));
    const [row] = reader?.getRowObjects() ?? [];
    return Number(row?.row_count ?? 0);
  }

  /** Checkpoints and gives the file up for the next user; the next operation takes it again. */
  async close(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    if (!opened) return;
    const { turn, connection } = await opened.catch(() => ({ turn: undefined, connection: undefined }));
    if (!turn || !connection) return;
    try {
      await connection.run(CLOSE_CHECKPOINT);
    } finally {
      connection.closeSync();
      turn.instance.closeSync();
      turn.release();
    }
  }

  private ddl(dataset: DatasetDefinition): string[] {
    return [
      `CREATE SCHEMA IF NOT EXISTS ${checkedIdentifier(dataset.table.schema, 'schema')}`,
      `CREATE TABLE IF NOT EXISTS ${this.tableName(dataset)} (${columnDefinitions(duckdbDialect, dataset)})`,
    ];
  }

  /** Taken on first use, so planning touches no file; a failed take is retried by the next call. */
  private async connection(): Promise<DuckDBConnection> {
    this.opened ??= (async () => {
      const turn = await takeFileTurn(this.file, this.wait);
      try {
        const connection = await turn.instance.connect();
        for (const statement of SESSION_SETUP) await connection.run(statement);
        return { turn, connection };
      } catch (error) {
        turn.instance.closeSync();
        turn.release();
        throw error;
      }
    })().catch((error: unknown) => {
      this.opened = undefined;
      throw error;
    });
    return (await this.opened).connection;
  }
}

/** DuckDB takes forward slashes on every platform, and backslashes have no place in our SQL literals. */
function duckdbPath(file: string): string {
  return file.split(sep).join('/');
}

function readJson(dataset: DatasetDefinition, files: readonly string[]): string {
  const columns = dataset.fields
    .map((field) => `${stringLiteral(checkedIdentifier(field.name, 'column'))}: '${DUCKDB_TYPES[field.type]}'`)
    .join(', ');
  const paths = files.map((file) => stringLiteral(duckdbPath(file)));
  return `read_json([${paths.join(', ')}], format = 'newline_delimited', columns = {${columns}})`;
}

function plannedPartPath(part: string, stage: StageLocation): string {
  if (stage.kind === 'local') return join(stage.root, part);
  // DuckDB reads blobs from temporary local copies; the plan names the blobs they come from.
  return `<temporary copy of ${stage.container}/${part}>`;
}

/** A statement that failed, in one line: what was being done, DuckDB's words without the statement echo. */
function statementError(what: string, error: unknown): TerminalError {
  return new TerminalError(`${what} failed: ${condenseDuckDbError(messageOf(error))}`);
}

/**
 * A MERGE that DuckDB refused, in one line naming the window and the staged file it could not read (from DuckDB's
 * `in file "…"`), and what to do: staging again writes the file afresh.
 */
function loadError(
  dataset: DatasetDefinition,
  windows: readonly StagedWindow[],
  origins: ReadonlyMap<string, { part: string; window: Window }>,
  file: string,
  error: unknown,
): TerminalError {
  const message = messageOf(error);
  const read = /in file "([^"]+)"/.exec(message)?.[1];
  const origin = read === undefined ? undefined : origins.get(read);
  const span =
    origin?.window ??
    (windows.length === 1
      ? windows[0]?.window
      : { start: windows[0]?.window.start ?? '', stop: windows.at(-1)?.window.stop ?? '' });
  const where = origin ? `, reading ${origin.part}` : '';
  return new TerminalError(
    `loading ${dataset.name} ${span ? describeWindow(span) : ''} into ${file} failed${where}: ${condenseDuckDbError(message)}; run the window again to stage it afresh, and if it fails the same way, report the staged file`,
  );
}

/** A table that was never loaded holds no rows: asking about it answers `value`, not an error. */
function noTableMeans<T>(value: T): (error: unknown) => T {
  return (error) => {
    if (missingCatalogEntry(error) !== undefined) return value;
    throw statementError('counting the window', error);
  };
}

import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { InputError, TerminalError, describeError, messageOf } from '../common/errors';
import type { ColumnType, DatasetDefinition } from '../pipeline/datasets';
import type { LocalFile, StageLocation, StageStore } from '../pipeline/ports';
import type { Window } from '../pipeline/window';
import {
  type SourceRelation,
  type SqlDialect,
  checkedIdentifier,
  columnDefinitions,
  countInWindowStatement,
  daysWithRowsStatement,
  mergeStatement,
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
 * itself with `read_json`, straight from a local stage, or from temporary copies of blobs. The file is opened
 * on first use (so planning touches nothing) and held until `close`; DuckDB allows one writing process.
 */
export class DuckDbWarehouse implements Warehouse {
  readonly description: string;
  private readonly file: string;
  private opened: Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> | undefined;

  constructor(file: string) {
    this.file = resolve(file);
    this.description = `DuckDB ${this.file}`;
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

  async open(): Promise<void> {
    await this.connection();
  }

  async ensureTable(dataset: DatasetDefinition): Promise<void> {
    const connection = await this.connection();
    for (const statement of this.ddl(dataset)) await connection.run(statement);
  }

  async loadWindows(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageStore): Promise<void> {
    const copies: LocalFile[] = [];
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
        sources.push({ window: staged.window, relation: readJson(dataset, files) });
      }
      if (sources.length === 0) return;
      const connection = await this.connection();
      await connection.run(mergeStatement(duckdbDialect, this.tableName(dataset), dataset, sources));
    } finally {
      await Promise.all(copies.map((copy) => copy.release()));
    }
  }

  async daysWithRows(dataset: DatasetDefinition, window: Window): Promise<string[]> {
    const connection = await this.connection();
    const reader = await connection
      .runAndReadAll(daysWithRowsStatement(duckdbDialect, this.tableName(dataset), dataset, window))
      .catch(noTableMeans(undefined));
    return reader?.getRowObjects().map((row) => String(row.day)) ?? [];
  }

  async rowsInWindow(dataset: DatasetDefinition, window: Window): Promise<number> {
    const connection = await this.connection();
    const [statement] = this.planCount(dataset, window);
    const reader = await connection.runAndReadAll(statement as string).catch(noTableMeans(undefined));
    const [row] = reader?.getRowObjects() ?? [];
    return Number(row?.row_count ?? 0);
  }

  /** Checkpoints and releases the file; the next operation opens it again. */
  async close(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    if (!opened) return;
    const { instance, connection } = await opened;
    try {
      await connection.run(CLOSE_CHECKPOINT);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }

  private ddl(dataset: DatasetDefinition): string[] {
    return [
      `CREATE SCHEMA IF NOT EXISTS ${checkedIdentifier(dataset.table.schema, 'schema')}`,
      `CREATE TABLE IF NOT EXISTS ${this.tableName(dataset)} (${columnDefinitions(duckdbDialect, dataset)})`,
    ];
  }

  /** Opened on first use, so planning touches no file; a failed open is retried by the next call. */
  private async connection(): Promise<DuckDBConnection> {
    this.opened ??= (async () => {
      await mkdir(dirname(this.file), { recursive: true });
      const instance = await DuckDBInstance.create(this.file).catch((error: unknown) => {
        throw openError(this.file, error);
      });
      const connection = await instance.connect();
      for (const statement of SESSION_SETUP) await connection.run(statement);
      return { instance, connection };
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

/**
 * DuckDB allows one writing process per file; its own message spans several lines and names the lock's
 * holder. One line says what to do instead.
 */
function openError(file: string, error: unknown): Error {
  const message = messageOf(error);
  const holder = /PID (\d+)/.exec(message)?.[1];
  if (/Could not set lock|Conflicting lock/i.test(message)) {
    return new InputError(
      'warehouse',
      `the DuckDB file ${file} is in use by another process${holder ? ` (PID ${holder})` : ''}; DuckDB allows one writer at a time: close it or wait for that run, then try again`,
    );
  }
  return new TerminalError(`the DuckDB file ${file} cannot be opened: ${describeError(error)}`, { cause: error });
}

/** A table that was never loaded holds no rows: asking about it answers `value`, not an error. */
function noTableMeans<T>(value: T): (error: unknown) => T {
  return (error) => {
    if (/Table with name \S+ does not exist/.test(messageOf(error))) return value;
    throw error;
  };
}

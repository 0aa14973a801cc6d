import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { ColumnType, DatasetDefinition } from '../pipeline/datasets';
import { windowLayout } from '../pipeline/stage/layout';
import type { LocalFile, StageLocation, StageStore } from '../pipeline/stage/store';
import type { Window } from '../pipeline/window';
import {
  type SourceRelation,
  type SqlDialect,
  checkedIdentifier,
  columnDefinitions,
  countInWindowStatement,
  mergeStatement,
  stringLiteral,
} from './sql';
import type { StagedWindow, Warehouse } from './warehouse';

/**
 * DuckDB 1.5's top-N window optimizer fails with an internal error on the MERGE's
 * `QUALIFY ROW_NUMBER() ... = 1` dedup; turning just that rewrite off keeps the statement shared with Databricks.
 */
const SESSION_SETUP = ["SET disabled_optimizers = 'top_n_window_elimination'"];

const DUCKDB_TYPES: Record<ColumnType, string> = { string: 'VARCHAR', int: 'INTEGER', date: 'DATE', timestamp: 'TIMESTAMP' };

export const duckdbDialect: SqlDialect = {
  name: 'duckdb',
  quote: (identifier) => `"${identifier}"`,
  columnType: (type) => DUCKDB_TYPES[type],
  timestampLiteral: (value) => `TIMESTAMP '${value}'`,
};

/**
 * The embedded warehouse: one DuckDB file (`<data-dir>/warehouse.duckdb`). It reads the staged JSON Lines
 * itself with `read_json`, straight from a local stage, or from temporary copies of blobs.
 * The file is opened for each operation and closed after it: DuckDB locks the file while it is open and keeps
 * its allocations until it is closed, so a long run holds neither the lock nor the memory between chunks, and
 * people can query the table while a backfill is fetching.
 */
export class DuckDbWarehouse implements Warehouse {
  readonly description: string;
  private readonly file: string;
  /** Tables this object has created or found, so a long run does not reopen the file for DDL on every chunk. */
  private readonly ensured = new Set<string>();

  constructor(file: string) {
    this.file = resolve(file);
    this.description = `DuckDB ${this.file}`;
  }

  tableName(dataset: DatasetDefinition): string {
    return `${checkedIdentifier(dataset.table.schema, 'schema')}.${checkedIdentifier(dataset.table.name, 'table')}`;
  }

  planStatements(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageLocation): string[] {
    const sources = windows.map((staged) => ({
      window: staged.window,
      relation: readJson(dataset, [plannedPartGlob(dataset.name, staged.window, stage)]),
    }));
    return [...SESSION_SETUP, ...this.ddl(dataset), ...(sources.length > 0 ? [mergeStatement(duckdbDialect, this.tableName(dataset), dataset, sources)] : [])];
  }

  async ensureTable(dataset: DatasetDefinition): Promise<void> {
    const table = this.tableName(dataset);
    if (this.ensured.has(table)) return;
    await this.withConnection(async (connection) => {
      for (const statement of this.ddl(dataset)) await connection.run(statement);
    });
    this.ensured.add(table);
  }

  async loadWindows(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageStore): Promise<void> {
    const copies: LocalFile[] = [];
    try {
      const sources: SourceRelation[] = [];
      for (const staged of windows) {
        if (staged.parts.length === 0) continue;
        let files: string[];
        if (stage.location.kind === 'local') {
          files = [join(stage.location.root, windowLayout(dataset.name, staged.window).prefix, 'part-*.jsonl')];
        } else {
          for (const part of staged.parts) copies.push(await stage.localFile(part));
          files = copies.slice(-staged.parts.length).map((copy) => copy.path);
        }
        sources.push({ window: staged.window, relation: readJson(dataset, files) });
      }
      if (sources.length === 0) return;
      const merge = mergeStatement(duckdbDialect, this.tableName(dataset), dataset, sources);
      await this.withConnection((connection) => connection.run(merge));
    } finally {
      await Promise.all(copies.map((copy) => copy.release()));
    }
  }

  async rowsInWindow(dataset: DatasetDefinition, window: Window): Promise<number> {
    const statement = countInWindowStatement(duckdbDialect, this.tableName(dataset), dataset, window);
    const reader = await this.withConnection((connection) => connection.runAndReadAll(statement));
    const [row] = reader.getRowObjects();
    return Number(row?.row_count ?? 0);
  }

  /** Nothing stays open between operations. */
  async close(): Promise<void> {}

  private ddl(dataset: DatasetDefinition): string[] {
    return [
      `CREATE SCHEMA IF NOT EXISTS ${checkedIdentifier(dataset.table.schema, 'schema')}`,
      `CREATE TABLE IF NOT EXISTS ${this.tableName(dataset)} (${columnDefinitions(duckdbDialect, dataset)})`,
    ];
  }

  private async withConnection<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    await mkdir(dirname(this.file), { recursive: true });
    const instance = await DuckDBInstance.create(this.file);
    const connection = await instance.connect();
    try {
      for (const statement of SESSION_SETUP) await connection.run(statement);
      const result = await work(connection);
      // Closing checkpoints the write-ahead log on the calling thread; done here first, it runs on DuckDB's own
      // threads and leaves the event loop free for the next chunk's fetch.
      await connection.run('CHECKPOINT');
      return result;
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }
}

function readJson(dataset: DatasetDefinition, files: readonly string[]): string {
  const columns = dataset.fields
    .map((field) => `${stringLiteral(checkedIdentifier(field.name, 'column'))}: '${DUCKDB_TYPES[field.type]}'`)
    .join(', ');
  return `read_json([${files.map(stringLiteral).join(', ')}], format = 'newline_delimited', columns = {${columns}})`;
}

function plannedPartGlob(datasetName: string, window: Window, stage: StageLocation): string {
  const glob = `${windowLayout(datasetName, window).prefix}/part-*.jsonl`;
  if (stage.kind === 'local') return join(stage.root, glob);
  // DuckDB reads blobs from temporary local copies; the plan names the blobs they come from.
  return `<temporary copy of ${stage.container}/${glob}>`;
}

import type { DatasetDefinition } from '../pipeline/datasets';
import type { StageLocation, StageStore } from '../pipeline/stage/store';
import type { Window } from '../pipeline/window';

/** A completely staged window, as a load needs it: the window and its part files (store paths). */
export interface StagedWindow {
  readonly window: Window;
  readonly parts: readonly string[];
}

/**
 * The lakehouse table behind the pipeline. Two implementations: embedded DuckDB (the default) and a
 * Databricks SQL warehouse. Both load by reading the staged files themselves, so rows never pass through
 * this process on their way in.
 */
export interface Warehouse {
  /** For people: `DuckDB /home/me/.local/warehouse.duckdb`, `Databricks adb-1.azuredatabricks.net`. */
  readonly description: string;
  /** The fully qualified table the dataset loads into. */
  tableName(dataset: DatasetDefinition): string;
  /** The exact statements `ensureTable` + `loadWindows` would run; runs nothing. */
  planStatements(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageLocation): string[];
  /** The exact statements `rowsInWindow` would run. */
  planCount(dataset: DatasetDefinition, window: Window): string[];
  /** What a run adds once around everything else: connection setup first, and what `close` runs last. */
  readonly sessionStatements: { readonly open: readonly string[]; readonly close: readonly string[] };
  /** Creates the schema and table if they do not exist; never alters an existing table. */
  ensureTable(dataset: DatasetDefinition): Promise<void>;
  /**
   * Upserts the windows' staged rows on the dataset's key, in one statement: rerunning a window, or loading
   * windows that overlap, never duplicates a row. Rows outside a window are never touched.
   */
  loadWindows(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageStore): Promise<void>;
  /** Rows in the table for the window, after a load. */
  rowsInWindow(dataset: DatasetDefinition, window: Window): Promise<number>;
  close(): Promise<void>;
}

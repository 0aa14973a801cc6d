import type { DatasetDefinition } from './datasets';
import type { SocrataClient } from './source';
import type { Window } from './window';

/**
 * The two ports the core owns; adapters in `src/stage` and `src/warehouse` implement them.
 *
 * Where staged files live. The pipeline only needs a handful of object-store operations, so both the local
 * directory (the embedded default) and Azure Blob Storage sit behind this one small interface.
 * Paths are `/`-separated and relative to the store's root (a directory, or a container).
 */
export type StageLocation =
  | { readonly kind: 'local'; readonly root: string }
  | { readonly kind: 'azure'; readonly accountName: string; readonly container: string; readonly endpoint?: string };

/** A file being written in order; `write` resolves when the store can take more (backpressure). */
export interface TextSink {
  write(text: string): Promise<void>;
  close(): Promise<void>;
  /** Gives up on the file; what was written may remain but is never referenced by a manifest. */
  abort(error: Error): Promise<void>;
}

/** A local file to read; `release` removes it if it was a temporary copy. */
export interface LocalFile {
  readonly path: string;
  release(): Promise<void>;
}

/** A lock held on the stage for one run of a window (or one load into a table), across processes and machines. */
export interface StageLock {
  /** Aborted if the lock is lost while held (renewal failed, or it was taken over as stale): stop working. */
  readonly lost: AbortSignal;
  /** Idempotent; never throws for a lock that already expired. */
  release(): Promise<void>;
}

/** Who holds a lock, as far as the lock records it: what a waiting person needs to judge it. */
export interface LockHolder {
  readonly pid?: number;
  readonly host?: string;
  /** When the holder last renewed the lock (ISO 8601). */
  readonly renewedAt?: string;
  /** When the lock expires unless renewed again (ISO 8601): a holder that died leaves it until then. */
  readonly expiresAt?: string;
  /** False when the holder is a process on this machine that no longer runs. */
  readonly running?: boolean;
}

export interface LockOptions {
  /** How long to wait for a lock another run holds before giving up with `LockBusyError`. */
  readonly waitMs: number;
  /** Called while waiting, at most every 15 s, so a person sees why nothing happens, and who holds the lock. */
  readonly onWait?: (waitedMs: number, holder: LockHolder | undefined) => void;
  readonly signal?: AbortSignal | undefined;
}

export interface StageStore {
  readonly location: StageLocation;
  /** For people: `local directory /home/me/.local` or `Azure container stage on account mtademo`. */
  readonly description: string;
  /**
   * The longest a lock whose holder died can still look held (a lock file's stale period, a lease's length): a
   * run waiting longer than this for a crashed run's lock gets it without anyone running it again. Both adapters
   * say; a stand-in that never leaves a lock behind may leave it out.
   */
  readonly lockExpiryMs?: number;
  createSink(path: string): Promise<TextSink>;
  writeText(path: string, text: string): Promise<void>;
  /** The whole file, or undefined when there is none. */
  readText(path: string): Promise<string | undefined>;
  /** Removes one file; no error if there is none. */
  remove(path: string): Promise<void>;
  /** Removes every file under `prefix/`. */
  deletePrefix(prefix: string): Promise<void>;
  /**
   * The store path of every file under `prefix/`, in no particular order; none when there is nothing there. One
   * listing request per 5,000 files on Blob Storage: what the run ledger answers every window's state from.
   */
  listFiles(prefix: string): Promise<string[]>;
  /** A local file with the content of `path`, for engines that read from disk (DuckDB). */
  localFile(path: string): Promise<LocalFile>;
  /**
   * Takes the lock named `name` (a store path such as `locks/<dataset>/<window>`), waiting a bounded time for
   * another holder. A lock whose holder died expires by itself (an expired lease, a stale lock file).
   */
  acquireLock(name: string, options: LockOptions): Promise<StageLock>;
}

/** Where a store path is, for people and plans: a file path, or the blob's URL (never with credentials). */
export function locationOf(location: StageLocation, path: string): string {
  if (location.kind === 'local') return `${location.root}/${path}`;
  const endpoint = location.endpoint ?? `https://${location.accountName}.blob.core.windows.net`;
  return `${endpoint}/${location.container}/${path}`;
}
/** A completely staged window, as a load needs it: the window and its part files (store paths). */
export interface StagedWindow {
  readonly window: Window;
  readonly parts: readonly string[];
}

/** Rows in the table on one day (`YYYY-MM-DD`). */
export interface DayRows {
  readonly day: string;
  readonly rows: number;
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
  /**
   * Opens what loads will write to, before the source is asked: a DuckDB file another process holds is refused
   * here (an `InputError` naming the file), not after the window was fetched and staged.
   */
  open(): Promise<void>;
  /**
   * Creates the schema and table if they do not exist; never alters an existing table. Here and below, an aborted
   * `signal` cancels the statement running on the engine: a stopped run leaves nothing running behind it.
   */
  ensureTable(dataset: DatasetDefinition, signal?: AbortSignal): Promise<void>;
  /**
   * Upserts the windows' staged rows on the dataset's key, in one statement: rerunning a window, or loading
   * windows that overlap, never duplicates a row. Rows outside a window are never touched.
   */
  loadWindows(
    dataset: DatasetDefinition,
    windows: readonly StagedWindow[],
    stage: StageStore,
    signal?: AbortSignal,
  ): Promise<void>;
  /**
   * The rows in the table per day of the window, days without rows left out, from one aggregate query: what the
   * `missing` mode finds gaps in and `status` shows per week.
   */
  rowsPerDay(dataset: DatasetDefinition, window: Window, signal?: AbortSignal): Promise<DayRows[]>;
  /** Rows in the table for the window, after a load. */
  rowsInWindow(dataset: DatasetDefinition, window: Window, signal?: AbortSignal): Promise<number>;
  close(): Promise<void>;
}

/** What a step works with; built by `src/run` from flags or app settings, and closed there. */
export interface StepPorts {
  readonly source: SocrataClient;
  readonly stage: StageStore;
  readonly warehouse: Warehouse;
  /** Progress for people: stderr on the command line, the invocation log in Functions. */
  readonly progress: (message: string) => void;
  /** Abandons the step: requests in flight stop, and nothing more is written. */
  readonly signal?: AbortSignal | undefined;
  /** The quarantine limit a flag or setting gave, in percent; it overrides the dataset's own (see `verdict.ts`). */
  readonly maxQuarantinePercent?: number | undefined;
  readonly tuning?: StepTuning;
}

/** Sizes and waits, with defaults that suit both datasets; tests make them small. */
export interface StepTuning {
  /** Days per chunk of a long window: each chunk is staged with its own manifest and loaded on its own. */
  readonly chunkDays?: number;
  /** Above this many rows a new part file is started (after a slice of a page is written), keeping files a sane size. */
  readonly rowsPerPart?: number;
  /** How long a run waits for another run of the same window before it is refused. */
  readonly windowLockWaitMs?: number;
  /** How long a load waits for another load into the same table. */
  readonly tableLockWaitMs?: number;
  readonly now?: () => Date;
}

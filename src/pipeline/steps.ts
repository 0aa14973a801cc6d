/**
 * The pipeline's steps, JSON in and JSON out: dataset names, windows, store paths and counts, never rows.
 * Any driver calls them: the command line (`drive.ts`), `plan`, the tests, and a Durable activity, which wraps
 * a step in a line or two. Each step works through the ports it is handed and holds the locks it needs.
 */
import { LockBusyError, TerminalError, TransientError } from '../common/errors';
import { findDataset, type DatasetDefinition } from './datasets';
import { type Manifest, type WindowLayout, parseManifest, windowLayout } from './layout';
import type { StageLock, StageStore, TextSink, Warehouse } from './ports';
import {
  type QuarantineEntry,
  type QuarantineReason,
  type SourceRecord,
  quarantineEntry,
  recordChecker,
} from './records';
import { ROW_ID, type SocrataClient, windowQuery, windowWhere } from './source';
import { isStale } from './summary';
import { type Window, describeWindow, splitWindow, windowKey } from './window';

/** What a step works with; built by `src/run` from flags or app settings, and closed there. */
export interface StepPorts {
  readonly source: SocrataClient;
  readonly stage: StageStore;
  readonly warehouse: Warehouse;
  /** Progress for people: stderr on the command line, the invocation log in Functions. */
  readonly progress: (message: string) => void;
  /** Abandons the step: requests in flight stop, and nothing more is written. */
  readonly signal?: AbortSignal | undefined;
  readonly tuning?: StepTuning;
}

/** Sizes and waits, with defaults that suit both datasets; tests make them small. */
export interface StepTuning {
  /** Days per chunk of a long window: each chunk is staged with its own manifest and loaded on its own. */
  readonly chunkDays?: number;
  /** Above this many rows a new part file is started (at a page boundary), keeping files a sane size. */
  readonly rowsPerPart?: number;
  /** How long a run waits for another run of the same window before it is refused. */
  readonly windowLockWaitMs?: number;
  /** How long a load waits for another load into the same table. */
  readonly tableLockWaitMs?: number;
  readonly now?: () => Date;
}

export const DEFAULT_CHUNK_DAYS = 28;
export const DEFAULT_ROWS_PER_PART = 1_000_000;
/** How long a run waits for another run of the same window. Part of a step's bounded worst case. */
export const WINDOW_LOCK_WAIT_MS = 30_000;
/**
 * How long a load, a count or a gap search waits for another load into the same table. Part of a step's
 * bounded worst case (see the Functions docs' retry arithmetic): the wait is short, and Durable's retry or a
 * later run waits again, rather than one attempt sitting for many minutes.
 */
export const TABLE_LOCK_WAIT_MS = 2 * 60_000;

export interface WindowInput {
  readonly dataset: string;
  readonly window: Window;
}

/** A staged window: the manifest's counts, summed over its chunks. */
export interface StageOutput {
  readonly dataset: string;
  readonly window: Window;
  /** The chunk windows that were staged, in order; what `loadWindowsStep` takes. */
  readonly chunks: readonly Window[];
  readonly fetched: number;
  readonly staged: number;
  readonly quarantined: number;
  readonly quarantineReasons: Readonly<Partial<Record<QuarantineReason, number>>>;
  readonly parts: readonly string[];
  readonly quarantineFiles: readonly string[];
  /** Source requests made, retries not counted. */
  readonly requests: number;
}

export interface LoadInput {
  readonly dataset: string;
  /** Staged (chunk) windows, each with a manifest on the stage; loaded in one MERGE. */
  readonly windows: readonly Window[];
}

export interface LoadOutput {
  readonly dataset: string;
  readonly windows: number;
  readonly staged: number;
}

export interface VerifyInput extends WindowInput {
  /** Rows staged for the window: the table must hold at least these (upserts never delete). */
  readonly staged: number;
}

export interface VerifyOutput {
  readonly rowsInWindow: number;
  /** Asked only when nothing was staged: the newest value of the window field in the whole source. */
  readonly newestInSource: string | null;
  readonly status: 'completed' | 'stale';
}

export interface MissingOutput {
  /** The parts of the window whose 7-day weeks (counted from the window's start) have no rows in the table, merged. */
  readonly missing: readonly Window[];
}

// ---------------------------------------------------------------------------------------------------------
// Steps

/** Fetch, check and stage a window under its lock: one source query, cut into chunks with a manifest each. */
export async function stageWindowStep(ports: StepPorts, input: WindowInput): Promise<StageOutput> {
  const dataset = findDataset(input.dataset);
  return withWindowLock(ports, dataset, input.window, (signal) =>
    stageChunks(ports, dataset, input.window, undefined, signal),
  );
}

/** Creates the table if needed, then one MERGE over every window; loads into one table take turns. */
export async function loadWindowsStep(ports: StepPorts, input: LoadInput): Promise<LoadOutput> {
  const dataset = findDataset(input.dataset);
  return withTable(ports, dataset, async (signal) => {
    const manifests = await loadWindows({ ...ports, signal }, dataset, input.windows);
    return {
      dataset: dataset.name,
      windows: manifests.length,
      staged: manifests.reduce((sum, manifest) => sum + manifest.staged, 0),
    };
  });
}

/** Counts the window in the table; fails (terminal) when it holds fewer rows than were staged. */
export async function verifyWindowStep(ports: StepPorts, input: VerifyInput): Promise<VerifyOutput> {
  const dataset = findDataset(input.dataset);
  const rowsInWindow = await withTable(ports, dataset, (signal) =>
    ports.warehouse.rowsInWindow(dataset, input.window, signal),
  );
  return checkWindow(ports, dataset, input, rowsInWindow);
}

/** The verdict on a loaded window from its count: a shortfall fails, an empty window asks the source how new it is. */
export async function checkWindow(
  ports: StepPorts,
  dataset: DatasetDefinition,
  input: VerifyInput,
  rowsInWindow: number,
): Promise<VerifyOutput> {
  if (rowsInWindow < input.staged) {
    // Upserts never delete, so fewer rows than staged means a load lost some: never report that as success.
    throw new TerminalError(
      `${dataset.name} ${describeWindow(input.window)}: the table holds ${count(rowsInWindow)} rows for the window but ${count(input.staged)} were staged; run the window again`,
    );
  }
  let newestInSource: string | null = null;
  if (input.staged === 0) {
    newestInSource = (await ports.source.max(dataset.windowField, ports.signal)) ?? null;
    ports.progress(
      `the source returned no rows for ${describeWindow(input.window)}; the newest ${dataset.windowField} it has is ${newestInSource ?? '(none: the dataset is empty)'}`,
    );
  }
  return {
    rowsInWindow,
    newestInSource,
    status: isStale(input.window, input.staged, newestInSource) ? 'stale' : 'completed',
  };
}

/** The weeks of a window with no rows in the table, found with one aggregate query and merged into windows. */
export async function findMissingStep(ports: StepPorts, input: WindowInput): Promise<MissingOutput> {
  const dataset = findDataset(input.dataset);
  const days = new Set(
    await withTable(ports, dataset, (signal) => ports.warehouse.daysWithRows(dataset, input.window, signal)),
  );
  const missing: Window[] = [];
  for (const week of splitWindow(input.window, 7)) {
    const covered = splitWindow(week, 1).some((day) => days.has(day.start));
    if (covered) continue;
    const last = missing.at(-1);
    if (last && last.stop === week.start) missing[missing.length - 1] = { start: last.start, stop: week.stop };
    else missing.push(week);
  }
  return { missing };
}

// ---------------------------------------------------------------------------------------------------------
// Locks

/** `locks/<dataset>/<start>_<stop>`: one run of a window at a time, whatever started it. */
export function windowLockName(dataset: DatasetDefinition, window: Window): string {
  return `locks/${dataset.name}/${windowKey(window)}`;
}

/** `locks/<dataset>/table`: loads into one table take turns (two MERGEs into one table can conflict). */
export function tableLockName(dataset: DatasetDefinition): string {
  return `locks/${dataset.name}/table`;
}

export async function withWindowLock<T>(
  ports: StepPorts,
  dataset: DatasetDefinition,
  window: Window,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const what = `${dataset.name} ${describeWindow(window)}`;
  return withLock(
    ports,
    windowLockName(dataset, window),
    ports.tuning?.windowLockWaitMs ?? WINDOW_LOCK_WAIT_MS,
    `another run is working on ${what}`,
    work,
  );
}

export async function withTableLock<T>(
  ports: StepPorts,
  dataset: DatasetDefinition,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return withLock(
    ports,
    tableLockName(dataset),
    ports.tuning?.tableLockWaitMs ?? TABLE_LOCK_WAIT_MS,
    `another load into ${ports.warehouse.tableName(dataset)} is running`,
    work,
  );
}

/**
 * A step's work on the table, under the table's lock, closing the warehouse before the lock goes: an embedded
 * DuckDB file is then free for the next step, in this process or another, and two MERGEs never overlap.
 */
async function withTable<T>(
  ports: StepPorts,
  dataset: DatasetDefinition,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return withTableLock(ports, dataset, async (signal) => {
    try {
      return await work(signal);
    } finally {
      await ports.warehouse.close();
    }
  });
}

async function withLock<T>(
  ports: StepPorts,
  name: string,
  waitMs: number,
  holder: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  let lock: StageLock;
  try {
    lock = await ports.stage.acquireLock(name, {
      waitMs,
      signal: ports.signal,
      onWait: (waited) =>
        ports.progress(`${holder}; waiting (${Math.round(waited / 1000)} s of at most ${Math.round(waitMs / 1000)} s)`),
    });
  } catch (error) {
    if (error instanceof LockBusyError) {
      throw new LockBusyError(`${holder}; try again when it is done`, { cause: error });
    }
    throw error;
  }
  const signal = ports.signal ? AbortSignal.any([ports.signal, lock.lost]) : lock.lost;
  try {
    const result = await work(signal);
    if (lock.lost.aborted) throw new TransientError(`the lock ${name} was lost while working; run again`);
    return result;
  } finally {
    await lock.release();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Staging: one source query for the whole window, cut into chunks at window-field boundaries

/**
 * Fetches a window with one paged query ordered on the window field, checks every record, and writes each
 * chunk (`DEFAULT_CHUNK_DAYS` days) as JSON Lines with its quarantine and its manifest, the manifest last.
 * A chunk is restaged from scratch: its old manifest goes first, so a run that fails halfway leaves nothing a
 * load would accept. Memory holds two pages at most whatever the window's length, and `onChunk` lets a driver
 * load a chunk while the next is fetched. The source costs ceil(rows / page size) + 2 requests: the count,
 * the pages and the empty page that ends them.
 *
 * Offset paging sees every row exactly once only if the result holds still; when it does not (a row on two
 * pages, more rows than counted, fewer at the end), the window fails as transient rather than stage rows
 * skipped or repeated. A rerun converges.
 */
export async function stageChunks(
  ports: StepPorts,
  dataset: DatasetDefinition,
  window: Window,
  onChunk?: (manifest: Manifest) => Promise<void> | void,
  signal: AbortSignal | undefined = ports.signal,
): Promise<StageOutput> {
  const { source, progress } = ports;
  const tuning = ports.tuning ?? {};
  const chunks = splitWindow(window, tuning.chunkDays ?? DEFAULT_CHUNK_DAYS);
  const requestsBefore = source.requests;
  const started = Date.now();
  const what = `${dataset.name} ${describeWindow(window)}`;
  const shifted = (detail: string) =>
    new TransientError(
      `${what}: ${detail}; the source changed while paging, so the window was not staged; run it again`,
    );

  const sourceCount = await source.count(windowWhere(dataset, window), signal);
  progress(
    `${what}: the source has ${count(sourceCount)} rows${chunks.length > 1 ? `, staged in ${chunks.length} chunks` : ''}`,
  );

  const writer = new ChunkWriter(ports, dataset, tuning, onChunk, chunks[0] as Window);
  let fetched = 0;
  let lastRowId: unknown;
  try {
    let chunkIndex = 0;
    await writer.begin(chunks[0] as Window);
    for await (const page of source.pages(windowQuery(dataset, window), signal)) {
      const firstRowId = page.records[0]?.[ROW_ID];
      if (firstRowId !== undefined && firstRowId === lastRowId)
        throw shifted(`row ${JSON.stringify(firstRowId)} came on two pages`);
      lastRowId = page.records.at(-1)?.[ROW_ID];
      if (fetched + page.records.length > sourceCount) {
        throw shifted(`the source sent more than the ${count(sourceCount)} rows it counted`);
      }
      for (const record of page.records) {
        // Pages are ordered on the window field, so a record past the chunk's end starts the next chunk.
        const day = dayOf(record[dataset.windowField]);
        while (day !== undefined && day >= writer.chunk.stop && day < window.stop && chunkIndex + 1 < chunks.length) {
          await writer.finish();
          chunkIndex += 1;
          await writer.begin(chunks[chunkIndex] as Window);
        }
        writer.add(record);
      }
      await writer.flush();
      fetched += page.records.length;
      const seconds = (Date.now() - started) / 1000;
      progress(
        `page ${page.number}: ${count(fetched)}/${count(sourceCount)} rows fetched, ` +
          `${count(writer.quarantinedSoFar)} quarantined, ${seconds.toFixed(1)}s ` +
          `(${count(Math.round(fetched / Math.max(seconds, 0.001)))} rows/s)`,
      );
    }
    if (fetched !== sourceCount) {
      throw shifted(`the source counted ${count(sourceCount)} rows but paging returned ${count(fetched)}`);
    }
    await writer.finish();
    // Chunks after the last record are staged empty, so every chunk of the window has a manifest.
    for (chunkIndex += 1; chunkIndex < chunks.length; chunkIndex += 1) {
      await writer.begin(chunks[chunkIndex] as Window);
      await writer.finish();
    }
  } catch (error) {
    await writer.abort(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
  await writer.settled();
  const totals = writer.totals;
  if (totals.fetched > 0 && totals.quarantined * 2 > totals.fetched) {
    // Mostly rejected is rarely bad data and usually a definition that no longer matches the source.
    progress(
      `warning: ${totals.quarantined} of ${totals.fetched} records were quarantined (${Object.entries(totals.reasons)
        .map(([reason, n]) => `${reason} ${n}`)
        .join(', ')}); check ${writer.quarantineFiles.join(', ')} against the ${dataset.name} definition`,
    );
  }
  return {
    dataset: dataset.name,
    window: { start: window.start, stop: window.stop },
    chunks,
    fetched: totals.fetched,
    staged: totals.staged,
    quarantined: totals.quarantined,
    quarantineReasons: totals.reasons,
    parts: writer.parts,
    quarantineFiles: writer.quarantineFiles,
    requests: source.requests - requestsBefore,
  };
}

/** `2024-01-07` from `2024-01-07T00:00:00.000`; undefined for anything that is not a date (it is quarantined). */
function dayOf(value: unknown): string | undefined {
  return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : undefined;
}

/** Writes one chunk at a time: its parts, its quarantine and, last, its manifest. */
class ChunkWriter {
  readonly totals = { fetched: 0, staged: 0, quarantined: 0, reasons: {} as Partial<Record<QuarantineReason, number>> };
  readonly parts: string[] = [];
  readonly quarantineFiles: string[] = [];
  /** The chunk being written, with its paths and its record checker; `begin` moves on to the next. */
  chunk: Window;
  private layout: WindowLayout;
  private check: ReturnType<typeof recordChecker>;
  private current = newChunkState();
  private stagedText = '';
  private quarantineText = '';
  private previousKey: string | undefined;
  /** Loads run behind the fetching; the chain keeps them in order and its failure is kept for `settled`. */
  private loads: Promise<void> = Promise.resolve();
  private loadFailure: { error: unknown } | undefined;

  constructor(
    private readonly ports: StepPorts,
    private readonly dataset: DatasetDefinition,
    private readonly tuning: StepTuning,
    private readonly onChunk: ((manifest: Manifest) => Promise<void> | void) | undefined,
    first: Window,
  ) {
    this.chunk = first;
    this.layout = windowLayout(dataset.name, first);
    this.check = recordChecker(dataset, first);
  }

  /** For progress lines: the finished chunks' count and the current one's. */
  get quarantinedSoFar(): number {
    return this.totals.quarantined + this.current.quarantined;
  }

  async begin(chunk: Window): Promise<void> {
    if (this.loadFailure) throw this.loadFailure.error;
    this.chunk = chunk;
    this.layout = windowLayout(this.dataset.name, chunk);
    this.check = recordChecker(this.dataset, chunk);
    this.current = newChunkState();
    this.previousKey = undefined;
    // From here until the new manifest is written the chunk is incomplete, and a load refuses it.
    await this.ports.stage.remove(this.layout.manifest);
    await this.ports.stage.deletePrefix(this.layout.prefix);
  }

  add(record: SourceRecord): void {
    const state = this.current;
    state.fetched += 1;
    const checked = this.check(record);
    if ('rejection' in checked) {
      this.quarantine(quarantineEntry(this.dataset, checked.rejection, record));
    } else if (checked.key === this.previousKey) {
      const rejection = {
        reason: 'duplicate_key',
        field: this.dataset.key.join(','),
        message: `another record with the same key (${this.dataset.key.join(', ')}) was staged first`,
      } as const;
      this.quarantine(quarantineEntry(this.dataset, rejection, record));
    } else {
      this.previousKey = checked.key;
      this.stagedText += `${JSON.stringify(checked.row)}\n`;
      state.staged += 1;
      state.rowsInPart += 1;
    }
  }

  /** Writes what the current page added; called at page boundaries and before a chunk ends. */
  async flush(): Promise<void> {
    const state = this.current;
    if (this.stagedText) {
      if (!state.part) {
        state.parts.push(this.layout.part(state.parts.length));
        state.part = await this.ports.stage.createSink(state.parts.at(-1) as string);
      }
      await state.part.write(this.stagedText);
      this.stagedText = '';
      if (state.rowsInPart >= (this.tuning.rowsPerPart ?? DEFAULT_ROWS_PER_PART)) {
        await state.part.close();
        state.part = undefined;
        state.rowsInPart = 0;
      }
    }
    if (this.quarantineText) {
      state.quarantine ??= await this.ports.stage.createSink(this.layout.quarantine);
      await state.quarantine.write(this.quarantineText);
      this.quarantineText = '';
    }
  }

  /** Closes the chunk's files and writes its manifest; a driver's `onChunk` then loads it behind the fetching. */
  async finish(): Promise<void> {
    await this.flush();
    const state = this.current;
    await state.part?.close();
    await state.quarantine?.close();
    state.part = undefined;
    state.quarantine = undefined;
    const manifest: Manifest = {
      dataset: this.dataset.name,
      window: { start: this.chunk.start, stop: this.chunk.stop },
      source: this.ports.source.resourceUrl,
      fetched: state.fetched,
      staged: state.staged,
      quarantined: state.quarantined,
      quarantineReasons: state.reasons,
      parts: state.parts,
      quarantineFile: state.quarantined > 0 ? this.layout.quarantine : null,
      stagedAt: (this.tuning.now ?? (() => new Date()))().toISOString(),
    };
    await this.ports.stage.writeText(this.layout.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
    this.totals.fetched += state.fetched;
    this.totals.staged += state.staged;
    this.totals.quarantined += state.quarantined;
    for (const [reason, n] of Object.entries(state.reasons) as [QuarantineReason, number][]) {
      this.totals.reasons[reason] = (this.totals.reasons[reason] ?? 0) + n;
    }
    this.parts.push(...state.parts);
    if (manifest.quarantineFile) this.quarantineFiles.push(manifest.quarantineFile);
    const onChunk = this.onChunk;
    if (onChunk) {
      this.loads = this.loads.then(() => onChunk(manifest));
      // Kept, not thrown here: the next chunk's start or `settled` throws it, so fetching stops early.
      this.loads.catch((error: unknown) => {
        this.loadFailure ??= { error };
      });
    }
  }

  /** Waits for the loads behind the fetching; throws the first that failed. */
  async settled(): Promise<void> {
    await this.loads;
  }

  async abort(error: Error): Promise<void> {
    const state = this.current;
    await Promise.all([state.part?.abort(error), state.quarantine?.abort(error)]);
    // Let a load in flight finish or fail before the caller moves on, so nothing runs behind the error.
    await this.loads.catch(() => undefined);
  }

  private quarantine(entry: QuarantineEntry): void {
    const state = this.current;
    state.quarantined += 1;
    state.reasons[entry.reason] = (state.reasons[entry.reason] ?? 0) + 1;
    this.quarantineText += `${JSON.stringify(entry)}\n`;
  }
}

function newChunkState() {
  return {
    fetched: 0,
    staged: 0,
    quarantined: 0,
    rowsInPart: 0,
    reasons: {} as Partial<Record<QuarantineReason, number>>,
    parts: [] as string[],
    part: undefined as TextSink | undefined,
    quarantine: undefined as TextSink | undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Loading

/** The manifest of a completely staged window; an error if the window was never staged or is incomplete. */
export async function readManifest(stage: StageStore, dataset: DatasetDefinition, window: Window): Promise<Manifest> {
  const path = windowLayout(dataset.name, window).manifest;
  const text = await stage.readText(path);
  if (text === undefined) {
    throw new TerminalError(
      `${dataset.name} ${describeWindow(window)} is not completely staged in ${stage.description} (no ${path}); stage it again`,
    );
  }
  const manifest = parseManifest(text, path);
  if (
    manifest.dataset !== dataset.name ||
    manifest.window.start !== window.start ||
    manifest.window.stop !== window.stop
  ) {
    throw new TerminalError(
      `the manifest ${path} describes ${manifest.dataset} ${describeWindow(manifest.window)}, not this window`,
    );
  }
  return manifest;
}

/**
 * Creates the table if needed and upserts the windows in one statement, reading exactly the part files their
 * manifests list. A window that is not completely staged is refused, whoever asks for the load.
 */
export async function loadWindows(
  ports: Pick<StepPorts, 'stage' | 'warehouse' | 'progress' | 'signal'>,
  dataset: DatasetDefinition,
  windows: readonly Window[],
): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (const window of windows) manifests.push(await readManifest(ports.stage, dataset, window));
  const staged = manifests.reduce((sum, manifest) => sum + manifest.staged, 0);
  const span = windows.length === 1 ? describeWindow(windows[0] as Window) : `${windows.length} windows`;
  ports.progress(`loading ${count(staged)} rows of ${span} into ${ports.warehouse.description}`);
  await ports.warehouse.ensureTable(dataset, ports.signal);
  await ports.warehouse.loadWindows(
    dataset,
    manifests.map((manifest) => ({ window: manifest.window, parts: manifest.parts })),
    ports.stage,
    ports.signal,
  );
  return manifests;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

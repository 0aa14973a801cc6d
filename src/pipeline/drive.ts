/**
 * The standalone drivers over the steps: `run` (a whole window from one process) and `plan` (what `run` would
 * do, touching nothing). Both follow the same sequence, chunk by chunk, so `plan` lists exactly what `run`
 * executes. The Functions app drives the same steps from an orchestration instead.
 */
import { type ErrorSummary, TerminalError, summarizeError } from '../common/errors';
import { type DatasetDefinition, expectedRows } from './datasets';
import { windowLayout } from './layout';
import { withTable, withWindowLock } from './locks';
import { loadWindows } from './loading';
import { type StageStore, type StepPorts, type StepTuning, type Warehouse, locationOf } from './ports';
import type { QuarantineReason } from './records';
import { type SocrataClient, windowQuery, windowWhere } from './source';
import { DEFAULT_CHUNK_DAYS, type StageOutput, stageChunks } from './staging';
import type { RunStatus } from './summary';
import { type VerifyOutput, judgeWindow } from './verdict';
import { type Window, daysIn, splitWindow } from './window';

export interface RunSummary {
  /** True for `completed` and `stale`; a `failed` verdict carries its `error`. */
  readonly ok: boolean;
  readonly dataset: string;
  readonly window: Window;
  /** The window asked for, when it reached outside the dataset's dates and was clipped to them. */
  readonly requestedWindow?: Window;
  readonly source: string;
  /** Chunks the window was staged and loaded in, each with its own manifest. */
  readonly chunks: number;
  readonly requests: number;
  readonly fetched: number;
  readonly staged: number;
  readonly quarantined: number;
  readonly quarantineReasons: Readonly<Partial<Record<QuarantineReason, number>>>;
  readonly quarantineFiles: readonly string[];
  readonly stage: string;
  readonly parts: readonly string[];
  readonly table: string;
  readonly warehouse: string;
  /** Rows in the table for the whole window after the load; at least `staged`, or the run fails. */
  readonly rowsInWindow: number;
  readonly status: RunStatus;
  /** Only when nothing was staged: the newest value of the window field the source has, so staleness is obvious. */
  readonly newestInSource?: string | undefined;
  readonly elapsedMs: number;
  /** The quarantine limit that applied, in percent of the fetched records. */
  readonly maxQuarantinePercent: number;
  /** Fields of the definition that no fetched record carried. */
  readonly missingFields: readonly string[];
  /** Only on a `failed` verdict: why. */
  readonly error?: ErrorSummary;
}

/** A run whose verdict is `failed`: the cause, with the summary of what was fetched, staged and loaded. */
export class RunFailedError extends TerminalError {
  override readonly name = 'RunFailedError';

  constructor(
    readonly summary: RunSummary,
    cause: Error,
  ) {
    super(cause.message, { cause });
  }
}

/** The run's summary from the steps' outputs: JSON in, JSON out. */
export function summarizeRun(
  ports: Pick<StepPorts, 'source' | 'stage' | 'warehouse'>,
  dataset: DatasetDefinition,
  staged: StageOutput,
  verdict: { readonly rowsInWindow: number; readonly newestInSource: string | null; readonly status: RunStatus },
  elapsedMs: number,
  error?: unknown,
): RunSummary {
  return {
    ok: verdict.status !== 'failed',
    dataset: dataset.name,
    window: staged.window,
    source: ports.source.resourceUrl,
    chunks: staged.chunks.length,
    requests: staged.requests,
    fetched: staged.fetched,
    staged: staged.staged,
    quarantined: staged.quarantined,
    quarantineReasons: staged.quarantineReasons,
    quarantineFiles: staged.quarantineFiles,
    stage: ports.stage.description,
    parts: staged.parts,
    table: ports.warehouse.tableName(dataset),
    warehouse: ports.warehouse.description,
    rowsInWindow: verdict.rowsInWindow,
    status: verdict.status,
    ...(verdict.newestInSource !== null ? { newestInSource: verdict.newestInSource } : {}),
    elapsedMs,
    maxQuarantinePercent: staged.maxQuarantinePercent,
    missingFields: staged.missingFields,
    ...(error !== undefined ? { error: summarizeError(error) } : {}),
  };
}

/**
 * The whole flow for a window under its lock: stage it chunk by chunk from one source query, load each chunk
 * while the next is fetched, then judge it (`verdict.ts`). A failure stops the run; the chunks before it stay
 * loaded, and a rerun converges. A `failed` verdict throws `RunFailedError`, which carries the run's summary.
 */
export async function runWindow(ports: StepPorts, dataset: DatasetDefinition, window: Window): Promise<RunSummary> {
  const started = Date.now();
  return withWindowLock(ports, dataset, window, async (signal) => {
    const locked = { ...ports, signal };
    // Under the lock, before the source is asked: a warehouse that cannot be written is refused up front.
    await ports.warehouse.open();
    const load = batchedLoads((windows) =>
      withTable(locked, dataset, (signal) => loadWindows({ ...locked, signal }, dataset, windows)),
    );
    const staged = await stageChunks(locked, dataset, window, async (manifest) => {
      // A chunk with no rows has nothing to load: a long, mostly empty window costs no statements.
      if (manifest.staged > 0) await load(manifest.window);
    });
    const rowsInWindow = await withTable(locked, dataset, (signal) =>
      ports.warehouse.rowsInWindow(dataset, window, signal),
    );
    let verified: VerifyOutput;
    try {
      verified = await judgeWindow(locked, dataset, window, staged, rowsInWindow);
    } catch (error) {
      if (!(error instanceof TerminalError)) throw error;
      const verdict = { rowsInWindow, newestInSource: null, status: 'failed' } as const;
      throw new RunFailedError(summarizeRun(ports, dataset, staged, verdict, Date.now() - started, error), error);
    }
    return summarizeRun(ports, dataset, staged, verified, Date.now() - started);
  });
}

/** One MERGE covers chunks spanning at most this many days (about a year), as a backfill's batches do. */
export const MAX_DAYS_PER_LOAD = 366;

/**
 * Loads staged chunks behind the fetching, in order, one at a time: the chunks that were staged while a load ran go
 * into the next load together, up to `MAX_DAYS_PER_LOAD` days of them, so a source faster than the warehouse costs
 * a few MERGEs rather than one per chunk, and a slow source still has each chunk loaded as soon as it is staged. The
 * promise for a chunk settles when its load does; after a failed load, no other is started.
 */
function batchedLoads(loadWindows: (windows: Window[]) => Promise<unknown>): (chunk: Window) => Promise<void> {
  const waiting: { chunk: Window; loaded: () => void; failed: (error: unknown) => void }[] = [];
  let loading = false;
  let failure: { error: unknown } | undefined;
  const next = async () => {
    loading = true;
    while (waiting.length > 0) {
      let size = 1;
      let days = daysIn(waiting[0]?.chunk as Window);
      for (const { chunk } of waiting.slice(1)) {
        days += daysIn(chunk);
        if (days > MAX_DAYS_PER_LOAD) break;
        size += 1;
      }
      const batch = waiting.splice(0, size);
      try {
        if (failure) throw failure.error;
        await loadWindows(batch.map(({ chunk }) => chunk));
        for (const { loaded } of batch) loaded();
      } catch (error) {
        failure ??= { error };
        for (const { failed } of batch) failed(error);
      }
    }
    loading = false;
  };
  return (chunk) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ chunk, loaded: resolve, failed: reject });
      if (!loading) void next();
    });
}

/** What `run` would do, worked out without touching the source, the stage or the warehouse. */
export interface Plan {
  readonly dataset: string;
  readonly window: Window;
  readonly requestedWindow?: Window;
  readonly chunks: readonly Window[];
  /**
   * What goes out first, together: the count, the first page and the pages the dataset's estimate surely fills;
   * later pages follow at offsets of a page up to the count, several in flight.
   */
  readonly sourceRequests: readonly string[];
  /** Per chunk: the first part file, the quarantine file and the manifest (more parts follow for big chunks). */
  readonly stagePaths: readonly string[];
  /** The exact SQL the warehouse would run: setup, each chunk's load (assuming it stages some rows), the count. */
  readonly statements: readonly string[];
  readonly table: string;
  readonly stage: string;
  readonly warehouse: string;
}

export function planRun(
  ports: {
    readonly source: SocrataClient;
    readonly stage: StageStore;
    readonly warehouse: Warehouse;
    readonly tuning?: StepTuning;
  },
  dataset: DatasetDefinition,
  window: Window,
): Plan {
  const { source, stage, warehouse } = ports;
  const chunks = splitWindow(window, ports.tuning?.chunkDays ?? DEFAULT_CHUNK_DAYS);
  const stagePaths: string[] = [];
  const statements: string[] = [...warehouse.sessionStatements.open];
  for (const chunk of chunks) {
    const layout = windowLayout(dataset.name, chunk);
    stagePaths.push(
      ...[layout.part(0), layout.quarantine, layout.manifest].map((path) => locationOf(stage.location, path)),
    );
    statements.push(...warehouse.planStatements(dataset, [{ window: chunk, parts: [layout.part(0)] }], stage.location));
  }
  statements.push(...warehouse.planCount(dataset, window), ...warehouse.sessionStatements.close);
  return {
    dataset: dataset.name,
    window,
    chunks,
    sourceRequests: [
      source.urlFor(source.countParams(windowWhere(dataset, window))).toString(),
      ...source
        .earlyPageOffsets(expectedRows(dataset, window))
        .map((offset) => source.urlFor(source.pageParams(windowQuery(dataset, window), offset)).toString()),
    ],
    stagePaths,
    statements,
    table: warehouse.tableName(dataset),
    stage: stage.description,
    warehouse: warehouse.description,
  };
}

/**
 * The standalone drivers over the steps: `run` (a whole window from one process) and `plan` (what `run` would
 * do, touching nothing). Both follow the same sequence, chunk by chunk, so `plan` lists exactly what `run`
 * executes. The Functions app drives the same steps from an orchestration instead.
 */
import type { DatasetDefinition } from './datasets';
import { windowLayout } from './layout';
import { type StageStore, type Warehouse, locationOf } from './ports';
import type { QuarantineReason } from './records';
import { type SocrataClient, windowQuery, windowWhere } from './source';
import { withTableLock, withWindowLock } from './locks';
import { loadWindows } from './loading';
import type { StepPorts, StepTuning } from './ports';
import { DEFAULT_CHUNK_DAYS, type StageOutput, stageChunks } from './staging';
import { type VerifyOutput, checkWindow } from './verdict';
import { type Window, splitWindow } from './window';

export interface RunSummary {
  readonly ok: true;
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
  readonly status: VerifyOutput['status'];
  /** Only when nothing was fetched: the newest value of the window field the source has, so staleness is obvious. */
  readonly newestInSource?: string | undefined;
  readonly elapsedMs: number;
}

/** The run's summary from the steps' outputs: JSON in, JSON out. */
export function summarizeRun(
  ports: Pick<StepPorts, 'source' | 'stage' | 'warehouse'>,
  dataset: DatasetDefinition,
  staged: StageOutput,
  verified: VerifyOutput,
  elapsedMs: number,
): RunSummary {
  return {
    ok: true,
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
    rowsInWindow: verified.rowsInWindow,
    status: verified.status,
    ...(verified.newestInSource !== null ? { newestInSource: verified.newestInSource } : {}),
    elapsedMs,
  };
}

/**
 * The whole flow for a window under its lock: stage it chunk by chunk from one source query, load each chunk
 * while the next is fetched, then verify the table holds what was staged. A failure stops the run; the chunks
 * before it stay loaded, and a rerun converges.
 */
export async function runWindow(ports: StepPorts, dataset: DatasetDefinition, window: Window): Promise<RunSummary> {
  const started = Date.now();
  return withWindowLock(ports, dataset, window, async (signal) => {
    const locked = { ...ports, signal };
    // Under the lock, before the source is asked: a warehouse that cannot be written is refused up front.
    await ports.warehouse.open();
    const staged = await stageChunks(locked, dataset, window, async (manifest) => {
      // A chunk with no rows has nothing to load: a long, mostly empty window costs no statements.
      if (manifest.staged === 0) return;
      await withTableLock(locked, dataset, () => loadWindows(locked, dataset, [manifest.window]));
    });
    const rowsInWindow = await withTableLock(locked, dataset, () => ports.warehouse.rowsInWindow(dataset, window));
    const verified = await checkWindow(
      locked,
      dataset,
      { dataset: dataset.name, window, staged: staged.staged },
      rowsInWindow,
    );
    return summarizeRun(ports, dataset, staged, verified, Date.now() - started);
  });
}

/** What `run` would do, worked out without touching the source, the stage or the warehouse. */
export interface Plan {
  readonly dataset: string;
  readonly window: Window;
  readonly requestedWindow?: Window;
  readonly chunks: readonly Window[];
  /** The count and the first page; later pages move `$offset` by the rows received, to an empty page. */
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
      source.urlFor(source.pageParams(windowQuery(dataset, window), 0)).toString(),
    ],
    stagePaths,
    statements,
    table: warehouse.tableName(dataset),
    stage: stage.description,
    warehouse: warehouse.description,
  };
}

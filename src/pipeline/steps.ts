/**
 * What a driver may call: the pipeline's steps, JSON in and JSON out (dataset names, windows, store paths and
 * counts, never rows). The command line (`drive.ts`), `plan`, the tests and each Durable activity call them; an
 * activity wraps a step in a line or two. Each step works through the ports it is handed and holds the locks it
 * needs. How a window is cut, checked and written is in `staging.ts`; the locks in `locks.ts`; loading in
 * `loading.ts`; the verdict in `verdict.ts`.
 */
import { findDataset } from './datasets';
import { type LedgerEntry, readLedger, readLedgerRecord } from './ledger';
import { withTable, withWindowLock } from './locks';
import { loadWindows } from './loading';
import type { StepPorts } from './ports';
import { DEFAULT_CHUNK_DAYS, type StageOutput, stageChunks } from './staging';
import { type VerifyInput, type VerifyOutput, type WindowInput, judgeWindow, readWindowTotals } from './verdict';
import { type Window, describeWindow, splitWindow } from './window';
import { type WindowState, weekStates } from './window-states';

export type { StepPorts, StepTuning } from './ports';
export { DEFAULT_CHUNK_DAYS, DEFAULT_ROWS_PER_PART, type StageOutput } from './staging';
export { readManifest } from './loading';
export { TABLE_LOCK_WAIT_MS, WINDOW_LOCK_WAIT_MS, tableLockWaitMs, windowLockWaitMs } from './locks';
export { DEFAULT_MAX_QUARANTINE_PERCENT, type VerifyInput, type VerifyOutput, type WindowInput } from './verdict';
export { type ReportInput, type ReportOutput, type ReportedRun, type SummaryLineSink, reportRunsStep } from './report';

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

export interface MissingOutput {
  /** The parts of the window whose 7-day weeks (counted from the window's start) have no rows in the table, merged. */
  readonly missing: readonly Window[];
}

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

/**
 * The verdict on a loaded window: reads what was staged from the window's manifests (the source of truth, whoever
 * staged it) and counts the window in the table. Fails (terminal) when the table holds fewer rows than were staged,
 * or when more was quarantined than the limit allows, naming the top reasons and the quarantine files.
 */
export async function verifyWindowStep(ports: StepPorts, input: VerifyInput): Promise<VerifyOutput> {
  const dataset = findDataset(input.dataset);
  const chunkDays = ports.tuning?.chunkDays ?? DEFAULT_CHUNK_DAYS;
  const totals = await readWindowTotals(ports.stage, dataset, input.window, chunkDays);
  if (input.staged !== undefined && input.staged !== totals.staged) {
    ports.progress(
      `${dataset.name} ${describeWindow(input.window)} was staged again since this run staged it (${input.staged} rows then, ${totals.staged} now); judging what is staged now`,
    );
  }
  const rowsInWindow = await withTable(ports, dataset, (signal) =>
    ports.warehouse.rowsInWindow(dataset, input.window, signal),
  );
  return judgeWindow(ports, dataset, input.window, totals, rowsInWindow);
}

/** The weeks of a window with no rows in the table, found with one aggregate query and merged into windows. */
export async function findMissingStep(ports: StepPorts, input: WindowInput): Promise<MissingOutput> {
  const dataset = findDataset(input.dataset);
  const rows = await withTable(ports, dataset, (signal) => ports.warehouse.rowsPerDay(dataset, input.window, signal));
  const days = new Set(rows.map(({ day }) => day));
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

/** A week as `status` shows it: its state from the run ledger, its rows in the table, and its last run. */
export interface WeekStatus {
  readonly start: string;
  readonly stop: string;
  readonly state: WindowState;
  readonly rows: number;
  readonly lastRun: {
    readonly instanceId: string;
    readonly start: string;
    readonly stop: string;
    readonly status: LedgerEntry['status'];
    readonly finishedAt: string;
    readonly error?: { readonly kind: string; readonly message: string };
  } | null;
}

export interface StatusOutput {
  readonly dataset: string;
  readonly window: Window;
  readonly table: string;
  readonly weeks: readonly WeekStatus[];
  readonly counts: Readonly<Record<WindowState, number>>;
}

/** Failed last runs whose error `status` reads from their records; the rest show their verdict only. */
export const MAX_ERRORS_READ = 50;

/**
 * Per week of the window (seven days from its start): loaded, stale, failed or never run, from the run ledger (one
 * listing); the rows the table holds, from one aggregate query; and the last run with its verdict (a failed one's
 * error read from its record). What a person looks at before choosing a backfill mode.
 */
export async function windowStatusStep(ports: StepPorts, input: WindowInput): Promise<StatusOutput> {
  const dataset = findDataset(input.dataset);
  const [entries, days] = await Promise.all([
    readLedger(ports.stage, dataset.name),
    ports.warehouse.rowsPerDay(dataset, input.window, ports.signal),
  ]);
  const rowsOn = new Map(days.map(({ day, rows }) => [day, rows]));
  const states = weekStates(entries, input.window);
  const failedRuns = [...new Set(states.flatMap(({ lastRun }) => (lastRun?.status === 'failed' ? [lastRun] : [])))];
  const errors = new Map(
    await Promise.all(
      failedRuns
        .slice(-MAX_ERRORS_READ)
        .map(async (run) => [run.path, (await readLedgerRecord(ports.stage, run))?.error] as const),
    ),
  );
  const weeks = states.map(({ window, state, lastRun }): WeekStatus => {
    const error = lastRun && errors.get(lastRun.path);
    return {
      ...window,
      state,
      rows: splitWindow(window, 1).reduce((sum, day) => sum + (rowsOn.get(day.start) ?? 0), 0),
      lastRun: lastRun
        ? {
            instanceId: lastRun.instanceId,
            ...lastRun.window,
            status: lastRun.status,
            finishedAt: lastRun.finishedAt,
            ...(error ? { error } : {}),
          }
        : null,
    };
  });
  const counts = { loaded: 0, stale: 0, failed: 0, 'never-run': 0 };
  for (const week of weeks) counts[week.state] += 1;
  return { dataset: dataset.name, window: input.window, table: ports.warehouse.tableName(dataset), weeks, counts };
}

/**
 * How a run ends, for every driver: its ledger record, then its summary line (`bnt.run.finished`). The command
 * line (`runAndReport`) and the Durable `reportRun` activity both end a run with `reportRunsStep`, so neither can
 * write one without the other.
 */
import { errorKind, summarizeError } from '../common/errors';
import type { DatasetDefinition } from './datasets';
import { RunFailedError, type RunSummary, runWindow } from './drive';
import { CLI_INSTANCE_ID, type LedgerRecord, writeLedgerRecord } from './ledger';
import type { StepPorts } from './ports';
import { type RunFinished, runFinishedLine } from './summary';
import type { Window } from './window';

/** A finished run as both records carry it: with the time it finished, which names its ledger record. */
export type ReportedRun = RunFinished & { readonly finishedAt: string };

export interface ReportInput {
  readonly runs: readonly ReportedRun[];
}

export interface ReportOutput {
  /** The ledger records written, as store paths. */
  readonly recorded: readonly string[];
}

/** Where a summary line goes: stderr on the command line, the invocation log (by status) in Functions. */
export type SummaryLineSink = (run: ReportedRun, line: string) => void;

/** A ledger record's error stays one readable line, whoever wrote it. */
const MAX_RECORDED_MESSAGE = 1_000;

export function ledgerRecordOf(run: ReportedRun): LedgerRecord {
  return {
    dataset: run.dataset,
    window: { start: run.start, stop: run.stop },
    status: run.status,
    fetched: run.fetched,
    staged: run.staged,
    quarantined: run.quarantined,
    rowsInWindow: run.rowsInWindow,
    instanceId: run.instanceId,
    ...(run.error
      ? { error: { kind: run.error.kind, message: run.error.message.slice(0, MAX_RECORDED_MESSAGE) } }
      : {}),
    finishedAt: run.finishedAt,
  };
}

/**
 * Writes each run's ledger record, then its summary line. Records first: a write that fails (and is retried) has
 * logged nothing yet, so each run still gets exactly one line; a record written twice lands on the same file.
 */
export async function reportRunsStep(
  ports: Pick<StepPorts, 'stage'>,
  input: ReportInput,
  sink: SummaryLineSink,
): Promise<ReportOutput> {
  const recorded = await Promise.all(input.runs.map((run) => writeLedgerRecord(ports.stage, ledgerRecordOf(run))));
  for (const run of input.runs) sink(run, runFinishedLine(run));
  return { recorded };
}

/** The command line's summary of a run as the summary line and the ledger carry it. */
export function reportedRunOf(summary: RunSummary, finishedAt: Date): ReportedRun {
  return {
    dataset: summary.dataset,
    start: summary.window.start,
    stop: summary.window.stop,
    instanceId: CLI_INSTANCE_ID,
    status: summary.status,
    fetched: summary.fetched,
    staged: summary.staged,
    quarantined: summary.quarantined,
    rowsInWindow: summary.rowsInWindow,
    newestInSource: summary.newestInSource ?? null,
    durationMs: summary.elapsedMs,
    ...(summary.error ? { error: { kind: summary.error.kind, message: summary.error.message } } : {}),
    maxQuarantinePercent: summary.maxQuarantinePercent,
    missingFields: summary.missingFields,
    finishedAt: finishedAt.toISOString(),
  };
}

/**
 * `runWindow` as the command line runs it: every run that got past its checks ends with its ledger record and
 * summary line (on `progress`), `failed` ones too — a failed verdict with its numbers, a step that failed or a
 * stopped run with what is known. A run refused as input (nothing was touched) records nothing. A record that
 * cannot be written fails a run that succeeded; behind a run that failed it is only a progress note.
 */
export async function runAndReport(
  ports: StepPorts,
  dataset: DatasetDefinition,
  window: Window,
  now: () => Date = () => new Date(),
): Promise<RunSummary> {
  const started = now().getTime();
  const report = (run: ReportedRun) => reportRunsStep(ports, { runs: [run] }, (_, line) => ports.progress(line));
  let summary: RunSummary;
  try {
    summary = await runWindow(ports, dataset, window);
  } catch (error) {
    if (errorKind(error) !== 'input') {
      const finished = now();
      const run =
        error instanceof RunFailedError
          ? reportedRunOf(error.summary, finished)
          : failedBeforeItsVerdict(dataset, window, error, finished.getTime() - started, finished);
      await report(run).catch((recordError: unknown) =>
        ports.progress(`the failed run's ledger record could not be written: ${summarizeError(recordError).message}`),
      );
    }
    throw error;
  }
  await report(reportedRunOf(summary, now()));
  return summary;
}

function failedBeforeItsVerdict(
  dataset: DatasetDefinition,
  window: Window,
  error: unknown,
  durationMs: number,
  finishedAt: Date,
): ReportedRun {
  const { kind, message } = summarizeError(error);
  return {
    dataset: dataset.name,
    start: window.start,
    stop: window.stop,
    instanceId: CLI_INSTANCE_ID,
    status: 'failed',
    fetched: 0,
    staged: 0,
    quarantined: 0,
    rowsInWindow: 0,
    newestInSource: null,
    durationMs,
    error: { kind, message },
    maxQuarantinePercent: null,
    missingFields: [],
    finishedAt: finishedAt.toISOString(),
  };
}

import type { ErrorSummary } from '../common/errors';
import type { LoadInput, VerifyInput, WindowInput } from '../pipeline/steps';
import type { RunFinished } from '../pipeline/summary';
import type { Window } from '../pipeline/window';
import type { BackfillMode } from './instances';

/**
 * The small JSON that orchestrations and activities pass each other: names, windows, paths and counts, never
 * rows. Every activity input carries the instance id of the run it works for, so its log lines can say so.
 */
export interface RunRef {
  readonly instanceId: string;
}

export type StageWindowInput = WindowInput & RunRef;
/** `window` is the span the loaded windows cover: what the load's log lines name. */
export type LoadWindowsInput = LoadInput & RunRef & { readonly window: Window };
export type VerifyWindowInput = VerifyInput & RunRef;
export type FindMissingInput = WindowInput & RunRef;
/** One summary line per finished window or unit. */
export interface ReportRunInput {
  readonly runs: readonly RunFinished[];
}

/** The weekly window orchestration's input. */
export type WindowRunInput = WindowInput;

/** A backfill unit's sub-orchestration input. */
export interface UnitRunInput extends WindowInput {
  readonly backfillInstanceId: string;
}

export interface BackfillRunInput extends WindowInput {
  readonly mode: BackfillMode;
  readonly maxConcurrency: number;
  /** Given by the starter for the `failed` mode; otherwise the orchestration plans the units itself. */
  readonly units?: readonly Window[];
}

/** A step that failed: which, and why. */
export interface FailedStep extends ErrorSummary {
  readonly step: string;
}

/** The counts a run has so far; absent until the step that produces them has run. */
export interface RunCounts {
  readonly fetched?: number;
  readonly staged?: number;
  readonly quarantined?: number;
  readonly rowsInWindow?: number;
}

export type WindowStep = 'stage' | 'load' | 'verify' | 'report' | 'done' | 'failed';

/** What a window (or unit) orchestration shows while it runs: `setCustomStatus`, under 16 KB. */
export interface WindowCustomStatus {
  readonly step: WindowStep;
  readonly counts: RunCounts;
  readonly error?: FailedStep;
}

/** A completed window: its summary, plus a warning when the source had nothing that new. */
export type WindowRunOutput = RunFinished & { readonly warning?: string };

export type UnitStatus = 'pending' | 'staging' | 'staged' | 'loaded' | 'completed' | 'stale' | 'failed';
export type BackfillStep = 'find-missing' | 'stage' | 'load' | 'verify' | 'done' | 'failed';

export interface BackfillCustomStatus {
  readonly step: BackfillStep;
  readonly wave: { readonly index: number; readonly of: number };
  readonly merges: { readonly done: number; readonly of: number };
  /** Every unit by window key (`2019-01-01_2019-02-05`) and where it is. */
  readonly units: Readonly<Record<string, UnitStatus>>;
  readonly counts: RunCounts;
  /** The first few failures, shortened: the status endpoint's error summary. */
  readonly failures: readonly (FailedStep & { readonly unit: string })[];
  readonly error?: FailedStep;
}

export interface BackfillUnitResult {
  readonly start: string;
  readonly stop: string;
  readonly instanceId: string;
  readonly status: UnitStatus;
  readonly fetched: number;
  readonly staged: number;
  readonly quarantined: number;
  readonly rowsInWindow: number;
  readonly newestInSource: string | null;
  readonly error?: FailedStep;
}

export interface BackfillOutput {
  readonly dataset: string;
  readonly start: string;
  readonly stop: string;
  readonly mode: BackfillMode;
  /** `partial`: some units failed (each has its own failed summary line); `failed`: every unit did. */
  readonly status: 'completed' | 'partial' | 'failed' | 'nothing-to-do';
  readonly counts: {
    readonly units: number;
    readonly completed: number;
    readonly stale: number;
    readonly failed: number;
  };
  readonly merges: number;
  readonly durationMs: number;
  readonly units: readonly BackfillUnitResult[];
}

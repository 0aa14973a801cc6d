import type { ErrorSummary } from '../common/errors';
import type { LoadInput, ReportedRun, VerifyInput, WindowInput } from '../pipeline/steps';
import type { RunFinished } from '../pipeline/summary';
import type { Window } from '../pipeline/window';
import type { UnitPlan } from './backfill-plan';
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
/** The `missing` mode's first step: find the missing weeks and plan their units. */
export type PlanMissingInput = WindowInput & RunRef;
export interface PlanMissingOutput extends UnitPlan {
  readonly missing: readonly Window[];
}
/**
 * One ledger record and one summary line per finished window or unit; `window` is the span the runs cover (what
 * the activity's log lines name).
 */
export type ReportRunInput = WindowInput & RunRef & { readonly runs: readonly ReportedRun[] };

/** The weekly window orchestration's input. */
export type WindowRunInput = WindowInput;

/** A backfill unit's sub-orchestration input. */
export interface UnitRunInput extends WindowInput {
  readonly backfillInstanceId: string;
}

export interface BackfillRunInput extends WindowInput {
  readonly mode: BackfillMode;
  readonly maxConcurrency: number;
  /**
   * The units and batches, fixed by the starter (`all` and `failed` modes). Absent in the `missing` mode, whose
   * first activity finds the gaps and returns the plan, recorded in the history like any result.
   */
  readonly plan?: UnitPlan;
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

/** How many units are in each state; `total` is the plan's size. */
export type UnitCounts = { readonly total: number } & Readonly<Record<UnitStatus, number>>;

/**
 * A backfill's progress, bounded by construction whatever the backfill's size: counts by state, the wave and
 * the step, and the first few failures with short messages. The extension fails an orchestration whose custom
 * status passes 16 KB (UTF-16); per-unit detail is the status endpoint's, never the custom status's.
 */
export interface BackfillCustomStatus {
  readonly step: BackfillStep;
  readonly wave: { readonly index: number; readonly of: number };
  readonly merges: { readonly done: number; readonly of: number };
  readonly units: UnitCounts;
  readonly counts: RunCounts;
  /** The first few failures, shortened. */
  readonly failures: readonly (FailedStep & { readonly unit: string })[];
  readonly error?: FailedStep;
}

/** A unit that failed, in a backfill's output: its window and which step failed, why (shortened). */
export type FailedUnit = FailedStep & { readonly start: string; readonly stop: string };

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
  /** The first few failed units (every unit's verdict is in the run ledger). */
  readonly failures: readonly FailedUnit[];
}

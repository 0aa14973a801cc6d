import type { ReportedRun, StageOutput, VerifyOutput } from '../pipeline/steps';
import { isStale } from '../pipeline/summary';
import { type Window, windowKey } from '../pipeline/window';
import type { UnitPlan } from './backfill-plan';
import type { BackfillMode } from './instances';
import { unitInstanceId } from './instances';
import type {
  BackfillCustomStatus,
  BackfillOutput,
  BackfillStep,
  FailedStep,
  FailedUnit,
  LoadWindowsInput,
  UnitCounts,
  UnitStatus,
  VerifyWindowInput,
} from './messages';
import { type StepOutcome, shortened } from './outcome';

/**
 * Failures listed in the custom status, and how long their texts may be: what keeps it far under the
 * extension's 16 KB (UTF-16) whatever the backfill's size. Every failure is in the output.
 */
export const MAX_LISTED_FAILURES = 3;
export const LISTED_MESSAGE_LENGTH = 200;
const LISTED_FIELD_LENGTH = 60;
/**
 * Failed units the output lists, and how long their messages may be: enough to act on, bounded so the output
 * (stored in the history and read by every status request) stays small whatever the backfill's size. Every
 * unit's verdict is in the run ledger, which `GET /api/runs/{id}` and the `failed` mode read.
 */
export const MAX_OUTPUT_FAILURES = 20;
const OUTPUT_MESSAGE_LENGTH = 300;

const UNIT_STATUSES: readonly UnitStatus[] = ['pending', 'staging', 'staged', 'loaded', 'completed', 'stale', 'failed'];

interface UnitState {
  readonly window: Window;
  readonly instanceId: string;
  status: UnitStatus;
  startedAt?: number;
  stage?: StageOutput;
  rowsInWindow: number;
  newestInSource: string | null;
  failure?: FailedStep;
}

/**
 * The backfill orchestration's bookkeeping, kept out of the orchestrator so it can be tested without a host:
 * which unit is where, which load batch is ready, what each step gets, and the summaries, status and output.
 * Deterministic: it sees only outcomes and times the orchestrator hands it, so replays rebuild it exactly.
 */
export class BackfillProgress {
  private readonly units: UnitState[];
  private readonly finishedBatches = new Set<number>();
  private wave = { index: 0, of: 0 };

  readonly batches: readonly (readonly number[])[];

  constructor(
    readonly dataset: string,
    readonly range: Window,
    readonly mode: BackfillMode,
    backfillInstanceId: string,
    plan: UnitPlan,
    readonly waveCount: number,
  ) {
    this.batches = plan.batches;
    this.units = plan.units.map((window) => ({
      window,
      instanceId: unitInstanceId(backfillInstanceId, window),
      status: 'pending',
      rowsInWindow: 0,
      newestInSource: null,
    }));
    this.wave = { index: 0, of: waveCount };
  }

  get unitCount(): number {
    return this.units.length;
  }

  unit(index: number): { readonly window: Window; readonly instanceId: string } {
    return this.state(index);
  }

  startWave(indices: readonly number[], at: Date): void {
    this.wave = { index: this.wave.index + 1, of: this.waveCount };
    for (const index of indices) {
      const unit = this.state(index);
      unit.status = 'staging';
      unit.startedAt = at.getTime();
    }
  }

  recordStage(index: number, outcome: StepOutcome<StageOutput>): void {
    const unit = this.state(index);
    if (outcome.ok) {
      unit.stage = outcome.value;
      unit.status = 'staged';
    } else {
      this.fail(unit, 'stage', outcome.error);
    }
  }

  /** The first batch not yet finished whose units have all been through staging, if any. */
  nextReadyBatch(): number | undefined {
    const ready = this.batches.findIndex(
      (batch, index) =>
        !this.finishedBatches.has(index) &&
        batch.every((unit) => !['pending', 'staging'].includes(this.state(unit).status)),
    );
    return ready === -1 ? undefined : ready;
  }

  /** One load for every chunk the batch's units staged; undefined when none of them staged anything to load. */
  loadInput(batch: number, instanceId: string): LoadWindowsInput | undefined {
    const staged = this.batchUnits(batch).filter((unit) => unit.status === 'staged');
    const windows = staged.flatMap((unit) => unit.stage?.chunks ?? []);
    const first = staged[0];
    const last = staged.at(-1);
    if (!first || !last || windows.length === 0) {
      for (const unit of staged) unit.status = 'loaded';
      return undefined;
    }
    return {
      instanceId,
      dataset: this.dataset,
      window: { start: first.window.start, stop: last.window.stop },
      windows,
    };
  }

  recordLoad(batch: number, outcome: StepOutcome<unknown>): void {
    for (const unit of this.batchUnits(batch)) {
      if (unit.status !== 'staged') continue;
      if (outcome.ok) unit.status = 'loaded';
      else this.fail(unit, 'load', outcome.error);
    }
  }

  unitsToVerify(batch: number): number[] {
    return (this.batches[batch] ?? []).filter((index) => this.state(index).status === 'loaded');
  }

  verifyInput(index: number): VerifyWindowInput {
    const unit = this.state(index);
    return { instanceId: unit.instanceId, dataset: this.dataset, window: unit.window, staged: unit.stage?.staged ?? 0 };
  }

  recordVerify(index: number, outcome: StepOutcome<VerifyOutput>): void {
    const unit = this.state(index);
    if (!outcome.ok) {
      this.fail(unit, 'verify', outcome.error);
      return;
    }
    unit.rowsInWindow = outcome.value.rowsInWindow;
    unit.newestInSource = outcome.value.newestInSource;
    unit.status = isStale(unit.window, unit.stage?.staged ?? 0, unit.newestInSource) ? 'stale' : 'completed';
  }

  /** Marks the batch finished and returns each unit's ledger record and summary line content. */
  finishBatch(batch: number, at: Date): ReportedRun[] {
    this.finishedBatches.add(batch);
    return this.batchUnits(batch).map((unit) => this.summary(unit, at));
  }

  customStatus(step: BackfillStep, error?: FailedStep): BackfillCustomStatus {
    const failures = this.units
      .filter((unit) => unit.failure !== undefined)
      .slice(0, MAX_LISTED_FAILURES)
      .map((unit) => ({ unit: windowKey(unit.window), ...listed(unit.failure as FailedStep) }));
    const units = Object.fromEntries(UNIT_STATUSES.map((status) => [status, 0])) as Record<UnitStatus, number>;
    for (const unit of this.units) units[unit.status] += 1;
    return {
      step,
      wave: this.wave,
      merges: { done: this.finishedBatches.size, of: this.batches.length },
      units: { total: this.units.length, ...units } satisfies UnitCounts,
      counts: this.totals(),
      failures,
      ...(error ? { error: listed(error) } : {}),
    };
  }

  output(durationMs: number): BackfillOutput {
    const count = (status: UnitStatus) => this.units.filter((unit) => unit.status === status).length;
    const failed = count('failed');
    const status =
      this.units.length === 0
        ? 'nothing-to-do'
        : failed === 0
          ? 'completed'
          : failed === this.units.length
            ? 'failed'
            : 'partial';
    return {
      dataset: this.dataset,
      start: this.range.start,
      stop: this.range.stop,
      mode: this.mode,
      status,
      counts: { units: this.units.length, completed: count('completed'), stale: count('stale'), failed },
      merges: this.finishedBatches.size,
      durationMs,
      failures: this.units
        .filter((unit) => unit.failure !== undefined)
        .slice(0, MAX_OUTPUT_FAILURES)
        .map((unit) => this.failedUnit(unit, unit.failure as FailedStep)),
    };
  }

  private totals(): { fetched: number; staged: number; quarantined: number; rowsInWindow: number } {
    const totals = { fetched: 0, staged: 0, quarantined: 0, rowsInWindow: 0 };
    for (const unit of this.units) {
      totals.fetched += unit.stage?.fetched ?? 0;
      totals.staged += unit.stage?.staged ?? 0;
      totals.quarantined += unit.stage?.quarantined ?? 0;
      totals.rowsInWindow += unit.rowsInWindow;
    }
    return totals;
  }

  private failedUnit(unit: UnitState, failure: FailedStep): FailedUnit {
    return {
      start: unit.window.start,
      stop: unit.window.stop,
      ...failure,
      message: shortened(failure.message, OUTPUT_MESSAGE_LENGTH),
    };
  }

  private summary(unit: UnitState, at: Date): ReportedRun {
    const status = unit.status === 'stale' ? 'stale' : unit.status === 'failed' ? 'failed' : 'completed';
    return {
      dataset: this.dataset,
      start: unit.window.start,
      stop: unit.window.stop,
      instanceId: unit.instanceId,
      status,
      fetched: unit.stage?.fetched ?? 0,
      staged: unit.stage?.staged ?? 0,
      quarantined: unit.stage?.quarantined ?? 0,
      rowsInWindow: unit.rowsInWindow,
      newestInSource: unit.newestInSource,
      durationMs: Math.max(0, at.getTime() - (unit.startedAt ?? at.getTime())),
      ...(unit.failure ? { error: { kind: unit.failure.kind, message: unit.failure.message } } : {}),
      maxQuarantinePercent: unit.stage?.maxQuarantinePercent ?? null,
      missingFields: unit.stage?.missingFields ?? [],
      finishedAt: at.toISOString(),
    };
  }

  private fail(
    unit: UnitState,
    step: string,
    error: { kind: FailedStep['kind']; message: string; field?: string },
  ): void {
    unit.status = 'failed';
    unit.failure = { step, ...error };
  }

  private batchUnits(batch: number): UnitState[] {
    return (this.batches[batch] ?? []).map((index) => this.state(index));
  }

  private state(index: number): UnitState {
    const unit = this.units[index];
    if (!unit) throw new Error(`backfill unit ${index} does not exist`);
    return unit;
  }
}

/**
 * A failure as the custom status lists it: one line (control characters would each take six characters of
 * JSON), shortened, so its size is bounded by construction.
 */
function listed(failure: FailedStep): FailedStep {
  // eslint-disable-next-line no-control-regex
  const oneLine = (text: string, max: number) => shortened(text.replace(/[\u0000-\u001f\u007f]+/g, ' '), max);
  return {
    step: oneLine(failure.step, LISTED_FIELD_LENGTH),
    kind: failure.kind,
    message: oneLine(failure.message, LISTED_MESSAGE_LENGTH),
    ...(failure.field !== undefined ? { field: oneLine(failure.field, LISTED_FIELD_LENGTH) } : {}),
  };
}

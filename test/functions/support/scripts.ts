/** Scripted activity results for orchestration tests: what the pipeline steps would return. */
import type { StageOutput, VerifyOutput } from '../../../src/pipeline/steps';
import { type Window, splitWindow } from '../../../src/pipeline/window';
import { estimatedRequests, estimatedRows } from '../../../src/schedule/backfill-plan';
import type { StepOutcome } from '../../../src/schedule/outcome';

/** A stage result whose chunks are the unit cut into the pipeline's 28-day chunks. */
export function stageOutput(dataset: string, window: Window, rows = estimatedRows(dataset, window)): StageOutput {
  return {
    dataset,
    window,
    chunks: rows === 0 ? [] : splitWindow(window, 28),
    fetched: rows,
    staged: rows,
    quarantined: 0,
    quarantineReasons: {},
    parts: [],
    quarantineFiles: [],
    requests: estimatedRequests(dataset, window),
    missingFields: [],
    maxQuarantinePercent: 1,
  };
}

export function ok<T>(value: T): StepOutcome<T> {
  return { ok: true, value };
}

export function verified(rowsInWindow: number, newestInSource: string | null = null): StepOutcome<VerifyOutput> {
  return ok({ rowsInWindow, newestInSource, status: 'completed' });
}

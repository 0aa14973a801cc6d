import type { Window } from './window';

/**
 * The one line each finished window (or backfill unit) writes for the portal: `bnt.run.finished {json}`.
 * Alerts and the workbook parse it with KQL over `traces`, so its name, fields and order are a contract:
 * add fields at the end, never rename or remove one.
 */
export const RUN_FINISHED = 'bnt.run.finished';

/**
 * `completed`: the table holds what was staged for the window, and the quarantined share is within its limit.
 * `stale`: the same, with nothing staged, and the source's newest date older than the window.
 * `failed`: anything else (a step failed, the table holds less than was staged, too much was quarantined).
 */
export type RunStatus = 'completed' | 'failed' | 'stale';

export interface RunFinished {
  readonly dataset: string;
  readonly start: string;
  readonly stop: string;
  readonly instanceId: string;
  readonly status: RunStatus;
  readonly fetched: number;
  readonly staged: number;
  readonly quarantined: number;
  readonly rowsInWindow: number;
  /** The newest value of the window field in the source, when the run asked (nothing fetched); else null. */
  readonly newestInSource: string | null;
  readonly durationMs: number;
  /** Only on failed runs: the error's kind and one-line message. */
  readonly error?: { readonly kind: string; readonly message: string };
  /** The quarantine limit that applied, in percent of the fetched records; null when staging never got that far. */
  readonly maxQuarantinePercent?: number | null;
  /** Fields of the dataset's definition that no fetched record carried (a renamed column loads as NULL). */
  readonly missingFields?: readonly string[];
  /** When the run finished (ISO 8601, UTC), on the driver's clock; its run-ledger record carries the same time. */
  readonly finishedAt?: string;
}

/** The summary line, fields in their documented order whatever order the object was built in. */
export function runFinishedLine(event: RunFinished): string {
  const ordered = {
    dataset: event.dataset,
    start: event.start,
    stop: event.stop,
    instanceId: event.instanceId,
    status: event.status,
    fetched: event.fetched,
    staged: event.staged,
    quarantined: event.quarantined,
    rowsInWindow: event.rowsInWindow,
    newestInSource: event.newestInSource,
    durationMs: event.durationMs,
    ...(event.error ? { error: event.error } : {}),
    maxQuarantinePercent: event.maxQuarantinePercent ?? null,
    missingFields: event.missingFields ?? [],
    ...(event.finishedAt !== undefined ? { finishedAt: event.finishedAt } : {}),
  };
  return `${RUN_FINISHED} ${JSON.stringify(ordered)}`;
}

/** Stale: nothing loaded for the window, and the source has nothing that new (the original dataset is frozen). */
export function isStale(window: Window, staged: number, newestInSource: string | null): boolean {
  return staged === 0 && (newestInSource === null || newestInSource.slice(0, 10) < window.start);
}

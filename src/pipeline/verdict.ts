/**
 * The verdict on a window, an invariant rather than the absence of an exception: `completed` only when the table
 * holds what was staged for the window and the quarantined share of what was fetched is within its limit; `stale`
 * when nothing came back and the source has nothing that new; anything else fails, with the numbers.
 */
import { TerminalError } from '../common/errors';
import { formatCount as count } from '../common/format';
import type { DatasetDefinition } from './datasets';
import { readManifest } from './loading';
import type { StageStore, StepPorts } from './ports';
import type { QuarantineReason } from './records';
import { isStale } from './summary';
import { type Window, describeWindow, splitWindow } from './window';

/** A window may lose at most this share of its fetched records to quarantine unless a setting or its dataset says. */
export const DEFAULT_MAX_QUARANTINE_PERCENT = 1;

export interface WindowInput {
  readonly dataset: string;
  readonly window: Window;
}

/** What verify judges: the window. What was staged for it is read from its manifests, the source of truth. */
export interface VerifyInput extends WindowInput {
  /** Rows the caller's stage step staged, if it knows: a manifest count that differs is noted (restaged meanwhile). */
  readonly staged?: number;
}

export interface VerifyOutput {
  readonly rowsInWindow: number;
  /** Asked only when nothing was staged: the newest value of the window field in the whole source. */
  readonly newestInSource: string | null;
  readonly status: 'completed' | 'stale';
}

/** What was staged for a window, summed over its chunks' manifests. */
export interface WindowTotals {
  readonly fetched: number;
  readonly staged: number;
  readonly quarantined: number;
  readonly quarantineReasons: Readonly<Partial<Record<QuarantineReason, number>>>;
  readonly quarantineFiles: readonly string[];
  /** The definition's fields no fetched record of the window carried. */
  readonly missingFields: readonly string[];
}

/**
 * The quarantine limit that applies, in percent of the window's fetched records: the operator's (a flag or setting,
 * in `ports`), else the dataset's own, else 1 %.
 */
export function maxQuarantinePercent(
  ports: Pick<StepPorts, 'maxQuarantinePercent'>,
  dataset: DatasetDefinition,
): number {
  return ports.maxQuarantinePercent ?? dataset.maxQuarantinePercent ?? DEFAULT_MAX_QUARANTINE_PERCENT;
}

/** True when more of the fetched records were quarantined than the limit allows. */
export function overQuarantineLimit(
  totals: Pick<WindowTotals, 'fetched' | 'quarantined'>,
  limitPercent: number,
): boolean {
  return totals.quarantined * 100 > limitPercent * totals.fetched;
}

/** The window's totals from its chunks' manifests; a chunk without one means the window is not completely staged. */
export async function readWindowTotals(
  stage: StageStore,
  dataset: DatasetDefinition,
  window: Window,
  chunkDays: number,
): Promise<WindowTotals> {
  const totals = { fetched: 0, staged: 0, quarantined: 0 };
  const reasons: Partial<Record<QuarantineReason, number>> = {};
  const quarantineFiles: string[] = [];
  let unseen: Set<string> | undefined;
  for (const chunk of splitWindow(window, chunkDays)) {
    const manifest = await readManifest(stage, dataset, chunk);
    totals.fetched += manifest.fetched;
    totals.staged += manifest.staged;
    totals.quarantined += manifest.quarantined;
    for (const [reason, n] of Object.entries(manifest.quarantineReasons) as [QuarantineReason, number][]) {
      reasons[reason] = (reasons[reason] ?? 0) + n;
    }
    if (manifest.quarantineFile) quarantineFiles.push(manifest.quarantineFile);
    if (manifest.fetched > 0) {
      const missing = new Set(manifest.missingFields);
      unseen = unseen ? new Set([...unseen].filter((name) => missing.has(name))) : missing;
    }
  }
  const missingFields = dataset.fields.map((field) => field.name).filter((name) => unseen?.has(name) ?? false);
  return { ...totals, quarantineReasons: reasons, quarantineFiles, missingFields };
}

/**
 * The verdict on a loaded window, from what was staged for it and the rows the table holds for it. A shortfall
 * fails (upserts never delete, so a load lost some); so does a quarantined share over the limit — the rows that
 * passed stay staged and loaded, they are valid; an empty window asks the source how new it is.
 */
export async function judgeWindow(
  ports: StepPorts,
  dataset: DatasetDefinition,
  window: Window,
  totals: WindowTotals,
  rowsInWindow: number,
): Promise<VerifyOutput> {
  const what = `${dataset.name} ${describeWindow(window)}`;
  if (rowsInWindow < totals.staged) {
    throw new TerminalError(
      `${what}: the table holds ${count(rowsInWindow)} rows for the window but ${count(totals.staged)} were staged; run the window again`,
    );
  }
  const limit = maxQuarantinePercent(ports, dataset);
  if (overQuarantineLimit(totals, limit)) throw new QuarantineLimitError(what, totals, limit);
  let newestInSource: string | null = null;
  if (totals.staged === 0) {
    newestInSource = (await ports.source.max(dataset.windowField, ports.signal)) ?? null;
    const newest = `the newest ${dataset.windowField} it has is ${newestInSource ?? '(none: the dataset is empty)'}`;
    ports.progress(
      totals.fetched === 0
        ? `the source returned no rows for ${describeWindow(window)}; ${newest}`
        : `none of the ${count(totals.fetched)} records the source returned for ${describeWindow(window)} passed the checks; ${newest}`,
    );
  }
  return {
    rowsInWindow,
    newestInSource,
    status: isStale(window, totals.staged, newestInSource) ? 'stale' : 'completed',
  };
}

/** More of a window was quarantined than its limit allows: the definition no longer matches the source, usually. */
export class QuarantineLimitError extends TerminalError {
  override readonly name = 'QuarantineLimitError';

  constructor(what: string, totals: WindowTotals, limitPercent: number) {
    const reasons = Object.entries<number>(totals.quarantineReasons)
      .sort(([, a], [, b]) => b - a)
      .slice(0, 3)
      .map(([reason, n]) => `${reason} ${count(n)}`)
      .join(', ');
    const files =
      totals.quarantineFiles.slice(0, 3).join(', ') +
      (totals.quarantineFiles.length > 3 ? ` and ${totals.quarantineFiles.length - 3} more` : '');
    const missing = totals.missingFields.length > 0 ? `; no record carries ${totals.missingFields.join(', ')}` : '';
    super(
      `${what}: ${count(totals.quarantined)} of ${count(totals.fetched)} records (${percent(totals.quarantined, totals.fetched)}) were quarantined, over the ${limitPercent}% limit (top reasons: ${reasons}${missing}; see ${files}); the ${count(totals.staged)} that passed were staged and loaded. Check the quarantine against the dataset definition, or raise the limit (--max-quarantine-percent, BNT_MAX_QUARANTINE_PERCENT)`,
    );
  }
}

function percent(part: number, whole: number): string {
  const value = whole === 0 ? 0 : (part * 100) / whole;
  return `${value >= 10 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(2)}%`;
}

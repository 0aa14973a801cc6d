/**
 * The run ledger: one record per window run — a weekly window, a backfill unit or a command-line run — kept in the
 * stage beside the manifests, so the command line and the Functions app share it and no warehouse has to wake up
 * to say what ran. A record is one small JSON file whose name carries everything a state needs:
 *
 *   ledger/<dataset>/<finished>_<start>_<stop>_<status>_<instance id>.json
 *   ledger/bnt-hourly-traffic/20261123T120312045Z_2026-11-15_2026-11-22_completed_bnt-hourly-traffic_2026-11-15_2026-11-22.json
 *
 * so every window's latest state for a dataset comes from one listing of `ledger/<dataset>/` (one request per
 * 5,000 records on Blob Storage), never from one read per window. The body adds the counts and the error. A record
 * is never changed: a later run of the window writes a later record. Its name is deterministic for a given run
 * (the finish time comes from the driver), so a retried write lands on the same file.
 */
import { z } from 'zod';
import type { StageStore } from './ports';
import type { RunStatus } from './summary';
import { type Window, checkedDate } from './window';

/** What the command line records as its instance id. */
export const CLI_INSTANCE_ID = 'cli';

export interface LedgerRecord {
  readonly dataset: string;
  readonly window: Window;
  readonly status: RunStatus;
  readonly fetched: number;
  readonly staged: number;
  readonly quarantined: number;
  /** Rows in the table for the window after the run. */
  readonly rowsInWindow: number;
  /** The orchestration that ran the window (a weekly window or a backfill unit), or `cli`. */
  readonly instanceId: string;
  /** Failed runs only: the error's kind and one-line message. */
  readonly error?: { readonly kind: string; readonly message: string };
  /** When the run finished (ISO 8601, UTC). */
  readonly finishedAt: string;
}

/** A record as its name gives it, from a listing: everything a window's state needs, without reading the file. */
export interface LedgerEntry {
  readonly path: string;
  readonly dataset: string;
  readonly window: Window;
  readonly status: RunStatus;
  readonly instanceId: string;
  /** ISO 8601, to the millisecond. */
  readonly finishedAt: string;
}

const STATUSES: readonly RunStatus[] = ['completed', 'stale', 'failed'];
/** Characters an instance id keeps in a record's name; any other becomes `-` there (the body keeps the id). */
const NAME_SAFE = /[^A-Za-z0-9_-]/g;
const MAX_NAME_ID = 160;
const ENTRY_NAME = new RegExp(
  String.raw`^(\d{8}T\d{9}Z)_(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})_(${STATUSES.join('|')})_([A-Za-z0-9_-]+)\.json$`,
);

export function ledgerPrefix(dataset: string): string {
  return `ledger/${dataset}`;
}

/** `2026-11-23T12:03:12.045Z` → `20261123T120312045Z`: fixed width, so names sort by finish time. */
function compactTime(iso: string): string {
  const time = new Date(iso);
  if (Number.isNaN(time.getTime())) throw new Error(`"${iso}" is not a time a ledger record can carry`);
  return time.toISOString().replace(/[-:.]/g, '');
}

function isoTime(compact: string): string {
  const [, y, mo, d, h, mi, s, ms] = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(compact) ?? [];
  return `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`;
}

export function ledgerPath(record: Pick<LedgerRecord, 'dataset' | 'window' | 'status' | 'instanceId' | 'finishedAt'>) {
  const id = record.instanceId.replace(NAME_SAFE, '-').slice(0, MAX_NAME_ID) || 'unnamed';
  const window = `${checkedDate(record.window.start)}_${checkedDate(record.window.stop)}`;
  return `${ledgerPrefix(record.dataset)}/${compactTime(record.finishedAt)}_${window}_${record.status}_${id}.json`;
}

/** The entry a record's path names; undefined for anything else in the folder (a temporary file, a stray). */
export function parseLedgerPath(path: string): LedgerEntry | undefined {
  const slash = path.lastIndexOf('/');
  const folder = path.slice(0, slash);
  const match = ENTRY_NAME.exec(path.slice(slash + 1));
  if (!match || !folder.startsWith('ledger/')) return undefined;
  const [, finished = '', start = '', stop = '', status, instanceId = ''] = match;
  if (stop <= start) return undefined;
  return {
    path,
    dataset: folder.slice('ledger/'.length),
    window: { start, stop },
    status: status as RunStatus,
    instanceId,
    finishedAt: isoTime(finished),
  };
}

export async function writeLedgerRecord(stage: StageStore, record: LedgerRecord): Promise<string> {
  const path = ledgerPath(record);
  await stage.writeText(path, `${JSON.stringify(record)}\n`);
  return path;
}

/** Oldest first; records finished in the same millisecond in name order, so every reader sees one order. */
export function byFinishTime(a: LedgerEntry, b: LedgerEntry): number {
  return a.finishedAt === b.finishedAt ? a.path.localeCompare(b.path) : a.finishedAt.localeCompare(b.finishedAt);
}

/** Every record of a dataset, oldest first, from one listing (one request per 5,000 records on Blob Storage). */
export async function readLedger(stage: StageStore, dataset: string): Promise<LedgerEntry[]> {
  const paths = await stage.listFiles(ledgerPrefix(dataset));
  return paths
    .map(parseLedgerPath)
    .filter((entry): entry is LedgerEntry => entry !== undefined && entry.dataset === dataset)
    .sort(byFinishTime);
}

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const count = z.number().int().nonnegative();
const recordSchema = z.object({
  dataset: z.string(),
  window: z.object({ start: isoDate, stop: isoDate }),
  status: z.enum(STATUSES),
  fetched: count,
  staged: count,
  quarantined: count,
  rowsInWindow: count,
  instanceId: z.string(),
  error: z.object({ kind: z.string(), message: z.string() }).optional(),
  finishedAt: z.string(),
});

/** The whole record behind an entry (its counts and error); undefined when it is gone. */
export async function readLedgerRecord(stage: StageStore, entry: LedgerEntry): Promise<LedgerRecord | undefined> {
  const text = await stage.readText(entry.path);
  if (text === undefined) return undefined;
  const parsed = recordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`the ledger record ${entry.path} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The ledger as the Functions layer reads and writes it: the stage behind it is the app's to choose. */
export interface RunLedger {
  /** Every record of a dataset, oldest first, from one listing. */
  entries(dataset: string): Promise<LedgerEntry[]>;
  record(records: readonly LedgerRecord[]): Promise<void>;
}

/** Records written at once: a terminated 25-year backfill records a few hundred units. */
const WRITES_AT_ONCE = 16;

export function stageLedger(stage: StageStore): RunLedger {
  return {
    entries: (dataset) => readLedger(stage, dataset),
    record: async (records) => {
      for (let start = 0; start < records.length; start += WRITES_AT_ONCE) {
        await Promise.all(
          records.slice(start, start + WRITES_AT_ONCE).map((record) => writeLedgerRecord(stage, record)),
        );
      }
    },
  };
}

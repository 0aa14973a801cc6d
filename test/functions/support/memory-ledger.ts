/** A run ledger in memory for handler tests: entries come from the records' own names, as from a listing. */
import {
  type LedgerEntry,
  type LedgerRecord,
  type RunLedger,
  byFinishTime,
  ledgerPath,
  parseLedgerPath,
} from '../../../src/pipeline/ledger';

export class MemoryLedger implements RunLedger {
  readonly records = new Map<string, LedgerRecord>();
  /** How many times `entries` was asked (each is one listing on a real stage). */
  listings = 0;

  async entries(dataset: string): Promise<LedgerEntry[]> {
    this.listings += 1;
    return [...this.records.keys()]
      .map((path) => parseLedgerPath(path))
      .filter((entry): entry is LedgerEntry => entry?.dataset === dataset)
      .sort(byFinishTime);
  }

  async record(records: readonly LedgerRecord[]): Promise<void> {
    for (const record of records) this.records.set(ledgerPath(record), record);
  }

  /** Adds a run with just what a test cares about. */
  add(run: Pick<LedgerRecord, 'dataset' | 'window' | 'status' | 'instanceId' | 'finishedAt'>): this {
    this.records.set(ledgerPath(run), { fetched: 0, staged: 0, quarantined: 0, rowsInWindow: 0, ...run });
    return this;
  }
}

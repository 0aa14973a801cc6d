/**
 * How a window is cut, checked and written: one source query for the whole window, cut into chunks at
 * window-field boundaries, every record checked, each chunk written as JSON Lines with its quarantine and, last,
 * its manifest.
 */
import { TransientError } from '../common/errors';
import { formatCount as count } from '../common/format';
import { type DatasetDefinition, expectedRows, pageOrder } from './datasets';
import { type Manifest, type WindowLayout, windowLayout } from './layout';
import type { StepPorts, StepTuning, TextSink } from './ports';
import {
  type Checked,
  type QuarantineEntry,
  type QuarantineReason,
  type Rejection,
  type SourceRecord,
  quarantineEntry,
  recordChecker,
} from './records';
import { ROW_ID, windowQuery, windowWhere } from './source';
import { maxQuarantinePercent, overQuarantineLimit } from './verdict';
import { type Window, describeWindow, splitWindow } from './window';

export const DEFAULT_CHUNK_DAYS = 28;
export const DEFAULT_ROWS_PER_PART = 1_000_000;
/** Staged text is written once this much has gathered (and at the end of every page): few writes, short-lived text. */
const FLUSH_AT_CHARACTERS = 1024 * 1024;

/** A staged window: the manifest's counts, summed over its chunks. */
export interface StageOutput {
  readonly dataset: string;
  readonly window: Window;
  /** The chunk windows that were staged, in order; what `loadWindowsStep` takes. */
  readonly chunks: readonly Window[];
  readonly fetched: number;
  readonly staged: number;
  readonly quarantined: number;
  readonly quarantineReasons: Readonly<Partial<Record<QuarantineReason, number>>>;
  readonly parts: readonly string[];
  readonly quarantineFiles: readonly string[];
  /** Source requests made, retries not counted. */
  readonly requests: number;
  /** Fields of the definition that no fetched record carried (a renamed column loads as NULL otherwise). */
  readonly missingFields: readonly string[];
  /** The quarantine limit that applies to the window, in percent of its fetched records. */
  readonly maxQuarantinePercent: number;
}

/**
 * The source broke a promise offset paging relies on (a stable result, in the order asked), so rows may have been
 * skipped or placed in the wrong chunk: the window is not staged, and another try may well see a consistent answer.
 */
export class SourceInconsistentError extends TransientError {
  override readonly name = 'SourceInconsistentError';
}

/**
 * Fetches a window with one paged query ordered on the window field, checks every record, and writes each
 * chunk (`DEFAULT_CHUNK_DAYS` days) as JSON Lines with its quarantine and its manifest, the manifest last.
 * A chunk is restaged from scratch: its old manifest goes first, so a run that fails halfway leaves nothing a
 * load would accept. The count comes first, so every page's offset is known and the source client keeps several
 * pages in flight (`SocrataClient.pages`); they are checked and written strictly in order, one parsed page at a
 * time. Memory holds the pages in flight as text, one parsed page and one chunk's keys at most, whatever the
 * window's length, and `onChunk` lets a driver load a chunk while the next is fetched. The source costs
 * floor(rows / page size) + 2 requests: the count and the pages, the last of them short (or, when the rows end
 * exactly on a page, an empty one).
 *
 * Offset paging sees every row exactly once, each in its chunk, only if the result holds still and comes in the
 * order asked; when it does not (a row on two pages, more rows than counted, fewer at the end, a record earlier
 * than one already placed), the window fails as transient rather than stage rows skipped, repeated or misplaced,
 * and the manifests this run wrote are taken back. A rerun converges.
 */
export async function stageChunks(
  ports: StepPorts,
  dataset: DatasetDefinition,
  window: Window,
  onChunk?: (manifest: Manifest) => Promise<void> | void,
  signal: AbortSignal | undefined = ports.signal,
): Promise<StageOutput> {
  const { source, progress } = ports;
  const tuning = ports.tuning ?? {};
  const chunks = splitWindow(window, tuning.chunkDays ?? DEFAULT_CHUNK_DAYS);
  const requestsBefore = source.requests;
  const started = Date.now();
  const what = `${dataset.name} ${describeWindow(window)}`;
  const inconsistent = (detail: string) =>
    new SourceInconsistentError(`${what}: ${detail}, so the window was not staged; run it again`);
  const shifted = (detail: string) => inconsistent(`${detail}; the source changed while paging`);

  // The first page needs no count: it is asked for beside it (with the pages the dataset's estimate surely fills),
  // and the rest once the count gives their offsets.
  const counted = source.count(windowWhere(dataset, window), signal);
  const paging = source.pages(windowQuery(dataset, window), counted, signal, expectedRows(dataset, window));
  let sourceCount: number;
  try {
    sourceCount = await counted;
  } catch (error) {
    paging.close();
    throw error;
  }
  progress(
    `${what}: the source has ${count(sourceCount)} rows${chunks.length > 1 ? `, staged in ${chunks.length} chunks` : ''}`,
  );

  const check = recordChecker(dataset, window);
  const writer = new ChunkWriter(ports, dataset, tuning, onChunk, chunks[0] as Window);
  let fetched = 0;
  let lastRowId: unknown;
  /** The latest window-field value placed so far: pages come in that order, so nothing may come before it. */
  let highest: string | undefined;
  try {
    let chunkIndex = 0;
    await writer.begin(chunks[0] as Window);
    for await (const page of paging) {
      let firstOfPage = true;
      // A slice at a time (`Page.slices`): checked and written before the next is parsed.
      for (const records of page.slices) {
        const firstRowId = records[0]?.[ROW_ID];
        if (firstOfPage && firstRowId !== undefined && firstRowId === lastRowId)
          throw shifted(`row ${JSON.stringify(firstRowId)} came on two pages`);
        firstOfPage = false;
        lastRowId = records.at(-1)?.[ROW_ID];
        if (fetched + records.length > sourceCount) {
          throw shifted(`the source sent more than the ${count(sourceCount)} rows it counted`);
        }
        for (const record of records) {
          const checked = check(record);
          const position = checked.position;
          if (position !== undefined) {
            if (highest !== undefined && position < highest) {
              throw inconsistent(
                `the source did not return rows in the order asked ($order=${pageOrder(dataset).join(',')}): ${dataset.windowField} ${position} came after ${highest}`,
              );
            }
            highest = position;
            // In order, so a record past the chunk's end starts the next chunk (inside the window, there is one).
            while (position.slice(0, 10) >= writer.chunk.stop) {
              await writer.finish();
              chunkIndex += 1;
              await writer.begin(chunks[chunkIndex] as Window);
            }
          }
          writer.add(record, checked);
        }
        fetched += records.length;
        if (writer.pendingText > FLUSH_AT_CHARACTERS) await writer.flush();
      }
      await writer.flush();
      const seconds = (Date.now() - started) / 1000;
      progress(
        `page ${page.number}: ${count(fetched)}/${count(sourceCount)} rows fetched, ` +
          `${count(writer.quarantinedSoFar)} quarantined, ${seconds.toFixed(1)}s ` +
          `(${count(Math.round(fetched / Math.max(seconds, 0.001)))} rows/s)`,
      );
    }
    if (fetched !== sourceCount) {
      throw shifted(`the source counted ${count(sourceCount)} rows but paging returned ${count(fetched)}`);
    }
    await writer.finish();
    // Chunks after the last record are staged empty, so every chunk of the window has a manifest.
    for (chunkIndex += 1; chunkIndex < chunks.length; chunkIndex += 1) {
      await writer.begin(chunks[chunkIndex] as Window);
      await writer.finish();
    }
  } catch (error) {
    paging.close();
    await writer.abort(error instanceof Error ? error : new Error(String(error)), {
      // The chunks already written may lack rows that came late or were skipped: take their manifests back.
      withdraw: error instanceof SourceInconsistentError && !signal?.aborted,
    });
    throw error;
  }
  await writer.settled();
  const totals = writer.totals;
  const missingFields = writer.missingFields;
  if (missingFields.length > 0) {
    progress(
      `warning: no record of ${what} carries ${missingFields.join(', ')}; ${missingFields.length === 1 ? 'it loads' : 'they load'} as NULL. Has the source renamed ${missingFields.length === 1 ? 'it' : 'them'}? Check the ${dataset.name} definition`,
    );
  }
  const limit = maxQuarantinePercent(ports, dataset);
  if (overQuarantineLimit(totals, limit)) {
    // Told now, while the rows that passed are loaded; the verdict (verify) fails the window.
    progress(
      `warning: ${count(totals.quarantined)} of ${count(totals.fetched)} records were quarantined, over the ${limit}% limit (${Object.entries(
        totals.reasons,
      )
        .map(([reason, n]) => `${reason} ${count(n)}`)
        .join(', ')}); check ${writer.quarantineFiles.join(', ')} against the ${dataset.name} definition`,
    );
  }
  return {
    dataset: dataset.name,
    window: { start: window.start, stop: window.stop },
    chunks,
    fetched: totals.fetched,
    staged: totals.staged,
    quarantined: totals.quarantined,
    quarantineReasons: totals.reasons,
    parts: writer.parts,
    quarantineFiles: writer.quarantineFiles,
    requests: source.requests - requestsBefore,
    missingFields,
    maxQuarantinePercent: limit,
  };
}

/**
 * Writes one chunk at a time: its parts, its quarantine and, last, its manifest. Within a chunk each typed key is
 * staged once, the first in source order; the others are quarantined as `duplicate_key` wherever they come.
 */
class ChunkWriter {
  readonly totals = { fetched: 0, staged: 0, quarantined: 0, reasons: {} as Partial<Record<QuarantineReason, number>> };
  readonly parts: string[] = [];
  readonly quarantineFiles: string[] = [];
  /** The chunk being written, with its paths; `begin` moves on to the next. */
  chunk: Window;
  private layout: WindowLayout;
  private current: ChunkState;
  private stagedText = '';
  private quarantineText = '';
  /** Fields no fetched record of the window has carried yet, over the chunks with records. */
  private unseenInWindow: Set<string> | undefined;
  /** The manifests this run wrote, so a window that turns out inconsistent can take them back. */
  private readonly written: string[] = [];
  /** Loads run behind the fetching (the driver orders and batches them); their first failure is kept for `settled`. */
  private readonly loads: Promise<unknown>[] = [];
  private loadFailure: { error: unknown } | undefined;

  constructor(
    private readonly ports: StepPorts,
    private readonly dataset: DatasetDefinition,
    private readonly tuning: StepTuning,
    private readonly onChunk: ((manifest: Manifest) => Promise<void> | void) | undefined,
    first: Window,
  ) {
    this.chunk = first;
    this.layout = windowLayout(dataset.name, first);
    this.current = newChunkState(dataset);
  }

  /** For progress lines: the finished chunks' count and the current one's. */
  get quarantinedSoFar(): number {
    return this.totals.quarantined + this.current.quarantined;
  }

  /** The definition's fields absent from every record fetched for the window; none when nothing was fetched. */
  get missingFields(): string[] {
    const unseen = this.unseenInWindow;
    return unseen ? this.dataset.fields.map((field) => field.name).filter((name) => unseen.has(name)) : [];
  }

  async begin(chunk: Window): Promise<void> {
    if (this.loadFailure) throw this.loadFailure.error;
    this.chunk = chunk;
    this.layout = windowLayout(this.dataset.name, chunk);
    this.current = newChunkState(this.dataset);
    // From here until the new manifest is written the chunk is incomplete, and a load refuses it.
    await this.ports.stage.remove(this.layout.manifest);
    await this.ports.stage.deletePrefix(this.layout.prefix);
  }

  add(record: SourceRecord, checked: Checked): void {
    const state = this.current;
    state.fetched += 1;
    if (state.unseen.size > 0) {
      for (const name of state.unseen) {
        if (record[name] !== undefined && record[name] !== null) state.unseen.delete(name);
      }
    }
    const keysBefore = state.keys.size;
    if ('rejection' in checked) {
      this.quarantine(checked.rejection, record);
    } else if (state.keys.add(checked.key).size === keysBefore) {
      this.quarantine(
        {
          reason: 'duplicate_key',
          field: this.dataset.key.join(','),
          message: `another record with the same key (${this.dataset.key.join(', ')}) was staged first`,
        },
        record,
      );
    } else {
      this.stagedText += `${JSON.stringify(checked.row)}\n`;
      state.staged += 1;
      state.rowsInPart += 1;
    }
  }

  /** Characters of staged and quarantined text not yet written. */
  get pendingText(): number {
    return this.stagedText.length + this.quarantineText.length;
  }

  /** Writes what the current page added so far; called as it gathers, at the end of a page and of a chunk. */
  async flush(): Promise<void> {
    const state = this.current;
    if (this.stagedText) {
      if (!state.part) {
        state.parts.push(this.layout.part(state.parts.length));
        state.part = await this.ports.stage.createSink(state.parts.at(-1) as string);
      }
      await state.part.write(this.stagedText);
      this.stagedText = '';
      if (state.rowsInPart >= (this.tuning.rowsPerPart ?? DEFAULT_ROWS_PER_PART)) {
        await state.part.close();
        state.part = undefined;
        state.rowsInPart = 0;
      }
    }
    if (this.quarantineText) {
      state.quarantine ??= await this.ports.stage.createSink(this.layout.quarantine);
      await state.quarantine.write(this.quarantineText);
      this.quarantineText = '';
    }
  }

  /** Closes the chunk's files and writes its manifest; a driver's `onChunk` then loads it behind the fetching. */
  async finish(): Promise<void> {
    await this.flush();
    const state = this.current;
    await state.part?.close();
    await state.quarantine?.close();
    state.part = undefined;
    state.quarantine = undefined;
    const missingFields =
      state.fetched > 0 ? this.dataset.fields.map((f) => f.name).filter((n) => state.unseen.has(n)) : [];
    const manifest: Manifest = {
      dataset: this.dataset.name,
      window: { start: this.chunk.start, stop: this.chunk.stop },
      source: this.ports.source.resourceUrl,
      fetched: state.fetched,
      staged: state.staged,
      quarantined: state.quarantined,
      quarantineReasons: state.reasons,
      parts: state.parts,
      quarantineFile: state.quarantined > 0 ? this.layout.quarantine : null,
      stagedAt: (this.tuning.now ?? (() => new Date()))().toISOString(),
      missingFields,
    };
    await this.ports.stage.writeText(this.layout.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
    this.written.push(this.layout.manifest);
    this.totals.fetched += state.fetched;
    this.totals.staged += state.staged;
    this.totals.quarantined += state.quarantined;
    for (const [reason, n] of Object.entries(state.reasons) as [QuarantineReason, number][]) {
      this.totals.reasons[reason] = (this.totals.reasons[reason] ?? 0) + n;
    }
    if (state.fetched > 0) {
      const unseen = new Set(missingFields);
      this.unseenInWindow = this.unseenInWindow
        ? new Set([...this.unseenInWindow].filter((name) => unseen.has(name)))
        : unseen;
    }
    this.parts.push(...state.parts);
    if (manifest.quarantineFile) this.quarantineFiles.push(manifest.quarantineFile);
    if (this.onChunk) {
      // Handed over at once, so a driver can load the chunks that are staged while a load runs in one statement.
      const loaded = Promise.resolve(this.onChunk(manifest));
      // Kept, not thrown here: the next chunk's start or `settled` throws it, so fetching stops early.
      loaded.catch((error: unknown) => {
        this.loadFailure ??= { error };
      });
      this.loads.push(loaded);
    }
  }

  /** Waits for the loads behind the fetching; throws the first that failed. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.loads);
    if (this.loadFailure) throw this.loadFailure.error;
  }

  /** Gives up on the chunk being written; `withdraw` also removes the manifests written before it. */
  async abort(error: Error, options: { withdraw: boolean }): Promise<void> {
    const state = this.current;
    await Promise.all([state.part?.abort(error), state.quarantine?.abort(error)]);
    // Let a load in flight finish or fail before the caller moves on, so nothing runs behind the error.
    await Promise.allSettled(this.loads);
    if (options.withdraw) {
      for (const manifest of this.written) await this.ports.stage.remove(manifest).catch(() => undefined);
    }
  }

  private quarantine(rejection: Rejection, record: SourceRecord): void {
    const entry: QuarantineEntry = quarantineEntry(this.dataset, rejection, record);
    const state = this.current;
    state.quarantined += 1;
    state.reasons[entry.reason] = (state.reasons[entry.reason] ?? 0) + 1;
    this.quarantineText += `${JSON.stringify(entry)}\n`;
  }
}

type ChunkState = ReturnType<typeof newChunkState>;

function newChunkState(dataset: DatasetDefinition) {
  return {
    fetched: 0,
    staged: 0,
    quarantined: 0,
    rowsInPart: 0,
    reasons: {} as Partial<Record<QuarantineReason, number>>,
    parts: [] as string[],
    part: undefined as TextSink | undefined,
    quarantine: undefined as TextSink | undefined,
    /** The typed keys staged in this chunk: a chunk's keys fit in memory (about 150,000 for 28 days of crossings). */
    keys: new Set<string>(),
    /** The definition's fields no record of this chunk has carried yet. */
    unseen: new Set(dataset.fields.map((field) => field.name)),
  };
}

import type { StagedWindow, Warehouse } from './ports';
import type { DatasetDefinition } from './datasets';
import { type QuarantineEntry, type QuarantineReason, type SourceRecord, recordChecker } from './records';
import { ROW_ID, type SocrataClient, windowQuery, windowWhere } from './source';
import { type Manifest, parseManifest, windowLayout } from './layout';
import type { StageStore, TextSink } from './ports';
import { type Window, describeWindow, splitWindow } from './window';

/** Progress for people (stderr on the command line, the invocation log in Functions). */
export type Progress = (message: string) => void;

/** Above this many rows a new part file is started (at the next page boundary), keeping files a sane size. */
export const DEFAULT_ROWS_PER_PART = 1_000_000;

export interface StageWindowOptions {
  readonly dataset: DatasetDefinition;
  readonly window: Window;
  readonly source: SocrataClient;
  readonly stage: StageStore;
  readonly progress?: Progress;
  readonly rowsPerPart?: number;
  readonly now?: () => Date;
  /** Abandons the window: requests in flight stop, and nothing more is written. */
  readonly signal?: AbortSignal;
}

/**
 * Fetches a window from the source, checks every record and writes the valid ones as JSON Lines and the rest
 * to quarantine; the manifest with the counts is written last. A rerun first removes the window's previous
 * files, manifest first, so a run that fails halfway leaves no manifest, and nothing a load would accept.
 * Records sharing a key arrive next to each other (pages are ordered on the key): the first is staged and the
 * others are quarantined as `duplicate_key`, so the counts still add up.
 */
export async function stageWindow(options: StageWindowOptions): Promise<Manifest> {
  const { dataset, window, source, stage } = options;
  const progress = options.progress ?? (() => undefined);
  const rowsPerPart = options.rowsPerPart ?? DEFAULT_ROWS_PER_PART;
  const layout = windowLayout(dataset.name, window);
  const started = Date.now();

  const sourceCount = await source.count(windowWhere(dataset, window), options.signal);
  const count = (n: number) => n.toLocaleString('en-US');
  // Offset paging sees every row exactly once only if the result holds still; when it does not, fail the window
  // (nothing is loaded) rather than stage rows skipped or repeated. A rerun converges.
  const shifted = (what: string) =>
    new Error(
      `${dataset.name} ${describeWindow(window)}: ${what}; the source changed while paging, so the window was not staged; run it again`,
    );
  let lastRowId: unknown;
  progress(`${dataset.name} ${describeWindow(window)}: the source has ${sourceCount.toLocaleString('en-US')} rows`);

  // From here until the new manifest is written the window is incomplete, and a load refuses it.
  await stage.remove(layout.manifest);
  await stage.deletePrefix(layout.prefix);

  const check = recordChecker(dataset, window);
  const parts: string[] = [];
  let part: TextSink | undefined;
  let rowsInPart = 0;
  let quarantine: TextSink | undefined;
  const reasons: Partial<Record<QuarantineReason, number>> = {};
  let fetched = 0;
  let staged = 0;
  let quarantined = 0;
  let previousKey: string | undefined;

  const quarantineLine = (entry: QuarantineEntry): string => {
    quarantined += 1;
    reasons[entry.reason] = (reasons[entry.reason] ?? 0) + 1;
    return `${JSON.stringify(entry)}\n`;
  };

  try {
    for await (const page of source.pages(windowQuery(dataset, window), options.signal)) {
      const firstRowId = page.records[0]?.[ROW_ID];
      if (firstRowId !== undefined && firstRowId === lastRowId)
        throw shifted(`row ${String(firstRowId)} came on two pages`);
      lastRowId = page.records.at(-1)?.[ROW_ID];
      if (fetched + page.records.length > sourceCount) {
        throw shifted(`the source sent more than the ${count(sourceCount)} rows it counted`);
      }
      let stagedText = '';
      let quarantineText = '';
      for (const record of page.records as SourceRecord[]) {
        const checked = check(record);
        if ('rejection' in checked) {
          quarantineText += quarantineLine({ ...checked.rejection, record });
        } else if (checked.key === previousKey) {
          quarantineText += quarantineLine({
            reason: 'duplicate_key',
            field: dataset.key.join(','),
            message: `another record with the same key (${dataset.key.join(', ')}) was staged first`,
            record,
          });
        } else {
          previousKey = checked.key;
          stagedText += `${JSON.stringify(checked.row)}\n`;
          staged += 1;
          rowsInPart += 1;
        }
      }
      fetched += page.records.length;
      if (stagedText) {
        if (!part) {
          parts.push(layout.part(parts.length));
          part = await stage.createSink(parts[parts.length - 1] as string);
        }
        await part.write(stagedText);
        if (rowsInPart >= rowsPerPart) {
          await part.close();
          part = undefined;
          rowsInPart = 0;
        }
      }
      if (quarantineText) {
        quarantine ??= await stage.createSink(layout.quarantine);
        await quarantine.write(quarantineText);
      }
      const seconds = (Date.now() - started) / 1000;
      progress(
        `page ${page.number}: ${fetched.toLocaleString('en-US')}/${sourceCount.toLocaleString('en-US')} rows fetched, ` +
          `${quarantined.toLocaleString('en-US')} quarantined, ${seconds.toFixed(1)}s ` +
          `(${Math.round(fetched / Math.max(seconds, 0.001)).toLocaleString('en-US')} rows/s)`,
      );
    }
    await part?.close();
    await quarantine?.close();
  } catch (error) {
    const reason = error instanceof Error ? error : new Error(String(error));
    await Promise.all([part?.abort(reason), quarantine?.abort(reason)]);
    throw error;
  }

  if (fetched !== sourceCount)
    throw shifted(`the source counted ${count(sourceCount)} rows but paging returned ${count(fetched)}`);

  const manifest: Manifest = {
    dataset: dataset.name,
    window: { start: window.start, stop: window.stop },
    source: source.resourceUrl,
    fetched,
    staged,
    quarantined,
    quarantineReasons: reasons,
    parts,
    quarantineFile: quarantine ? layout.quarantine : null,
    stagedAt: (options.now ?? (() => new Date()))().toISOString(),
  };
  await stage.writeText(layout.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  if (fetched > 0 && quarantined * 2 > fetched) {
    // Mostly rejected is rarely bad data and usually a definition that no longer matches the source.
    progress(
      `warning: ${quarantined} of ${fetched} records were quarantined (${Object.entries(reasons)
        .map(([reason, count]) => `${reason} ${count}`)
        .join(', ')}); check ${layout.quarantine} against the ${dataset.name} definition`,
    );
  }
  return manifest;
}

/** The newest value of the dataset's window field in the whole source: what to tell people when a window is empty. */
export function newestInSource(source: SocrataClient, dataset: DatasetDefinition): Promise<string | undefined> {
  return source.max(dataset.windowField);
}

/** The manifest of a completely staged window; an error if the window was never staged or is incomplete. */
export async function readManifest(stage: StageStore, dataset: DatasetDefinition, window: Window): Promise<Manifest> {
  const path = windowLayout(dataset.name, window).manifest;
  const text = await stage.readText(path);
  if (text === undefined) {
    throw new Error(
      `${dataset.name} ${describeWindow(window)} is not completely staged in ${stage.description} (no ${path}); stage it again`,
    );
  }
  const manifest = parseManifest(text, path);
  if (
    manifest.dataset !== dataset.name ||
    manifest.window.start !== window.start ||
    manifest.window.stop !== window.stop
  ) {
    throw new Error(
      `the manifest ${path} describes ${manifest.dataset} ${describeWindow(manifest.window)}, not this window`,
    );
  }
  return manifest;
}

/**
 * Creates the table if needed and upserts the windows in one statement. Each window's manifest is read from the
 * stage first: a window that is not completely staged is refused, whoever asks for the load.
 */
export async function loadWindows(
  dataset: DatasetDefinition,
  windows: readonly Window[],
  stage: StageStore,
  warehouse: Warehouse,
): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (const window of windows) manifests.push(await readManifest(stage, dataset, window));
  const staged: StagedWindow[] = manifests.map((manifest) => ({ window: manifest.window, parts: manifest.parts }));
  await warehouse.ensureTable(dataset);
  await warehouse.loadWindows(dataset, staged, stage);
  return manifests;
}

/** Days per chunk of a long run: four weeks, a few hundred thousand rows at most for the built-in datasets. */
export const DEFAULT_CHUNK_DAYS = 28;

export interface RunSummary {
  readonly dataset: string;
  readonly window: Window;
  readonly source: string;
  /** Chunks the window was run in (see `splitWindow`), each staged and loaded on its own. */
  readonly chunks: number;
  readonly fetched: number;
  readonly staged: number;
  readonly quarantined: number;
  readonly quarantineReasons: Partial<Record<QuarantineReason, number>>;
  readonly quarantineFiles: readonly string[];
  readonly stage: string;
  readonly parts: readonly string[];
  readonly table: string;
  readonly warehouse: string;
  /** Rows in the table for the whole window after the load. */
  readonly rowsInWindow: number;
  /** Only when nothing was fetched: the newest value of the window field the source has, so staleness is obvious. */
  readonly newestInSource?: string | undefined;
  readonly elapsedMs: number;
}

export interface RunWindowOptions extends StageWindowOptions {
  readonly warehouse: Warehouse;
  readonly chunkDays?: number;
}

/**
 * The whole flow for a window: for each chunk, fetch → check → stage → load; then count the window in the
 * table. A failure stops the run; the chunks before it stay loaded, and a rerun converges.
 */
export async function runWindow(options: RunWindowOptions): Promise<RunSummary> {
  const started = Date.now();
  const { dataset, window, stage, warehouse } = options;
  const chunks = splitWindow(window, options.chunkDays ?? DEFAULT_CHUNK_DAYS);
  const totals = { fetched: 0, staged: 0, quarantined: 0 };
  const reasons: Partial<Record<QuarantineReason, number>> = {};
  const parts: string[] = [];
  const quarantineFiles: string[] = [];
  const stageChunk = (index: number) => {
    const chunk = chunks[index] as Window;
    if (chunks.length > 1) options.progress?.(`chunk ${index + 1}/${chunks.length}: ${describeWindow(chunk)}`);
    const abandon = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, abandon.signal]) : abandon.signal;
    const staged = stageWindow({ ...options, window: chunk, signal });
    // It may fail while the previous chunk is still loading; the error is thrown where it is awaited.
    staged.catch(() => undefined);
    return { staged, abandon };
  };
  // While a chunk loads, the next one is fetched and staged: the source and the warehouse work at the same time.
  let next: ReturnType<typeof stageChunk> | undefined = stageChunk(0);
  for (let index = 0; next; index += 1) {
    const manifest = await next.staged;
    next = index + 1 < chunks.length ? stageChunk(index + 1) : undefined;
    try {
      options.progress?.(
        `loading ${manifest.staged.toLocaleString('en-US')} rows of ${describeWindow(manifest.window)} into ${warehouse.description}`,
      );
      await loadWindows(dataset, [manifest.window], stage, warehouse);
    } catch (error) {
      // Stop the chunk in flight and let it settle, so nothing is left running behind the error.
      next?.abandon.abort(new Error('an earlier chunk failed to load'));
      await next?.staged.catch(() => undefined);
      throw error;
    }
    totals.fetched += manifest.fetched;
    totals.staged += manifest.staged;
    totals.quarantined += manifest.quarantined;
    for (const [reason, count] of Object.entries(manifest.quarantineReasons) as [QuarantineReason, number][]) {
      reasons[reason] = (reasons[reason] ?? 0) + count;
    }
    parts.push(...manifest.parts);
    if (manifest.quarantineFile) quarantineFiles.push(manifest.quarantineFile);
  }
  let newest: string | undefined;
  if (totals.fetched === 0) {
    newest = await newestInSource(options.source, dataset);
    options.progress?.(
      `the source returned no rows for ${describeWindow(window)}; the newest ${dataset.windowField} it has is ${newest ?? '(none: the dataset is empty)'}`,
    );
  }
  return {
    dataset: dataset.name,
    window: { start: window.start, stop: window.stop },
    source: options.source.resourceUrl,
    chunks: chunks.length,
    ...totals,
    quarantineReasons: reasons,
    quarantineFiles,
    stage: stage.description,
    parts,
    table: warehouse.tableName(dataset),
    warehouse: warehouse.description,
    rowsInWindow: await warehouse.rowsInWindow(dataset, window),
    ...(newest !== undefined ? { newestInSource: newest } : {}),
    elapsedMs: Date.now() - started,
  };
}

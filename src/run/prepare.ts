import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { checkAppToken } from '../blocks/types';
import { InputError, describeError } from '../common/errors';
import { DEFAULT_DATASET, type DatasetDefinition, findDataset } from '../pipeline/datasets';
import { DEFAULT_PAGES_IN_FLIGHT, MAX_PAGES_IN_FLIGHT, SocrataClient, resourceUrlUnder } from '../pipeline/source';
import type { StepPorts, StepTuning } from '../pipeline/steps';
import { type Window, clipWindow, resolveWindow, utcDate } from '../pipeline/window';
import { SETTINGS, readSetting } from './settings';
import { type TargetChoice, type TargetDeps, type Targets, chooseTargets, openTargets } from './targets';

/**
 * The one place that turns what a user gave (command-line flags, or app settings in Functions) into a ready
 * run: dataset, window, targets and source client, every check done before the first request. The CLI and
 * the Functions app both come through here; `withRun` always closes what was opened.
 */

/** What a caller asks for; unset fields fall back to settings, then to the embedded defaults. */
export interface RunRequest {
  readonly dataset?: string | undefined;
  readonly startDate?: string | undefined;
  readonly stopDate?: string | undefined;
  readonly sourceUrl?: string | undefined;
  readonly appToken?: string | undefined;
  readonly dataDir?: string | undefined;
  readonly stage?: string | undefined;
  readonly warehouse?: string | undefined;
  /** The quarantine limit in percent, as typed; it overrides the dataset's own. */
  readonly maxQuarantinePercent?: string | undefined;
  /** Page requests in flight at once, as typed (1–8). */
  readonly pagesInFlight?: string | undefined;
}

/** How the caller spells each request field, so an error names what the user typed. */
export type RequestFieldNames = { readonly [K in keyof RunRequest]-?: string };

export const CLI_FIELD_NAMES: RequestFieldNames = {
  dataset: '--dataset',
  startDate: '--start-date',
  stopDate: '--stop-date',
  sourceUrl: '--source-url',
  appToken: '--app-token',
  dataDir: '--data-dir',
  stage: '--stage',
  warehouse: '--warehouse',
  maxQuarantinePercent: '--max-quarantine-percent',
  pagesInFlight: '--pages-in-flight',
};

export interface RunContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Relative paths (the data directory) resolve from here: where the user ran the command. */
  readonly cwd: string;
  readonly now: () => Date;
  readonly progress: (message: string) => void;
  readonly signal?: AbortSignal | undefined;
  readonly names?: RequestFieldNames;
  readonly deps?: TargetDeps;
  readonly tuning?: StepTuning;
  /** `run` (which writes) creates a missing data directory up front; `plan` creates nothing. */
  readonly forWriting?: boolean;
  /** The source client's waits and retries; tests shorten them. */
  readonly sourceOptions?: Partial<ConstructorParameters<typeof SocrataClient>[0]>;
  /**
   * The most pages in flight this host allows, whatever the setting asks (the Functions app's cap); a setting above
   * it is lowered to it, with a progress line saying why.
   */
  readonly maxPagesInFlight?: { readonly pages: number; readonly why: string };
}

export interface PreparedRun {
  readonly dataset: DatasetDefinition;
  readonly window: Window;
  /** The window asked for, when it reached outside the dataset's dates and `window` is the part inside. */
  readonly requestedWindow?: Window;
  readonly choice: TargetChoice;
  readonly ports: StepPorts;
  close(): Promise<void>;
}

/**
 * Checks everything a run needs before anything is asked of the source or written: the dataset and window,
 * the target combination, the data directory, the source URL, the stage connection string and the blocks.
 * Touches nothing: `plan` uses it as it is; `run` adds `openForWriting`.
 */
export async function prepareRun(request: RunRequest, context: RunContext): Promise<PreparedRun> {
  const names = context.names ?? CLI_FIELD_NAMES;
  const dataset = findDataset(request.dataset ?? DEFAULT_DATASET, names.dataset);
  const fields = { start: names.startDate, stop: names.stopDate };
  const asked = resolveWindow({ start: request.startDate, stop: request.stopDate }, context.now(), fields);
  // Only dates the dataset can have: 1900..2100 becomes one short run, not thousands of empty chunks.
  const { window, clipped, requested } = clipWindow(asked, dataset.firstDate, utcDate(context.now()), fields);
  return {
    dataset,
    window,
    ...(clipped ? { requestedWindow: requested } : {}),
    ...(await openPorts(dataset, request, context)),
  };
}

/** The ports for one dataset, every check done first; what an activity uses, whose window comes with its input. */
export async function openPorts(
  dataset: DatasetDefinition,
  request: Omit<RunRequest, 'dataset' | 'startDate' | 'stopDate'>,
  context: RunContext,
): Promise<Omit<PreparedRun, 'dataset' | 'window' | 'requestedWindow'>> {
  const names = context.names ?? CLI_FIELD_NAMES;
  const choice = chooseTargets(request, context.env, context.cwd, names);
  const dataDirField = request.dataDir !== undefined ? names.dataDir : SETTINGS.dataDir;
  await checkDataDir(choice, dataDirField, false);
  if (choice.stageConnectionString !== undefined) await checkConnectionString(choice.stageConnectionString);

  if (request.appToken !== undefined) checkAppToken(request.appToken, names.appToken);
  const envToken = readSetting(context.env, 'appToken');
  if (request.appToken === undefined && envToken !== undefined) checkAppToken(envToken, SETTINGS.appToken);
  const maxQuarantinePercent = quarantineLimit(request, context.env, names);
  const pagesInFlight = pagesInFlightFor(request, context, names);
  const urlField = request.sourceUrl !== undefined ? names.sourceUrl : SETTINGS.sourceUrl;
  const base = request.sourceUrl ?? readSetting(context.env, 'sourceUrl');
  const resourceUrl = base === undefined ? dataset.resourceUrl : resourceUrlUnder(base, dataset, urlField);
  const makeSource = (appToken: string | undefined) =>
    new SocrataClient({
      resourceUrl,
      appToken,
      urlField,
      onRetry: ({ delayMs, error, limit }) =>
        context.progress(`retrying in ${(delayMs / 1000).toFixed(1)} s (${limit}): ${describeError(error)}`),
      onWait: context.progress,
      onPacing: context.progress,
      ...(pagesInFlight !== undefined ? { pagesInFlight } : {}),
      ...context.sourceOptions,
    });
  makeSource(undefined); // checks the URL before any block store is read
  const targets: Targets = await openTargets(choice, context.env, {
    ...context.deps,
    appToken: request.appToken,
    progress: context.progress,
    signal: context.signal,
  });
  const source = makeSource(targets.appToken);
  // Last of the checks, so a run refused for any other reason creates nothing.
  if (context.forWriting) await checkDataDir(choice, dataDirField, true);
  return {
    choice,
    ports: {
      source,
      stage: targets.stage,
      warehouse: targets.warehouse,
      progress: context.progress,
      signal: context.signal,
      ...(maxQuarantinePercent !== undefined ? { maxQuarantinePercent } : {}),
      ...(context.tuning ? { tuning: context.tuning } : {}),
    },
    close: () => targets.warehouse.close(),
  };
}

/**
 * Runs `work` on a prepared run and always closes it. The work's own error is the one reported; a failure to
 * close behind it is only a progress note.
 */
export async function withRun<P extends Pick<PreparedRun, 'ports' | 'close'>, T>(
  prepared: P,
  work: (run: P) => Promise<T>,
): Promise<T> {
  let result: T;
  try {
    result = await work(prepared);
  } catch (error) {
    await prepared
      .close()
      .catch((closeError: unknown) =>
        prepared.ports.progress(
          `also failed to close ${prepared.ports.warehouse.description}: ${describeError(closeError)}`,
        ),
      );
    throw error;
  }
  await prepared.close();
  return result;
}

/**
 * The data directory holds the local stage, the DuckDB file and `blocks.json`: it must be a writable folder, or
 * a path whose nearest existing parent is one. `plan` creates nothing; `run` creates the missing folders here,
 * one level at a time (a recursive mkdir loops forever under a parent that refuses new entries, such as /proc),
 * so a path that cannot be made fails now, not after the source was asked.
 */
async function checkDataDir(choice: TargetChoice, field: string, create: boolean): Promise<void> {
  const usesDataDir = choice.stage === 'local' || choice.warehouse === 'duckdb' || choice.vaultUrl === undefined;
  if (!usesDataDir) return;
  const missing: string[] = [];
  let path = choice.dataDir;
  for (;;) {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw new InputError(field, `${field} ${choice.dataDir} cannot be used: ${describeError(error)}`);
    });
    if (info !== undefined) {
      if (!info.isDirectory()) {
        throw new InputError(field, `${field} ${choice.dataDir} is not a folder: ${path} is a file; name a folder`);
      }
      await access(path, constants.W_OK).catch(() => {
        throw new InputError(
          field,
          `${field} ${choice.dataDir} is not writable (${path}); name a folder you can write to`,
        );
      });
      break;
    }
    missing.unshift(path);
    const parent = dirname(path);
    if (parent === path) break;
    path = parent;
  }
  if (!create) return;
  for (const folder of missing) {
    await mkdir(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return;
      throw new InputError(
        field,
        `${field} ${choice.dataDir} cannot be created (${error.code ?? describeError(error)} at ${folder}); name a folder you can write to`,
      );
    });
  }
}

/** The quarantine limit a flag or setting gives, in percent; undefined leaves the dataset's own (or 1 %). */
function quarantineLimit(
  request: Pick<RunRequest, 'maxQuarantinePercent'>,
  env: RunContext['env'],
  names: RequestFieldNames,
): number | undefined {
  const field = request.maxQuarantinePercent !== undefined ? names.maxQuarantinePercent : SETTINGS.maxQuarantinePercent;
  const text = request.maxQuarantinePercent ?? readSetting(env, 'maxQuarantinePercent');
  if (text === undefined) return undefined;
  const value = text.trim() === '' ? Number.NaN : Number(text.trim().replace(/%$/, ''));
  if (!(value >= 0 && value <= 100)) {
    throw new InputError(field, `${field} "${text}" must be a percentage from 0 to 100, e.g. 1 or 0.5`);
  }
  return value;
}

/**
 * Page requests in flight from a flag or setting, 1–8; undefined leaves the client's default (4). A host's cap lowers
 * it, saying so once.
 */
function pagesInFlightFor(
  request: Pick<RunRequest, 'pagesInFlight'>,
  context: RunContext,
  names: RequestFieldNames,
): number | undefined {
  const field = request.pagesInFlight !== undefined ? names.pagesInFlight : SETTINGS.pagesInFlight;
  const text = request.pagesInFlight ?? readSetting(context.env, 'pagesInFlight');
  let pages: number | undefined;
  if (text !== undefined) {
    pages = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
    if (!(pages >= 1 && pages <= MAX_PAGES_IN_FLIGHT)) {
      throw new InputError(
        field,
        `${field} "${text}" must be a whole number from 1 to ${MAX_PAGES_IN_FLIGHT}: the page requests kept in flight at once`,
      );
    }
  }
  const cap = context.maxPagesInFlight;
  if (cap === undefined || (pages ?? DEFAULT_PAGES_IN_FLIGHT) <= cap.pages) return pages;
  if (pages !== undefined) context.progress(`${field} ${pages} is capped at ${cap.pages} here: ${cap.why}`);
  return cap.pages;
}

/** A development connection string (Azurite) that the storage SDK cannot read is named, never echoed. */
async function checkConnectionString(connectionString: string): Promise<void> {
  // The storage SDK is loaded only when an azure stage is given a connection string (development, Azurite).
  const { readConnectionString } = await import('../stage/blob.js');
  try {
    readConnectionString(connectionString);
  } catch (error) {
    const reason = describeError(error).replaceAll(connectionString, '<the value>');
    throw new InputError(
      SETTINGS.stageConnectionString,
      `${SETTINGS.stageConnectionString} is not a storage connection string (${reason.slice(0, 200)}); use UseDevelopmentStorage=true for Azurite`,
    );
  }
}

import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential } from '@azure/identity';
import type { BlockReader } from '../blocks/reader';
import { TransientError } from '../common/errors';
import { findDataset } from '../pipeline/datasets';
import { type RunLedger, stageLedger } from '../pipeline/ledger';
import { windowLayout } from '../pipeline/layout';
import { DEFAULT_CHUNK_DAYS, type StepPorts } from '../pipeline/steps';
import { type RequestFieldNames, type RunContext, openPorts, withRun } from './prepare';
import { SETTINGS } from './settings';
import { blockReaderFor, chooseTargets } from './targets';
import { type Window, splitWindow } from '../pipeline/window';

/**
 * The Functions app's way into a run: targets come from app settings through the same wiring as the command
 * line, with one credential and one block reader per process (so Key Vault is asked once per block every few
 * minutes, not on every activity). Errors name the app setting, since that is what a user fixes in Azure.
 */

/** In an activity, request fields come from app settings or the activity's own input. */
export const APP_FIELD_NAMES: RequestFieldNames = {
  dataset: 'dataset',
  startDate: 'window.start',
  stopDate: 'window.stop',
  sourceUrl: SETTINGS.sourceUrl,
  appToken: SETTINGS.appToken,
  dataDir: SETTINGS.dataDir,
  stage: SETTINGS.stage,
  warehouse: SETTINGS.warehouse,
  maxQuarantinePercent: SETTINGS.maxQuarantinePercent,
  pagesInFlight: SETTINGS.pagesInFlight,
};

/**
 * The most pages one step keeps in flight in the Functions app, whatever `BNT_PAGES_IN_FLIGHT` asks: a backfill
 * stages up to 16 units at once (`maxConcurrency`), so a backfill never has more than 16 × 4 = 64 requests in flight
 * to the source (`MAX_SOURCE_REQUESTS_IN_FLIGHT`, src/schedule/backfill-request.ts); 16 with the defaults (4 × 4).
 */
export const APP_MAX_PAGES_IN_FLIGHT = 4;

let credential: TokenCredential | undefined;
let blocks: BlockReader | undefined;

function processCredential(): TokenCredential {
  credential ??= new DefaultAzureCredential();
  return credential;
}

function processBlockReader(env: NodeJS.ProcessEnv): BlockReader {
  blocks ??= blockReaderFor(chooseTargets({}, env, process.cwd(), APP_FIELD_NAMES), processCredential);
  return blocks;
}

/** Aborted when the worker shuts down: every run in this process stops (`stopAppRuns`). */
let shutdown = new AbortController();
const running = new Set<Promise<unknown>>();

/**
 * Runs `work` with the ports for `dataset`, built from app settings, and always closes them. The ports' signal
 * aborts when the worker shuts down (`stopAppRuns`): requests in flight stop, locks are released, and a running
 * warehouse statement is cancelled.
 */
export async function withAppRun<T>(
  dataset: string,
  log: (message: string) => void,
  work: (ports: StepPorts) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const definition = findDataset(dataset);
  const run = (async () => {
    const opened = await openPorts(definition, {}, appContext(log, env));
    return withRun(opened, (prepared) => work(prepared.ports));
  })();
  running.add(run);
  try {
    return await run;
  } finally {
    running.delete(run);
  }
}

/**
 * Stops every run of this process (the worker is shutting down): aborts their signal, with a transient error so a
 * step stopped this way is retried, and waits for them to wind down, at most `waitMs`. Runs started afterwards
 * get a fresh signal. Returns how many were running.
 */
export async function stopAppRuns(reason: string, waitMs: number): Promise<number> {
  const stopping = [...running];
  shutdown.abort(new TransientError(reason));
  shutdown = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, waitMs);
  });
  await Promise.race([Promise.allSettled(stopping), waited]);
  clearTimeout(timer);
  return stopping.length;
}

/** The run ledger on the stage the app settings name, for the Functions layer's reads and writes. */
export function appLedger(log: (message: string) => void, env: NodeJS.ProcessEnv = process.env): RunLedger {
  return {
    entries: (dataset) => withAppRun(dataset, log, (ports) => stageLedger(ports.stage).entries(dataset), env),
    record: async (records) => {
      const first = records[0];
      if (first === undefined) return;
      await withAppRun(first.dataset, log, (ports) => stageLedger(ports.stage).record(records), env);
    },
  };
}

function appContext(log: (message: string) => void, env: NodeJS.ProcessEnv): RunContext {
  return {
    env,
    cwd: process.cwd(),
    now: () => new Date(),
    progress: log,
    signal: shutdown.signal,
    names: APP_FIELD_NAMES,
    maxPagesInFlight: {
      pages: APP_MAX_PAGES_IN_FLIGHT,
      why: 'a backfill stages up to 16 units at once, and keeps at most 64 requests in flight to the source',
    },
    deps: { credential: processCredential(), blocks: processBlockReader(env) },
  };
}

/**
 * The exact SQL the loads of these batches would run on the configured warehouse, for a backfill's dry run: per
 * batch, the table's DDL and one MERGE over every chunk of the batch's units (as staging cuts them), assuming
 * each chunk stages one part file. Reads blocks; sends nothing to the source and connects to no warehouse.
 */
export async function planAppLoads(
  input: { dataset: string; batches: readonly (readonly Window[])[] },
  env: NodeJS.ProcessEnv = process.env,
): Promise<readonly string[]> {
  const definition = findDataset(input.dataset);
  const opened = await openPorts(
    definition,
    {},
    appContext(() => undefined, env),
  );
  return withRun(opened, async ({ ports }) =>
    input.batches.flatMap((units) => {
      const chunks = units.flatMap((unit) => splitWindow(unit, ports.tuning?.chunkDays ?? DEFAULT_CHUNK_DAYS));
      const staged = chunks.map((chunk) => ({
        window: chunk,
        parts: [windowLayout(definition.name, chunk).part(0)],
      }));
      return ports.warehouse.planStatements(definition, staged, ports.stage.location);
    }),
  );
}

import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential } from '@azure/identity';
import type { BlockReader } from '../blocks/reader';
import { findDataset } from '../pipeline/datasets';
import type { StepPorts } from '../pipeline/steps';
import { type RequestFieldNames, openPorts, withRun } from './prepare';
import { SETTINGS } from './settings';
import { blockReaderFor, chooseTargets } from './targets';

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
};

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

/** Runs `work` with the ports for `dataset`, built from app settings, and always closes them. */
export async function withAppRun<T>(
  dataset: string,
  log: (message: string) => void,
  work: (ports: StepPorts) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const definition = findDataset(dataset);
  const opened = await openPorts(
    definition,
    {},
    {
      env,
      cwd: process.cwd(),
      now: () => new Date(),
      progress: log,
      names: APP_FIELD_NAMES,
      deps: { credential: processCredential(), blocks: processBlockReader(env) },
    },
  );
  return withRun(opened, (run) => work(run.ports));
}

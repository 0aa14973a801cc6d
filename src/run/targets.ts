import { join, resolve } from 'node:path';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import { checkVaultUrl, openBlockStore } from '../blocks/open';
import { BlockError, BlockReader } from '../blocks/reader';
import { BLOCK_NAME_SETTINGS, blockNames } from '../blocks/types';
import { InputError, describeError, messageOf } from '../common/errors';
import { LocalStageStore } from '../stage/local';
import type { DatabricksConnector } from '../warehouse/databricks';
import type { StageStore, Warehouse } from '../pipeline/ports';
import { DEFAULT_DATA_DIR, SETTINGS, readSetting } from './settings';

/**
 * Where a run stages and loads, chosen by flags on the command line and by app settings in Functions.
 * The defaults are the embedded ones: a local directory and DuckDB, with no Azure and no blocks needed.
 * Azure targets take their addresses from blocks (Key Vault, or `<data-dir>/blocks.json` locally) and sign in
 * with `DefaultAzureCredential`: a managed identity in Azure, the developer's login on a laptop.
 */
export const STAGE_KINDS = ['local', 'azure'] as const;
export const WAREHOUSE_KINDS = ['duckdb', 'databricks'] as const;
export type StageKind = (typeof STAGE_KINDS)[number];
export type WarehouseKind = (typeof WAREHOUSE_KINDS)[number];

export interface TargetChoice {
  readonly stage: StageKind;
  readonly warehouse: WarehouseKind;
  /** Local stage directory, DuckDB file and local blocks file live here. */
  readonly dataDir: string;
  /** Blocks from this Key Vault; otherwise from `<dataDir>/blocks.json`. */
  readonly vaultUrl?: string | undefined;
  readonly stageConnectionString?: string | undefined;
}

function oneOf<T extends string>(allowed: readonly T[], value: string, field: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError(field, `${field} "${value}" must be one of ${allowed.join(', ')}`);
}

/**
 * The data directory, absolute: a flag (which wins), `BNT_DATA_DIR`, or `.local` under `cwd`. A flag given as "" is a
 * mistake (a shell variable that was not set), not "the current folder", and a value that is only blanks names no
 * folder anyone meant.
 */
export function resolveDataDir(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  flagName = '--data-dir',
): { readonly dataDir: string; readonly field: string } {
  const field = flag !== undefined ? flagName : SETTINGS.dataDir;
  const value = flag ?? readSetting(env, 'dataDir');
  if (flag === '') throw new InputError(field, `${field} is empty; name a folder, or leave it out for the default`);
  if (value !== undefined && value.trim() === '') {
    throw new InputError(
      field,
      `${field} is only blanks; name a folder, or leave it unset for the default ${DEFAULT_DATA_DIR}`,
    );
  }
  return { dataDir: resolve(cwd, value ?? DEFAULT_DATA_DIR), field };
}

/**
 * The choice from flags (which win) and settings. `flagNames` are how the caller spells the two choices, so an
 * error names what the user typed (`--stage`) or the app setting (`BNT_STAGE`).
 */
export function chooseTargets(
  flags: { stage?: string | undefined; warehouse?: string | undefined; dataDir?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  flagNames: { stage: string; warehouse: string; dataDir: string } = {
    stage: '--stage',
    warehouse: '--warehouse',
    dataDir: '--data-dir',
  },
): TargetChoice {
  const warehouse =
    flags.warehouse !== undefined
      ? oneOf(WAREHOUSE_KINDS, flags.warehouse, flagNames.warehouse)
      : oneOf(WAREHOUSE_KINDS, readSetting(env, 'warehouse') ?? 'duckdb', SETTINGS.warehouse);
  // Databricks reads the staged files itself, from ADLS: unless told otherwise, it implies the azure stage.
  const defaultStage: StageKind = warehouse === 'databricks' ? 'azure' : 'local';
  const stageField = flags.stage !== undefined ? flagNames.stage : SETTINGS.stage;
  const stage = oneOf(STAGE_KINDS, flags.stage ?? readSetting(env, 'stage') ?? defaultStage, stageField);
  if (warehouse === 'databricks' && stage === 'local') {
    throw new InputError(
      stageField,
      `${stageField} local cannot go with the databricks warehouse: Databricks reads the staged files from Azure storage itself; use the azure stage`,
    );
  }
  const vaultUrl = readSetting(env, 'vaultUrl');
  return {
    stage,
    warehouse,
    dataDir: resolveDataDir(flags.dataDir, env, cwd, flagNames.dataDir).dataDir,
    vaultUrl: vaultUrl === undefined ? undefined : checkVaultUrl(vaultUrl, SETTINGS.vaultUrl),
    stageConnectionString: readSetting(env, 'stageConnectionString'),
  };
}

/**
 * `DefaultAzureCredential`, loaded when a token is first asked for: a run on the embedded defaults never loads the
 * Azure identity SDK (start-up is part of every run's time).
 */
export function defaultAzureCredential(): TokenCredential {
  let credential: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      credential ??= import('./credential.js').then(({ newDefaultAzureCredential }) => newDefaultAzureCredential());
      return (await credential).getToken(scopes, options);
    },
  };
}

/** What tests (and the Functions app, for its per-process cache) hand in instead of the defaults. */
export interface TargetDeps {
  readonly credential?: TokenCredential;
  readonly keyVaultClientOptions?: SecretClientOptions;
  /** One per process in Functions, so Key Vault is asked once per block every few minutes. */
  readonly blocks?: BlockReader;
  readonly databricksConnect?: DatabricksConnector;
  readonly progress?: (message: string) => void;
  /** Stops a wait for the DuckDB file (a signal, a shutdown). */
  readonly signal?: AbortSignal | undefined;
  /** How long a step waits for the DuckDB file another run holds; tests make it short. */
  readonly duckDbWaitMs?: number;
  /** An app token given on the command line; when there is one, no block is read for it. */
  readonly appToken?: string | undefined;
}

export interface Targets {
  readonly stage: StageStore;
  readonly warehouse: Warehouse;
  /** The Socrata app token: given explicitly, from SOCRATA_APP_TOKEN, or from the `socrata-source` block. */
  readonly appToken: string | undefined;
}

/** A reader over the chosen block store; building it touches nothing. */
export function blockReaderFor(
  choice: TargetChoice,
  credential: () => TokenCredential,
  keyVaultClientOptions?: SecretClientOptions,
): BlockReader {
  return new BlockReader(
    openBlockStore({ vaultUrl: choice.vaultUrl, dataDir: choice.dataDir, credential, keyVaultClientOptions }),
  );
}

/**
 * Builds the stage and warehouse a run uses. Reads blocks but writes nothing and connects to nothing:
 * `plan` uses the same targets as `run`. Each adapter's module (and its SDK) is loaded only when it is chosen.
 */
export async function openTargets(
  choice: TargetChoice,
  env: Readonly<Record<string, string | undefined>>,
  deps: TargetDeps = {},
): Promise<Targets> {
  let credential = deps.credential;
  const getCredential = () => (credential ??= defaultAzureCredential());
  const blocks = deps.blocks ?? blockReaderFor(choice, getCredential, deps.keyVaultClientOptions);
  const names = blockNames(env);

  let stage: StageStore;
  if (choice.stage === 'local') {
    stage = new LocalStageStore(choice.dataDir);
  } else {
    const container = await blocks.read(names['azure-container'], 'azure-container');
    const { BlobStageStore } = await import('../stage/blob.js');
    stage = choice.stageConnectionString
      ? BlobStageStore.withConnectionString(choice.stageConnectionString, container.container)
      : BlobStageStore.withCredential(container, getCredential());
  }

  let warehouse: Warehouse;
  if (choice.warehouse === 'duckdb') {
    // Loaded only when chosen: Azure runs on Databricks never load the embedded engine's native binary.
    const { DuckDbWarehouse } = await import('../warehouse/duckdb.js').catch((error: unknown) => {
      throw embeddedWarehouseMissing(error);
    });
    warehouse = new DuckDbWarehouse(join(choice.dataDir, 'warehouse.duckdb'), {
      ...(deps.progress ? { onWait: deps.progress } : {}),
      signal: deps.signal,
      ...(deps.duckDbWaitMs !== undefined ? { waitMs: deps.duckDbWaitMs } : {}),
    });
  } else {
    const [connection, table, { DatabricksWarehouse }] = await Promise.all([
      blocks.read(names['databricks-warehouse'], 'databricks-warehouse'),
      blocks.read(names['lakehouse-table'], 'lakehouse-table'),
      import('../warehouse/databricks.js'),
    ]);
    warehouse = new DatabricksWarehouse({
      host: connection.host,
      httpPath: connection.httpPath,
      auth: connection.auth.type === 'pat' ? connection.auth : { type: 'entra', credential: getCredential() },
      catalog: table.catalog,
      schema: table.schema,
      format: table.format,
      ...(deps.databricksConnect ? { connect: deps.databricksConnect } : {}),
      ...(deps.progress ? { progress: deps.progress } : {}),
    });
  }

  return { stage, warehouse, appToken: await appTokenFrom(blocks, env, names['socrata-source'], deps) };
}

/** A block-name setting's value; empty means not set, as for any app setting. */
function readBlockSetting(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The token is optional (without one, requests share a per-IP throttle pool), so the block is read only when no
 * token was given, and a store that cannot be reached costs a warning, not the run; an invalid block still fails it,
 * and so does a block that a setting names on purpose but that is not there.
 */
async function appTokenFrom(
  blocks: BlockReader,
  env: Readonly<Record<string, string | undefined>>,
  blockName: string,
  deps: TargetDeps,
): Promise<string | undefined> {
  const given = deps.appToken ?? readSetting(env, 'appToken');
  if (given !== undefined) return given;
  // A block named on purpose must be there: without it the run would go on without a token, silently.
  const setting = BLOCK_NAME_SETTINGS['socrata-source'];
  if (readBlockSetting(env, setting) !== undefined) {
    try {
      return (await blocks.read(blockName, 'socrata-source')).appToken;
    } catch (error) {
      if (error instanceof BlockError) throw new BlockError(`${setting} names ${error.message}`);
      throw error;
    }
  }
  try {
    return (await blocks.readOptional(blockName, 'socrata-source'))?.appToken;
  } catch (error) {
    // A block that is there but wrong is a mistake to fix; only a store that cannot be reached is let pass.
    if (error instanceof BlockError) throw error;
    deps.progress?.(
      `warning: no Socrata app token (the ${blockName} block could not be read: ${describeError(error)}); requests share the anonymous throttle pool`,
    );
    return undefined;
  }
}

/**
 * Deploy packages leave the embedded DuckDB out (the Function App runs Databricks): choosing it there is a setting
 * to change, not a crash with "Cannot find module".
 */
function embeddedWarehouseMissing(error: unknown): unknown {
  const missing =
    (error as NodeJS.ErrnoException | undefined)?.code === 'MODULE_NOT_FOUND' &&
    messageOf(error).includes('@duckdb/node-api');
  if (!missing) return error;
  return new InputError(
    SETTINGS.warehouse,
    `${SETTINGS.warehouse} duckdb: the embedded DuckDB warehouse is not in this package (deploy packages leave it out); set ${SETTINGS.warehouse}=databricks, or run the pipeline from a clone after npm ci`,
  );
}

import { BLOCK_NAME_SETTINGS } from '../blocks/types';

/**
 * Every setting the app reads: environment variables on a laptop, app settings in Azure. One registry, so the
 * CLI, the Functions app, `local.settings.json.example` and the Bicep can be checked against each other.
 */
export const SETTINGS = {
  /** `local` (default) or `azure`: where staged files go. */
  stage: 'BNT_STAGE',
  /** `duckdb` (default) or `databricks`: which warehouse loads them. */
  warehouse: 'BNT_WAREHOUSE',
  /** Local stage directory, DuckDB file and `blocks.json`. Default `.local`. */
  dataDir: 'BNT_DATA_DIR',
  /** Blocks come from this Key Vault; without it, from `<data dir>/blocks.json`. */
  vaultUrl: 'KEY_VAULT_URL',
  /** Development only (Azurite): a connection string for the azure stage instead of a credential. */
  stageConnectionString: 'BNT_STAGE_CONNECTION_STRING',
  /**
   * A base the datasets' resource paths are appended to, instead of https://data.ny.gov (a mirror, or a local
   * stand-in): `http://127.0.0.1:8080` serves `/resource/qzve-kjga.json` and `/resource/ebfx-2m7v.json`.
   */
  sourceUrl: 'BNT_SOURCE_URL',
  /**
   * The most of a window's fetched records that may be quarantined, in percent (0–100), before the window fails.
   * Default: the dataset's own limit, else 1.
   */
  maxQuarantinePercent: 'BNT_MAX_QUARANTINE_PERCENT',
  /**
   * Page requests a run keeps in flight at once, 1–8 (default 4): every page's offset is known from the count, so
   * they are requested side by side and read in order. A 429 lowers it for a while. Capped at 4 in the Functions
   * app (see `APP_MAX_PAGES_IN_FLIGHT`).
   */
  pagesInFlight: 'BNT_PAGES_IN_FLIGHT',
  /** The Socrata app token; otherwise the socrata-source block is read. */
  appToken: 'SOCRATA_APP_TOKEN',
  /** The weekly timer's NCRONTAB schedule (six fields, UTC). Default `0 0 12 * * 1`, Monday 12:00. */
  schedule: 'BNT_SCHEDULE',
  /** Comma-separated datasets the weekly timer runs. Default: every built-in dataset. */
  datasets: 'BNT_DATASETS',
  /**
   * How many weeks before the current one each weekly fire looks back on, per dataset, to start again the weeks
   * whose latest run failed or that were never run. Default 4; 0 turns healing off.
   */
  healWeeks: 'BNT_HEAL_WEEKS',
  /** The Durable task hub (host.json reads it as `%TASKHUB_NAME%`). */
  taskHub: 'TASKHUB_NAME',
  /** Runs that finished more than this many days ago are purged from the task hub. Default 30. */
  purgeAfterDays: 'BNT_PURGE_AFTER_DAYS',
} as const;

export type SettingKey = keyof typeof SETTINGS;

/** Block names can be overridden per block type; the blocks module owns those names. */
export const BLOCK_SETTINGS: readonly string[] = Object.values(BLOCK_NAME_SETTINGS);

/** Every setting name the code reads, for cross-checks with the settings example and the infrastructure. */
export const ALL_SETTINGS: readonly string[] = [...Object.values(SETTINGS), ...BLOCK_SETTINGS];

/** The embedded default for the local stage, DuckDB file and blocks file, relative to where the user runs. */
export const DEFAULT_DATA_DIR = '.local';

/** Monday 12:00 UTC, the original flow's schedule. */
export const DEFAULT_SCHEDULE = '0 0 12 * * 1';

/** A setting's value; an empty app setting means "not set", as it does for the Functions host. */
export function readSetting(env: Readonly<Record<string, string | undefined>>, key: SettingKey): string | undefined {
  const value = env[SETTINGS[key]];
  return value === undefined || value === '' ? undefined : value;
}

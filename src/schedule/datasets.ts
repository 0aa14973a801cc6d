import { InputError } from '../common/errors';
import { DATASETS, findDataset } from '../pipeline/datasets';
import { SETTINGS } from '../run/settings';

/**
 * Rows the source holds per day, measured once, to size backfill units in rows rather than days. An
 * estimate: a unit that turns out larger only costs another page. Kept here, keyed by dataset name, until
 * the dataset definitions carry it.
 */
export const ROWS_PER_DAY: Readonly<Record<string, number>> = {
  // 2.7 million rows from 2010-01-01 to 2025-06-01: about 480 a day (plazas × 24 hours × 2 directions).
  'bnt-hourly-traffic': 480,
  // facility × hour × direction × payment method × vehicle class.
  'bnt-hourly-crossings': 5_500,
};

export function rowsPerDay(dataset: string): number {
  const rows = ROWS_PER_DAY[dataset];
  if (rows === undefined) throw new Error(`dataset "${dataset}" has no rows-per-day estimate in ROWS_PER_DAY`);
  return rows;
}

/**
 * The datasets the weekly timer runs, from the comma-separated setting; every built-in dataset when unset
 * (the original for its table, the successor for live data). Errors name the setting.
 */
export function weeklyDatasets(value: string | undefined, field: string = SETTINGS.datasets): string[] {
  if (value === undefined || value.trim() === '') return DATASETS.map((dataset) => dataset.name);
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => name === '')) {
    throw new InputError(field, `${field} "${value}" has an empty entry; give dataset names separated by commas`);
  }
  return [...new Set(names.map((name) => findDataset(name, field).name))];
}

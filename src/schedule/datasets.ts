import { InputError } from '../common/errors';
import { DATASETS, findDataset } from '../pipeline/datasets';
import { SETTINGS } from '../run/settings';

/** The dataset's rows-a-day estimate (`DatasetDefinition.rowsPerDay`), which backfill units are sized by. */
export function rowsPerDay(dataset: string): number {
  const rows = findDataset(dataset).rowsPerDay;
  if (rows === undefined) throw new Error(`dataset "${dataset}" has no rows-per-day estimate (rowsPerDay)`);
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

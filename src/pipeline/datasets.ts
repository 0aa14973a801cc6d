import { InputError, messageOf } from '../common/errors';
import { DATASET_NAME } from '../common/names';
import { type Window, daysIn, parseIsoDate } from './window';

/**
 * Datasets are definitions, not code paths: everything the pipeline does with a Socrata dataset (which
 * columns to request, how to check and type each value, how to order pages, which table to load) follows
 * from one of these objects. A third dataset is a third object in `DATASETS`.
 */

/** The column type in the lakehouse table; the staged JSON value follows from it. */
export type ColumnType = 'string' | 'int' | 'date' | 'timestamp';

export interface FieldDefinition {
  readonly name: string;
  readonly type: ColumnType;
  /** Key fields are always required; other fields may be required too. A missing optional field loads as NULL. */
  readonly required?: boolean;
  /** Strings: the only values accepted (e.g. direction `I`/`O`). */
  readonly allowed?: readonly string[];
  /** Integers, and strings that carry an integer (the original table keeps `hour` as a string): inclusive bounds. */
  readonly range?: { readonly min: number; readonly max: number };
  /**
   * Text fields: the most characters a value may have; default `DEFAULT_MAX_TEXT_LENGTH`. A longer value is
   * quarantined as `too_long` before any other check. Other types are held to the default too: no number or date is
   * that long, and the bound keeps an absurd value out of memory-hungry parsing and out of messages.
   */
  readonly maxLength?: number;
}

/**
 * About 4 KB: far above any real value in these datasets, far below DuckDB's 16 MB limit on one JSON object, so one
 * oversized record is quarantined instead of failing every load of its window.
 */
export const DEFAULT_MAX_TEXT_LENGTH = 4096;

export function maxLengthOf(field: FieldDefinition): number {
  return field.maxLength ?? DEFAULT_MAX_TEXT_LENGTH;
}

export interface DatasetDefinition {
  readonly name: string;
  readonly title: string;
  /** Socrata resource URL, e.g. https://data.ny.gov/resource/qzve-kjga.json */
  readonly resourceUrl: string;
  readonly fields: readonly FieldDefinition[];
  /** The natural key: at most one row per key in the table. */
  readonly key: readonly string[];
  /** The date or timestamp field the window applies to. */
  readonly windowField: string;
  /** The first date (`YYYY-MM-DD`) the dataset has rows for: windows are clipped to start no earlier. */
  readonly firstDate: string;
  readonly table: { readonly schema: string; readonly name: string };
  /**
   * The most of a window's fetched records that may be quarantined, in percent, before the window fails; default 1.
   * A flag or setting overrides it.
   */
  readonly maxQuarantinePercent?: number;
  /**
   * Rows the source holds per day, measured once: an estimate that sizes backfill units in rows rather than days, and
   * lets the pages a window surely fills go out beside its count. A wrong estimate costs requests, never rows.
   */
  readonly rowsPerDay?: number;
}

const COUNT = { min: 0, max: 2_147_483_647 } as const;

export const BNT_HOURLY_TRAFFIC: DatasetDefinition = {
  name: 'bnt-hourly-traffic',
  title: 'Hourly Traffic on MTA Bridges and Tunnels: Beginning 2010 (qzve-kjga)',
  resourceUrl: 'https://data.ny.gov/resource/qzve-kjga.json',
  // Exactly the original flow's columns and types, so tables it wrote keep working.
  fields: [
    { name: 'plaza_id', type: 'string' },
    { name: 'date', type: 'date' },
    { name: 'hour', type: 'string', range: { min: 0, max: 23 } },
    { name: 'direction', type: 'string', allowed: ['I', 'O'] },
    { name: 'vehicles_e_zpass', type: 'int', range: COUNT },
    { name: 'vehicles_vtoll', type: 'int', range: COUNT },
  ],
  key: ['plaza_id', 'date', 'hour', 'direction'],
  windowField: 'date',
  firstDate: '2010-01-01',
  table: { schema: 'bronze', name: 'bnt_traffic_hourly' },
  // 2.7 million rows from 2010-01-01 to 2025-06-01: about 480 a day (plazas × 24 hours × 2 directions).
  rowsPerDay: 480,
};

export const BNT_HOURLY_CROSSINGS: DatasetDefinition = {
  name: 'bnt-hourly-crossings',
  title: 'MTA Bridges and Tunnels Hourly Crossings: Beginning 2019 (ebfx-2m7v)',
  resourceUrl: 'https://data.ny.gov/resource/ebfx-2m7v.json',
  // Facility ids and the direction vocabulary are not published: check shape (non-empty text), not a list.
  fields: [
    { name: 'transit_timestamp', type: 'timestamp' },
    { name: 'date', type: 'date' },
    { name: 'hour', type: 'int', range: { min: 0, max: 23 } },
    { name: 'facility_id', type: 'string' },
    { name: 'facility', type: 'string' },
    { name: 'direction', type: 'string' },
    { name: 'payment_method', type: 'string' },
    { name: 'vehicle_class', type: 'int', range: COUNT },
    { name: 'vehicle_class_description', type: 'string' },
    { name: 'vehicle_class_category', type: 'string' },
    { name: 'traffic_count', type: 'int', range: COUNT },
  ],
  key: ['facility_id', 'transit_timestamp', 'direction', 'payment_method', 'vehicle_class'],
  windowField: 'transit_timestamp',
  firstDate: '2019-01-01',
  table: { schema: 'bronze', name: 'bnt_crossings_hourly' },
  // Facility × hour × direction × payment method × vehicle class.
  rowsPerDay: 5_500,
};

export const DATASETS: readonly DatasetDefinition[] = [BNT_HOURLY_TRAFFIC, BNT_HOURLY_CROSSINGS];
export const DEFAULT_DATASET = BNT_HOURLY_TRAFFIC.name;

export function findDataset(name: string, field = 'dataset'): DatasetDefinition {
  const dataset = DATASETS.find((candidate) => candidate.name === name);
  if (!dataset) {
    const known = DATASETS.map((candidate) => candidate.name).join(', ');
    throw new InputError(field, `${field} "${name}" is not a known dataset (known: ${known})`);
  }
  return dataset;
}

/**
 * The `$order` for paging: every key field, then Socrata's row id. It makes paging stable (SODA has no
 * default order) and puts records with the same key next to each other, so duplicates are found with
 * constant memory. The window field leads so pages follow time.
 */
export function pageOrder(dataset: DatasetDefinition): string[] {
  const keyRest = dataset.key.filter((name) => name !== dataset.windowField);
  const leading = dataset.key.includes(dataset.windowField) ? [dataset.windowField] : [];
  return [...leading, ...keyRest, ':id'];
}

/** The rows the dataset's estimate expects in a window, or undefined when it has none. */
export function expectedRows(dataset: DatasetDefinition, window: Window): number | undefined {
  return dataset.rowsPerDay === undefined ? undefined : dataset.rowsPerDay * daysIn(window);
}

export function isRequired(dataset: DatasetDefinition, field: FieldDefinition): boolean {
  return field.required === true || dataset.key.includes(field.name);
}

/** Socrata field names are lower case, and so are our table names: a capital letter is a typo here. */
const DEFINITION_NAME = /^[a-z_][a-z0-9_]{0,127}$/;

/**
 * Definitions feed SQL and paths, so their names are checked once here rather than trusted downstream.
 * Throws on the first problem; used by tests for every built-in and by anyone adding a dataset.
 */
export function assertValidDefinition(dataset: DatasetDefinition): void {
  const problems: string[] = [];
  if (!DATASET_NAME.test(dataset.name))
    problems.push(`name "${dataset.name}" must be lower-case letters, digits and dashes`);
  for (const part of [dataset.table.schema, dataset.table.name]) {
    if (!DEFINITION_NAME.test(part)) problems.push(`table identifier "${part}" must match ${DEFINITION_NAME}`);
  }
  const names = new Set<string>();
  for (const field of dataset.fields) {
    if (!DEFINITION_NAME.test(field.name)) problems.push(`field "${field.name}" must match ${DEFINITION_NAME}`);
    if (names.has(field.name)) problems.push(`field "${field.name}" is defined twice`);
    if (field.maxLength !== undefined && !(Number.isSafeInteger(field.maxLength) && field.maxLength > 0)) {
      problems.push(`field "${field.name}" maxLength ${field.maxLength} must be a whole number above 0`);
    }
    names.add(field.name);
  }
  for (const keyField of dataset.key) if (!names.has(keyField)) problems.push(`key field "${keyField}" is not a field`);
  const windowField = dataset.fields.find((field) => field.name === dataset.windowField);
  if (!windowField || (windowField.type !== 'date' && windowField.type !== 'timestamp')) {
    problems.push(`window field "${dataset.windowField}" must be a date or timestamp field`);
  }
  const perDay = dataset.rowsPerDay;
  if (perDay !== undefined && !(Number.isFinite(perDay) && perDay > 0)) {
    problems.push(`rowsPerDay ${perDay} must be a number above 0`);
  }
  const limit = dataset.maxQuarantinePercent;
  if (limit !== undefined && !(limit >= 0 && limit <= 100)) {
    problems.push(`maxQuarantinePercent ${limit} must be a number from 0 to 100`);
  }
  try {
    parseIsoDate(dataset.firstDate, 'firstDate');
  } catch (error) {
    problems.push(messageOf(error));
  }
  if (problems.length > 0) throw new Error(`dataset definition "${dataset.name}" is invalid: ${problems.join('; ')}`);
}

import {
  DEFAULT_MAX_TEXT_LENGTH,
  type DatasetDefinition,
  type FieldDefinition,
  isRequired,
  maxLengthOf,
} from './datasets';
import type { Window } from './window';

/** A record as Socrata sends it: strings (numbers included), null fields left out. */
export type SourceRecord = Readonly<Record<string, unknown>>;

/** A typed row as staged: dates `YYYY-MM-DD`, timestamps `YYYY-MM-DDTHH:MM:SS`, ints as numbers, NULL as null. */
export type StagedRow = Record<string, string | number | null>;

/** Why a record was quarantined. Stable codes: the manifest counts by them and people grep for them. */
export type QuarantineReason =
  | 'missing_field'
  | 'too_long'
  | 'empty_text'
  | 'not_allowed'
  | 'wrong_type'
  | 'not_an_integer'
  | 'out_of_range'
  | 'not_a_date'
  | 'not_a_timestamp'
  | 'malformed_text'
  | 'outside_window'
  | 'duplicate_key';

export interface Rejection {
  readonly reason: QuarantineReason;
  readonly field: string;
  readonly message: string;
}

/**
 * One line of the quarantine file: why the record was not staged, and the record as received, except that a
 * value too long to keep whole is cut to an excerpt (see `quarantineEntry`).
 */
export interface QuarantineEntry extends Rejection {
  readonly record: SourceRecord;
}

/** How much of an oversized value the quarantine file keeps: enough to recognise it, never the whole of it. */
export const QUARANTINE_EXCERPT_LENGTH = 200;

/** `abc…(250000000 characters)`: the start of a long text, and how long it was. */
export function excerpt(text: string, keep = QUARANTINE_EXCERPT_LENGTH): string {
  return `${text.slice(0, keep)}…(${text.length} characters)`;
}

/**
 * The quarantine line for a record. Every text value longer than the dataset's bound for its field (the default
 * bound for fields the dataset does not define) is cut to an excerpt, and so is a nested value whose JSON is that
 * long, so one 200 MB value costs a few hundred bytes in the quarantine file, not 200 MB.
 */
export function quarantineEntry(
  dataset: DatasetDefinition,
  rejection: Rejection,
  record: SourceRecord,
): QuarantineEntry {
  let bounded: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(record)) {
    const field = dataset.fields.find((candidate) => candidate.name === name);
    const limit = field ? maxLengthOf(field) : DEFAULT_MAX_TEXT_LENGTH;
    let cut: string | undefined;
    if (typeof value === 'string') {
      if (value.length > limit) cut = excerpt(value);
    } else if (typeof value === 'object' && value !== null) {
      const json = JSON.stringify(value);
      if (json.length > limit) cut = excerpt(json);
    }
    if (cut !== undefined) {
      // Copied only when something is cut: almost every quarantined record is small and goes out as it came.
      bounded ??= { ...record };
      bounded[name] = cut;
    }
  }
  return { ...rejection, record: bounded ?? record };
}

/**
 * A checked record: its typed row and key, or the first rule it breaks. `position` is its window field, typed, when
 * that is valid and inside the window: it places the record in its chunk and in the source's order even when
 * another field has it quarantined.
 */
export type Checked =
  | { readonly row: StagedRow; readonly key: string; readonly position: string }
  | { readonly rejection: Rejection; readonly position?: string };

/** What an `int` column holds (a 32-bit INTEGER in DuckDB and Databricks): a loader refuses anything outside. */
export const INTEGER_RANGE = { min: -2_147_483_648, max: 2_147_483_647 } as const;

/** Checks one value and returns its typed form, or a rejection. */
type FieldCheck = (raw: string) => string | number | Rejection;

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?)?$/;
const INTEGER = /^[-+]?\d+(?:\.0*)?$/;
const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}

function reject(reason: QuarantineReason, field: string, message: string): Rejection {
  return { reason, field, message };
}

function isRejection(value: string | number | Rejection): value is Rejection {
  return typeof value === 'object';
}

/** The value of up to nine plain digits (what the sources send almost always), or -1 for anything else. */
function plainDigits(raw: string): number {
  if (raw.length === 0 || raw.length > 9) return -1;
  let value = 0;
  for (let at = 0; at < raw.length; at += 1) {
    const digit = raw.charCodeAt(at) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function parseInteger(field: FieldDefinition, raw: string): number | Rejection {
  const plain = plainDigits(raw);
  if (plain >= 0) {
    if (field.range && (plain < field.range.min || plain > field.range.max)) {
      return reject(
        'out_of_range',
        field.name,
        `${field.name} ${plain} is outside ${field.range.min}–${field.range.max}`,
      );
    }
    return plain;
  }
  if (!INTEGER.test(raw)) {
    const what = NUMBER.test(raw) ? 'is not a whole number' : 'is not a number';
    return reject('not_an_integer', field.name, `${field.name} "${raw}" ${what}`);
  }
  const value = Number.parseInt(raw, 10);
  if (field.range && (value < field.range.min || value > field.range.max)) {
    return reject(
      'out_of_range',
      field.name,
      `${field.name} ${value} is outside ${field.range.min}–${field.range.max}`,
    );
  }
  // Whatever the definition's range, an INTEGER column refuses more: DuckDB and Databricks would fail the whole file.
  if (value < INTEGER_RANGE.min || value > INTEGER_RANGE.max) {
    return reject('out_of_range', field.name, `${field.name} ${raw} does not fit a 32-bit integer column`);
  }
  return value;
}

function parseDateTime(field: FieldDefinition, raw: string): string | Rejection {
  const reason = field.type === 'date' ? 'not_a_date' : 'not_a_timestamp';
  const match = DATE_TIME.exec(raw);
  if (!match) return reject(reason, field.name, `${field.name} "${raw}" is not an ISO ${field.type}`);
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = ''] = match as unknown as string[];
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return reject(reason, field.name, `${field.name} "${raw}" is not a calendar date`);
  }
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    return reject(reason, field.name, `${field.name} "${raw}" is not a time of day`);
  }
  const date = `${y}-${mo}-${d}`;
  const subSecond = fraction.replace(/0+$/, '');
  if (field.type === 'date') {
    // A date that carries a time of day is not a date: truncating it could merge two source rows into one key.
    if (h !== '00' || mi !== '00' || s !== '00' || subSecond !== '') {
      return reject(reason, field.name, `${field.name} "${raw}" has a time of day; expected midnight`);
    }
    return date;
  }
  return `${date}T${h}:${mi}:${s}${subSecond ? `.${subSecond}` : ''}`;
}

function compileField(field: FieldDefinition): FieldCheck {
  switch (field.type) {
    case 'int':
      return (raw) => parseInteger(field, raw);
    case 'date':
    case 'timestamp': {
      // Pages are ordered by time, so the same date or hour repeats for hundreds of records in a row.
      let lastRaw: string | undefined;
      let lastValue: string | Rejection = '';
      return (raw) => {
        if (raw !== lastRaw) {
          lastRaw = raw;
          lastValue = parseDateTime(field, raw);
        }
        return lastValue;
      };
    }
    case 'string': {
      const allowed = field.allowed ? new Set(field.allowed) : undefined;
      return (raw) => {
        // A lone UTF-16 surrogate is valid JSON but no text: DuckDB's read_json refuses the whole file holding it.
        if (!raw.isWellFormed()) {
          return reject(
            'malformed_text',
            field.name,
            `${field.name} holds a lone UTF-16 surrogate (not well-formed Unicode); no loader accepts it`,
          );
        }
        if (raw.trim() === '') return reject('empty_text', field.name, `${field.name} is empty`);
        if (allowed && !allowed.has(raw)) {
          return reject('not_allowed', field.name, `${field.name} "${raw}" is not one of ${[...allowed].join(', ')}`);
        }
        if (field.range) {
          // A string column that carries an integer (the original's `hour`): check it, keep its canonical text.
          const value = parseInteger(field, raw);
          return isRejection(value) ? value : String(value);
        }
        return raw;
      };
    }
  }
}

/**
 * Builds the checker for one dataset and the window asked for. It types every field, applies the dataset's rules and
 * the window, and returns the staged row with its key, or the first rule the record breaks. The window field is
 * checked first, so a record's position is known whatever else is wrong with it.
 */
export function recordChecker(dataset: DatasetDefinition, window: Window): (record: SourceRecord) => Checked {
  const fields = dataset.fields.map((field) => ({
    name: field.name,
    required: isRequired(dataset, field),
    maxLength: maxLengthOf(field),
    check: compileField(field),
  }));
  const windowField = fields.find((field) => field.name === dataset.windowField);
  if (!windowField) throw new Error(`dataset ${dataset.name}: the window field ${dataset.windowField} is not a field`);
  const keyFields = dataset.key;
  const requested = `the requested window [${window.start}, ${window.stop})`;

  /** The typed value of one field of a record, or why it is refused; null for an absent optional field. */
  const typed = (field: (typeof fields)[number], raw: unknown): string | number | null | Rejection => {
    if (raw === undefined || raw === null) {
      return field.required ? reject('missing_field', field.name, `${field.name} is missing`) : null;
    }
    // First, before any other work on the value: a 200 MB string must not reach a regex, a message or the stage.
    if (typeof raw === 'string' && raw.length > field.maxLength) {
      return reject(
        'too_long',
        field.name,
        `${field.name} has ${raw.length} characters, more than the ${field.maxLength} allowed`,
      );
    }
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      return reject('wrong_type', field.name, `${field.name} is a JSON ${typeof raw}, expected a string`);
    }
    return field.check(String(raw));
  };

  return (record) => {
    const windowValue = typed(windowField, record[windowField.name]);
    if (windowValue === null || isRejection(windowValue)) {
      return { rejection: windowValue ?? reject('missing_field', windowField.name, `${windowField.name} is missing`) };
    }
    const position = String(windowValue);
    const day = position.slice(0, 10);
    if (day < window.start || day >= window.stop) {
      return {
        rejection: reject(
          'outside_window',
          windowField.name,
          `${windowField.name} ${position} is outside ${requested}`,
        ),
      };
    }
    const row: StagedRow = {};
    for (const field of fields) {
      const value = field === windowField ? windowValue : typed(field, record[field.name]);
      if (value !== null && isRejection(value)) return { rejection: value, position };
      row[field.name] = value;
    }
    // Joined, not concatenated: a flat string that holds no reference to the values it was made of (a chunk keeps
    // its keys; ropes over the page's strings would keep far more).
    const key = keyFields.map((name) => String(row[name])).join('\u001f');
    return { row, key, position };
  };
}

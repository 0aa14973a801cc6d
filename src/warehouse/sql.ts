import type { ColumnType, DatasetDefinition } from '../pipeline/datasets';
import { SQL_IDENTIFIER } from '../common/names';
import { type Window, checkedDate } from '../pipeline/window';

/**
 * SQL shared by both warehouses. Everything spliced into a statement is either an identifier checked against
 * `SQL_IDENTIFIER` or a date checked with `checkedDate`, at the point of use, whatever checked it before.
 */
export interface SqlDialect {
  readonly name: string;
  quote(identifier: string): string;
  columnType(type: ColumnType): string;
  /** A literal of the dialect's type for zone-less timestamps, so comparisons never pass through a session time zone. */
  timestampLiteral(isoDateTime: string): string;
}

export function checkedIdentifier(value: string, what: string): string {
  if (!SQL_IDENTIFIER.test(value)) {
    throw new Error(
      `${what} "${value}" is not a plain SQL identifier (letters, digits and underscores, not starting with a digit)`,
    );
  }
  return value;
}

export { checkedDate };

/** A SQL string literal for text we built ourselves (paths); single quotes doubled. */
export function stringLiteral(value: string): string {
  if (value.includes('\\') || value.includes('\0'))
    throw new Error(`refusing to put "${value}" in a SQL string literal`);
  return `'${value.replaceAll("'", "''")}'`;
}

function fieldNames(dialect: SqlDialect, dataset: DatasetDefinition): string[] {
  return dataset.fields.map((field) => dialect.quote(checkedIdentifier(field.name, 'column')));
}

export function columnDefinitions(dialect: SqlDialect, dataset: DatasetDefinition): string {
  return dataset.fields
    .map((field) => `${dialect.quote(checkedIdentifier(field.name, 'column'))} ${dialect.columnType(field.type)}`)
    .join(', ');
}

/** `date >= DATE '2024-01-07' AND date < DATE '2024-01-14'`, on a date or timestamp window field. */
export function windowPredicate(
  dialect: SqlDialect,
  dataset: DatasetDefinition,
  window: Window,
  qualifier?: string,
): string {
  const field = dataset.fields.find((candidate) => candidate.name === dataset.windowField);
  if (!field) throw new Error(`dataset ${dataset.name} has no window field ${dataset.windowField}`);
  const column = `${qualifier ? `${qualifier}.` : ''}${dialect.quote(checkedIdentifier(field.name, 'column'))}`;
  const literal = (date: string) =>
    field.type === 'date' ? `DATE '${checkedDate(date)}'` : dialect.timestampLiteral(`${checkedDate(date)} 00:00:00`);
  return `${column} >= ${literal(window.start)} AND ${column} < ${literal(window.stop)}`;
}

/** A staged window as a relation the warehouse can read: `read_json(...)` or `read_files(...)`. */
export interface SourceRelation {
  readonly window: Window;
  readonly relation: string;
}

/**
 * One MERGE that upserts every given window. Each window's rows are filtered to that window (a staged file
 * can only change its own window), and rows with the same key are reduced to one — the window given last wins —
 * since a MERGE fails when several source rows match one target row. Unchanged rows are not rewritten.
 */
export function mergeStatement(
  dialect: SqlDialect,
  table: string,
  dataset: DatasetDefinition,
  sources: readonly SourceRelation[],
): string {
  if (sources.length === 0) throw new Error('a MERGE needs at least one staged window');
  const columns = fieldNames(dialect, dataset);
  const keys = dataset.key.map((name) => dialect.quote(checkedIdentifier(name, 'key column')));
  const values = dataset.fields
    .filter((field) => !dataset.key.includes(field.name))
    .map((field) => dialect.quote(checkedIdentifier(field.name, 'column')));
  const selects = sources.map(
    (source, rank) =>
      `    SELECT ${columns.join(', ')}, ${rank} AS _window_rank\n` +
      `    FROM ${source.relation}\n` +
      `    WHERE ${windowPredicate(dialect, dataset, source.window)}`,
  );
  const lines = [
    `MERGE INTO ${table} AS target`,
    'USING (',
    `  SELECT ${columns.join(', ')}`,
    '  FROM (',
    selects.join('\n    UNION ALL\n'),
    '  ) AS staged',
    `  QUALIFY ROW_NUMBER() OVER (PARTITION BY ${keys.join(', ')} ORDER BY _window_rank DESC) = 1`,
    ') AS source',
    `ON ${[...keys.map((key) => `target.${key} = source.${key}`), ...targetWindowFilter(dialect, dataset, sources)].join(' AND ')}`,
  ];
  if (values.length > 0) {
    lines.push(
      `WHEN MATCHED AND (${values.map((column) => `target.${column} IS DISTINCT FROM source.${column}`).join(' OR ')}) THEN`,
      `  UPDATE SET ${values.map((column) => `${column} = source.${column}`).join(', ')}`,
    );
  }
  lines.push(
    'WHEN NOT MATCHED THEN',
    `  INSERT (${columns.join(', ')}) VALUES (${columns.map((column) => `source.${column}`).join(', ')})`,
  );
  return lines.join('\n');
}

/**
 * Restricts the target side of the MERGE to the windows' span, so the engine reads only that part of the table
 * (zone maps in DuckDB, file skipping in Delta and Iceberg) instead of all of it on every load. Safe only when
 * the window field is part of the key: then a source row can only ever match a target row inside its window.
 */
function targetWindowFilter(
  dialect: SqlDialect,
  dataset: DatasetDefinition,
  sources: readonly SourceRelation[],
): string[] {
  if (!dataset.key.includes(dataset.windowField)) return [];
  const start = sources.map((source) => source.window.start).reduce((a, b) => (a < b ? a : b));
  const stop = sources.map((source) => source.window.stop).reduce((a, b) => (a > b ? a : b));
  return [`(${windowPredicate(dialect, dataset, { start, stop }, 'target')})`];
}

export function countInWindowStatement(
  dialect: SqlDialect,
  table: string,
  dataset: DatasetDefinition,
  window: Window,
): string {
  return `SELECT COUNT(*) AS row_count FROM ${table} WHERE ${windowPredicate(dialect, dataset, window)}`;
}

/** Rows per day of a window that has rows, days as `YYYY-MM-DD` text: what `status` shows per week, in one query. */
export function rowsPerDayStatement(
  dialect: SqlDialect,
  table: string,
  dataset: DatasetDefinition,
  window: Window,
): string {
  const column = dialect.quote(checkedIdentifier(dataset.windowField, 'column'));
  const day = `CAST(CAST(${column} AS DATE) AS ${dialect.columnType('string')})`;
  return (
    `SELECT ${day} AS day, COUNT(*) AS row_count FROM ${table} ` +
    `WHERE ${windowPredicate(dialect, dataset, window)} GROUP BY ${day} ORDER BY day`
  );
}

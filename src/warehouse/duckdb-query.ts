/**
 * One read-only statement against the local DuckDB file, for `npm run sql`: the file opened read-only (waiting its
 * turn while a run writes it), one statement, at most `maxRows` rows read. DuckDB's errors come back condensed to a
 * line, and a table that does not exist yet says which tables do and how to load one.
 */
import { type DuckDBConnection, type DuckDBResultReader, DuckDBTypeId, type Json } from '@duckdb/node-api';
import { InputError, TerminalError, messageOf } from '../common/errors';
import { type FileWait, condenseDuckDbError, missingCatalogEntry, openReadOnly } from './duckdb-file';

export interface QueryResult {
  /** Column names as DuckDB gives them, and made unique (for JSON objects). */
  readonly columns: readonly string[];
  readonly uniqueColumns: readonly string[];
  /** Per column: a number (printed right-aligned). */
  readonly numeric: readonly boolean[];
  readonly rows: readonly Json[][];
  /** More rows than `maxRows` exist. */
  readonly more: boolean;
}

/** Integer types DuckDB hands to JSON as strings (they can exceed 2^53); small ones print as numbers. */
const WIDE_INTEGERS = new Set([DuckDBTypeId.BIGINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UHUGEINT]);

const NUMERIC = new Set([
  ...WIDE_INTEGERS,
  DuckDBTypeId.TINYINT,
  DuckDBTypeId.SMALLINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.UTINYINT,
  DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UINTEGER,
  DuckDBTypeId.FLOAT,
  DuckDBTypeId.DOUBLE,
  DuckDBTypeId.DECIMAL,
]);

export async function queryReadOnly(
  file: string,
  statement: string,
  maxRows: number,
  wait: FileWait = {},
): Promise<QueryResult> {
  const instance = await openReadOnly(file, wait);
  const connection = await instance.connect();
  try {
    let reader: DuckDBResultReader;
    try {
      const statements = await connection.extractStatements(statement);
      if (statements.count !== 1) {
        throw new InputError('statement', `give one SQL statement, not ${statements.count}`);
      }
      // Read one row past the bound, to know whether there were more; never the whole of a huge result.
      reader = await connection.runAndReadUntil(statement, maxRows + 1);
    } catch (error) {
      if (error instanceof InputError) throw error;
      const missing = missingCatalogEntry(error);
      const hint = missing === undefined ? '' : `; ${await tablesHint(connection, file)}`;
      // The condensed message replaces DuckDB's multi-line one; as a cause it would be printed again.
      throw new TerminalError(`${condenseDuckDbError(messageOf(error))}${hint}`);
    }
    const types = reader.columnTypes().map((type) => type.typeId);
    const rows = reader
      .getRowsJson()
      .slice(0, maxRows)
      .map((row) =>
        row.map((value, i) => {
          const type = types[i];
          if (type !== undefined && WIDE_INTEGERS.has(type) && typeof value === 'string') {
            const number = Number(value);
            return Number.isSafeInteger(number) ? number : value;
          }
          return value;
        }),
      );
    return {
      columns: reader.columnNames(),
      uniqueColumns: reader.deduplicatedColumnNames(),
      numeric: types.map((type) => NUMERIC.has(type)),
      rows,
      more: reader.currentRowCount > maxRows,
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** What the file holds instead: its tables, or none yet and how to load one. */
async function tablesHint(connection: DuckDBConnection, file: string): Promise<string> {
  const reader = await connection.runAndReadAll(
    "SELECT schema_name || '.' || table_name AS name FROM duckdb_tables() ORDER BY name",
  );
  const tables = reader.getRowsJson().map(([name]) => (typeof name === 'string' ? name : JSON.stringify(name)));
  return tables.length === 0
    ? `${file} holds no table yet: a run loads one (npm run pipeline -- run [--dataset …])`
    : `the tables in ${file}: ${tables.join(', ')}`;
}

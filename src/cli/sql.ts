import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type DuckDBResultReader, DuckDBInstance, DuckDBTypeId, type Json } from '@duckdb/node-api';
import { InputError, messageOf } from '../common/errors';
import { DEFAULT_DATA_DIR, SETTINGS } from '../run/settings';
import { type CliIo, processIo } from './io';
import { newProgram, runProgram } from './shared';

/**
 * `npm run sql -- "SELECT …"`: look at the local table without installing the duckdb CLI. The file is opened
 * read-only, so a query can never change the table, and a run that is loading holds no lock against it for long.
 */

interface SqlFlags {
  dataDir?: string;
  json?: boolean;
  maxRows: string;
}

export const DEFAULT_MAX_ROWS = 1000;

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

/**
 * DuckDB's message as one line: its first lines say what is wrong; from `LINE n:` on it repeats the statement with
 * a caret under the fault, which only makes sense in a fixed-width block. A held lock gets a hint.
 */
export function condenseDuckDbError(message: string): string {
  const lines: string[] = [];
  // The client's wrapper for a statement that did not parse adds nothing the parser's own words do not say.
  for (const line of message.replace(/^Failed to extract statements: /, '').split('\n')) {
    if (/^LINE \d+:/.test(line)) break;
    if (line.trim() !== '') lines.push(line.trim());
  }
  const condensed = lines.join(' ');
  return /Could not set lock on file/.test(condensed)
    ? `${condensed} (a pipeline run is probably writing to it; query again when it is done)`
    : condensed;
}

/** A cell as a table shows it: NULL for null, line breaks and control characters escaped so rows stay aligned. */
function cellText(value: Json): string {
  if (value === null) return 'NULL';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped here
  return text.replace(/[\u0000-\u001f\u007f]/g, (character) =>
    character === '\n' ? '\\n' : `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A simple aligned table: header, a rule, the rows; numbers right-aligned. */
export function formatTable(columns: readonly string[], numeric: readonly boolean[], rows: readonly Json[][]): string {
  const cells = rows.map((row) => row.map(cellText));
  const widths = columns.map((name, i) => Math.max(name.length, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (values: readonly string[]) =>
    values
      .map((value, i) => (numeric[i] ? value.padStart(widths[i] ?? 0) : value.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns), widths.map((width) => '-'.repeat(width)).join('  '), ...cells.map(line)]
    .map((text) => `${text}\n`)
    .join('');
}

function resultRows(reader: DuckDBResultReader, maxRows: number): { rows: Json[][]; numeric: boolean[] } {
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
  return { rows, numeric: types.map((type) => NUMERIC.has(type)) };
}

function dataDirOf(flags: SqlFlags, io: CliIo): { dataDir: string; field: string } {
  if (flags.dataDir !== undefined) return { dataDir: resolve(io.cwd, flags.dataDir), field: '--data-dir' };
  const setting = io.env[SETTINGS.dataDir];
  if (setting !== undefined && setting !== '') return { dataDir: resolve(io.cwd, setting), field: SETTINGS.dataDir };
  return { dataDir: resolve(io.cwd, DEFAULT_DATA_DIR), field: '--data-dir' };
}

async function queryCommand(statement: string, flags: SqlFlags, io: CliIo): Promise<void> {
  if (statement.trim() === '') {
    throw new InputError(
      'statement',
      'the SQL statement is empty; give one, e.g. npm run sql -- "SELECT count(*) FROM bronze.bnt_traffic_hourly"',
    );
  }
  const maxRows = Number(flags.maxRows);
  if (!Number.isSafeInteger(maxRows) || maxRows < 1) {
    throw new InputError('--max-rows', `--max-rows "${flags.maxRows}" must be a whole number above 0`);
  }
  const { dataDir, field } = dataDirOf(flags, io);
  const file = join(dataDir, 'warehouse.duckdb');
  const found = await stat(file).catch(() => undefined);
  if (!found?.isFile()) {
    throw new InputError(
      field,
      `${file} does not exist; load a window first (npm run pipeline -- run), or point ${field === SETTINGS.dataDir ? SETTINGS.dataDir : `--data-dir (env ${SETTINGS.dataDir})`} at the folder that holds warehouse.duckdb`,
    );
  }

  let instance: DuckDBInstance;
  try {
    // Read-only: nothing a query says can change the table. Never fetch an extension from the network.
    instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY', autoinstall_known_extensions: 'false' });
  } catch (error) {
    // The condensed message replaces DuckDB's multi-line one; as a cause it would be printed again.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`could not open ${file}: ${condenseDuckDbError(messageOf(error))}`);
  }
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
      // eslint-disable-next-line preserve-caught-error -- condensed on purpose, as above
      throw new Error(condenseDuckDbError(messageOf(error)));
    }
    const { rows, numeric } = resultRows(reader, maxRows);
    const more = reader.currentRowCount > maxRows;
    if (flags.json) {
      const columns = reader.deduplicatedColumnNames();
      const objects = rows.map((row) => Object.fromEntries(columns.map((name, i) => [name, row[i] ?? null])));
      io.stdout(`${JSON.stringify(objects)}\n`);
    } else {
      io.stdout(formatTable(reader.columnNames(), numeric, rows));
      io.stdout(`(${rows.length} row${rows.length === 1 ? '' : 's'}${more ? ', more not shown' : ''})\n`);
    }
    if (more) {
      io.stderr(`only the first ${maxRows} rows are shown; add a LIMIT, or raise --max-rows\n`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Runs the command line; returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = newProgram(
    'sql',
    'Run one SQL statement against the local DuckDB file (<data-dir>/warehouse.duckdb), read-only.',
    io,
  );
  program
    .argument('<statement>', 'one SQL statement, e.g. "SELECT count(*) FROM bronze.bnt_traffic_hourly"')
    .option('--data-dir <dir>', `folder of warehouse.duckdb (env ${SETTINGS.dataDir}; default ${DEFAULT_DATA_DIR})`)
    .option('--json', 'print the rows as one JSON array of objects')
    .option('--max-rows <n>', 'print at most this many rows', String(DEFAULT_MAX_ROWS))
    .action((statement: string, flags: SqlFlags) => queryCommand(statement, flags, io));
  return runProgram(program, argv, io);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

import type { Json } from '@duckdb/node-api';
import { InputError } from '../common/errors';
import { queryLocalWarehouse } from '../run/local-sql';
import { DEFAULT_DATA_DIR, SETTINGS } from '../run/settings';
import { type CliIo, processIo } from './io';
import { newProgram, runProgram } from './shared';

/**
 * `npm run sql -- "SELECT …"`: look at the local table without installing the duckdb CLI. The file is opened
 * read-only, so a query can never change the table; while a run is writing it, the query waits its turn.
 */

interface SqlFlags {
  dataDir?: string;
  json?: boolean;
  maxRows: string;
  wait?: string;
}

export const DEFAULT_MAX_ROWS = 1000;

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
  const wait = flags.wait === undefined ? undefined : Number(flags.wait);
  if (wait !== undefined && !(wait >= 0 && Number.isFinite(wait))) {
    throw new InputError('--wait', `--wait "${flags.wait}" must be a number of seconds, 0 or more`);
  }
  const result = await queryLocalWarehouse({
    statement,
    dataDir: flags.dataDir,
    maxRows,
    env: io.env,
    cwd: io.cwd,
    progress: (message) => io.stderr(`${message}\n`),
    ...(wait !== undefined ? { waitMs: wait * 1000 } : {}),
  });
  if (flags.json) {
    const objects = result.rows.map((row) =>
      Object.fromEntries(result.uniqueColumns.map((name, i) => [name, row[i] ?? null])),
    );
    io.stdout(`${JSON.stringify(objects)}\n`);
  } else {
    io.stdout(formatTable(result.columns, result.numeric, result.rows));
    const n = result.rows.length;
    io.stdout(`(${n} row${n === 1 ? '' : 's'}${result.more ? ', more not shown' : ''})\n`);
  }
  if (result.more) {
    io.stderr(`only the first ${maxRows} rows are shown; add a LIMIT, or raise --max-rows\n`);
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
    .option('--wait <seconds>', 'how long to wait while a run writes the file (default 600)')
    .action((statement: string, flags: SqlFlags) => queryCommand(statement, flags, io));
  return runProgram(program, argv, io);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

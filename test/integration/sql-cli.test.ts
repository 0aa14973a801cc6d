import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { main } from '../../src/cli/sql';
import { condenseDuckDbError } from '../../src/warehouse/duckdb-file';
import { runInProcess } from '../support/cli';
import { temporaryDirectory } from '../support/fixtures';

function sql(argv: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  return runInProcess(main, argv, options);
}

/** stderr is one line: the README's promise for every error. */
function assertOneLine(text: string): void {
  assert.equal(text.split('\n').filter((line) => line !== '').length, 1, text);
  assert.ok(text.endsWith('\n'));
}

describe('sql command line', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  let dataDir: string;

  before(async () => {
    directory = await temporaryDirectory();
    dataDir = join(directory.path, '.local');
    await mkdir(dataDir);
    const instance = await DuckDBInstance.create(join(dataDir, 'warehouse.duckdb'));
    const connection = await instance.connect();
    await connection.run('CREATE SCHEMA bronze');
    await connection.run(
      'CREATE TABLE bronze.bnt_traffic_hourly (plaza_id VARCHAR, date DATE, hour VARCHAR, direction VARCHAR, vehicles_e_zpass INTEGER)',
    );
    await connection.run(`INSERT INTO bronze.bnt_traffic_hourly VALUES
      ('21', DATE '2024-01-07', '0', 'I', 2021),
      ('21', DATE '2024-01-07', '0', 'O', 7),
      ('22', DATE '2024-01-08', '13', 'I', NULL)`);
    connection.closeSync();
    instance.closeSync();
  });
  after(async () => {
    await directory.remove();
  });

  test('prints the rows as an aligned table with a header, numbers on the right, NULL spelled out', async () => {
    const result = await sql(
      [
        'SELECT plaza_id, direction, vehicles_e_zpass FROM bronze.bnt_traffic_hourly ORDER BY plaza_id, direction',
        '--data-dir',
        '.local',
      ],
      { cwd: directory.path },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        'plaza_id  direction  vehicles_e_zpass',
        '--------  ---------  ----------------',
        '21        I                      2021',
        '21        O                         7',
        '22        I                      NULL',
        '(3 rows)',
        '',
      ].join('\n'),
    );
  });

  test('--json prints one JSON array of objects, counts as numbers', async () => {
    const result = await sql(
      ['SELECT count(*) AS n, min(date) AS first FROM bronze.bnt_traffic_hourly', '--json', '--data-dir', dataDir],
      { cwd: directory.path },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n').length, 1);
    assert.deepEqual(JSON.parse(result.stdout), [{ n: 3, first: '2024-01-07' }]);
  });

  test('finds the file through BNT_DATA_DIR, and .local by default, relative to the working directory', async () => {
    const fromSetting = await sql(['SELECT 1 AS one', '--json'], { cwd: '/', env: { BNT_DATA_DIR: dataDir } });
    assert.equal(fromSetting.code, 0, fromSetting.stderr);
    const byDefault = await sql(['SELECT 1 AS one', '--json'], { cwd: directory.path });
    assert.equal(byDefault.code, 0, byDefault.stderr);
    assert.deepEqual(JSON.parse(byDefault.stdout), [{ one: 1 }]);
  });

  test('a data dir without warehouse.duckdb exits 2 with one line naming the file, and creates nothing', async () => {
    const empty = join(directory.path, 'empty');
    await mkdir(empty);
    const result = await sql(['SELECT 1', '--data-dir', 'empty'], { cwd: directory.path });
    assert.equal(result.code, 2);
    assertOneLine(result.stderr);
    assert.match(result.stderr, new RegExp(`^error: ${join(empty, 'warehouse.duckdb')} does not exist; load a window`));
    assert.deepEqual(await readdir(empty), []);

    const setting = await sql(['SELECT 1'], { cwd: directory.path, env: { BNT_DATA_DIR: 'empty' } });
    assert.equal(setting.code, 2);
    assert.match(setting.stderr, /or point BNT_DATA_DIR at the folder/);
  });

  test('an empty statement, or none, exits 2', async () => {
    const blank = await sql(['   ', '--data-dir', dataDir], { cwd: directory.path });
    assert.equal(blank.code, 2);
    assert.equal(
      blank.stderr,
      'error: the SQL statement is empty; give one, e.g. npm run sql -- "SELECT count(*) FROM bronze.bnt_traffic_hourly"\n',
    );
    const none = await sql(['--data-dir', dataDir], { cwd: directory.path });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /missing required argument 'statement'/);
  });

  test('two statements exit 2: one statement a call', async () => {
    const result = await sql(['SELECT 1; SELECT 2', '--data-dir', dataDir], { cwd: directory.path });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: give one SQL statement, not 2\n');
  });

  test('a DuckDB error exits 1 with one condensed line', async () => {
    const missing = await sql(['SELECT * FROM bronze.nope', '--data-dir', dataDir], { cwd: directory.path });
    assert.equal(missing.code, 1);
    assertOneLine(missing.stderr);
    assert.match(missing.stderr, /^error: Catalog Error: Table with name nope does not exist!/);
    assert.doesNotMatch(missing.stderr, /LINE 1|\^/);

    const syntax = await sql(['SELEC 1', '--data-dir', dataDir], { cwd: directory.path });
    assert.equal(syntax.code, 1);
    assert.equal(syntax.stderr, 'error: Parser Error: syntax error at or near "SELEC"\n');
  });

  test('the file is opened read-only: a write is refused and changes nothing', async () => {
    const write = await sql(['DELETE FROM bronze.bnt_traffic_hourly', '--data-dir', dataDir], { cwd: directory.path });
    assert.equal(write.code, 1);
    assertOneLine(write.stderr);
    assert.match(write.stderr, /read-only/);
    const count = await sql(['SELECT count(*) AS n FROM bronze.bnt_traffic_hourly', '--json', '--data-dir', dataDir], {
      cwd: directory.path,
    });
    assert.deepEqual(JSON.parse(count.stdout), [{ n: 3 }]);
  });

  test('--max-rows bounds what is read and printed, and says there was more', async () => {
    const result = await sql(['SELECT * FROM range(100000)', '--max-rows', '2', '--data-dir', dataDir], {
      cwd: directory.path,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'range\n-----\n    0\n    1\n(2 rows, more not shown)\n');
    assert.match(result.stderr, /only the first 2 rows are shown; add a LIMIT, or raise --max-rows/);

    const bad = await sql(['SELECT 1', '--max-rows', '0', '--data-dir', dataDir], { cwd: directory.path });
    assert.equal(bad.code, 2);
  });

  /** A child process that holds the file open for writing until it has held it `holdMs` (or is killed). */
  async function holdForWriting(holdMs: number) {
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `const { DuckDBInstance } = require('@duckdb/node-api');
         DuckDBInstance.create(${JSON.stringify(join(dataDir, 'warehouse.duckdb'))}).then(async (instance) => {
           const connection = await instance.connect();
           process.stdout.write('open\\n');
           setTimeout(() => { connection.closeSync(); instance.closeSync(); }, ${holdMs});
         });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: join(__dirname, '..', '..') },
    );
    const exited = once(writer, 'exit');
    let output = '';
    for await (const chunk of writer.stdout) {
      output += String(chunk);
      if (output.includes('open')) break;
    }
    return {
      async stop() {
        writer.kill();
        await exited;
      },
    };
  }

  test('while a run writes the file a query waits its turn, saying so, then answers', async () => {
    const holder = await holdForWriting(1_500);
    try {
      const result = await sql(
        ['SELECT count(*) AS n FROM bronze.bnt_traffic_hourly', '--json', '--data-dir', dataDir],
        {
          cwd: directory.path,
        },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), [{ n: 3 }]);
      assert.match(
        result.stderr,
        /the DuckDB file .*warehouse\.duckdb is in use by another process \(PID \d+\); waiting its turn/,
      );
    } finally {
      await holder.stop();
    }
  });

  test('a wait that runs out exits 1 (transient) with one line naming the holder, never 2', async () => {
    const holder = await holdForWriting(60_000);
    try {
      const result = await sql(['SELECT 1', '--wait', '1', '--data-dir', dataDir], { cwd: directory.path });
      assert.equal(result.code, 1);
      const lines = result.stderr.trim().split('\n');
      assert.match(
        lines.at(-1) ?? '',
        /^error: the DuckDB file .*warehouse\.duckdb was still in use by another process \(PID \d+\) after 1 s .*; run again when it is done$/,
      );
    } finally {
      await holder.stop();
    }
  });

  test('a table that does not exist yet says which tables there are, or that a run loads one', async () => {
    const result = await sql(['SELECT * FROM bronze.bnt_crossings_hourly', '--data-dir', dataDir], {
      cwd: directory.path,
    });
    assert.equal(result.code, 1);
    assertOneLine(result.stderr);
    assert.match(result.stderr, /does not exist!.*; the tables in .*warehouse\.duckdb: bronze\.bnt_traffic_hourly$/m);

    const fresh = join(directory.path, 'fresh');
    await mkdir(fresh);
    const empty = await DuckDBInstance.create(join(fresh, 'warehouse.duckdb'));
    empty.closeSync();
    const none = await sql(['SELECT count(*) FROM bronze.bnt_traffic_hourly', '--data-dir', fresh], {
      cwd: directory.path,
    });
    assert.equal(none.code, 1);
    assertOneLine(none.stderr);
    assert.match(none.stderr, /holds no table yet: a run loads one \(npm run pipeline -- run \[--dataset …\]\)$/m);
  });
});

describe('condensed DuckDB messages', () => {
  test('keep what is wrong, drop the statement echo and caret', () => {
    assert.equal(
      condenseDuckDbError(
        'Catalog Error: Table with name nope does not exist!\nDid you mean "pg_enum"?\n\nLINE 1: select * from nope\n                      ^',
      ),
      'Catalog Error: Table with name nope does not exist! Did you mean "pg_enum"?',
    );
  });
});

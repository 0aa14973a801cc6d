import assert from 'node:assert/strict';
import { InputError } from '../../src/common/errors';
import { test } from 'node:test';

import { BNT_HOURLY_CROSSINGS, BNT_HOURLY_TRAFFIC, type DatasetDefinition } from '../../src/pipeline/datasets';
import type { StageLocation, StageStore } from '../../src/pipeline/ports';
import type { DatabricksConnector } from '../../src/warehouse/databricks-driver';
import { DatabricksWarehouse, type DatabricksWarehouseOptions } from '../../src/warehouse/databricks';
import type { StagedWindow } from '../../src/pipeline/ports';

const OPTIONS: DatabricksWarehouseOptions = {
  host: 'adb-1234567890123456.7.azuredatabricks.net',
  httpPath: '/sql/1.0/warehouses/abc123def456',
  auth: { type: 'pat', token: 'dapi-not-a-real-token' },
  catalog: 'main',
  schema: 'bronze',
  format: 'iceberg',
};

const STAGE: StageLocation = { kind: 'azure', accountName: 'mtastage', container: 'stage' };
const WEEK_1: StagedWindow = {
  window: { start: '2024-01-07', stop: '2024-01-14' },
  parts: ['stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl'],
};
const WEEK_2: StagedWindow = {
  window: { start: '2024-01-14', stop: '2024-01-21' },
  parts: [
    'stage/bnt-hourly-traffic/2024-01-14_2024-01-21/part-00000.jsonl',
    'stage/bnt-hourly-traffic/2024-01-14_2024-01-21/part-00001.jsonl',
  ],
};
const EMPTY_WEEK: StagedWindow = { window: { start: '2024-01-21', stop: '2024-01-28' }, parts: [] };

/** A connector that fails the test if anything tries to connect: these tests must touch nothing. */
const NO_CONNECTIONS: DatabricksConnector = {
  connect: () => Promise.reject(new Error('this test must not connect to Databricks')),
};

function warehouse(overrides: Partial<DatabricksWarehouseOptions> = {}): DatabricksWarehouse {
  return new DatabricksWarehouse({ ...OPTIONS, connect: NO_CONNECTIONS, ...overrides });
}

function stageStore(location: StageLocation): StageStore {
  const untouchable = () => Promise.reject(new Error('Databricks reads the stage itself; the store must not be read'));
  return {
    location,
    description: 'test stage',
    createSink: untouchable,
    writeText: untouchable,
    readText: untouchable,
    remove: untouchable,
    deletePrefix: untouchable,
    listFiles: untouchable,
    localFile: untouchable,
    acquireLock: untouchable,
  };
}

const TRAFFIC_COLUMNS =
  '`plaza_id` STRING, `date` DATE, `hour` STRING, `direction` STRING, `vehicles_e_zpass` INT, `vehicles_vtoll` INT';

test('the table is catalog.schema.name from the options, not the dataset definition’s DuckDB schema', () => {
  assert.equal(warehouse().tableName(BNT_HOURLY_TRAFFIC), '`main`.`bronze`.`bnt_traffic_hourly`');
});

test('description names the host and the HTTP path', () => {
  assert.equal(
    warehouse().description,
    'Databricks adb-1234567890123456.7.azuredatabricks.net/sql/1.0/warehouses/abc123def456',
  );
});

test('iceberg: CREATE TABLE IF NOT EXISTS … USING ICEBERG PARTITIONED BY the date column, after the session timeout', () => {
  assert.deepEqual(warehouse().planStatements(BNT_HOURLY_TRAFFIC, [], STAGE), [
    'SET STATEMENT_TIMEOUT = 300',
    `CREATE TABLE IF NOT EXISTS \`main\`.\`bronze\`.\`bnt_traffic_hourly\` (${TRAFFIC_COLUMNS}) USING ICEBERG PARTITIONED BY (\`date\`)`,
  ]);
});

test('delta-uniform: CREATE TABLE IF NOT EXISTS … USING DELTA CLUSTER BY the date column with the UniForm properties', () => {
  assert.deepEqual(
    warehouse({ format: 'delta-uniform', statementTimeoutSeconds: 120 }).planStatements(BNT_HOURLY_TRAFFIC, [], STAGE),
    [
      'SET STATEMENT_TIMEOUT = 120',
      'CREATE TABLE IF NOT EXISTS `main`.`bronze`.`bnt_traffic_hourly` ' +
        '(`plaza_id` STRING, `date` DATE, `hour` STRING, `direction` STRING, `vehicles_e_zpass` INT, `vehicles_vtoll` INT) ' +
        'USING DELTA CLUSTER BY (`date`) ' +
        "TBLPROPERTIES ('delta.enableIcebergCompatV2' = 'true', 'delta.universalFormat.enabledFormats' = 'iceberg')",
    ],
  );
});

test('crossings: timestamps are TIMESTAMP_NTZ and the table is laid out by its date column, not the timestamp window field', () => {
  assert.deepEqual(warehouse().planStatements(BNT_HOURLY_CROSSINGS, [], STAGE), [
    'SET STATEMENT_TIMEOUT = 300',
    'CREATE TABLE IF NOT EXISTS `main`.`bronze`.`bnt_crossings_hourly` (' +
      '`transit_timestamp` TIMESTAMP_NTZ, `date` DATE, `hour` INT, `facility_id` STRING, `facility` STRING, ' +
      '`direction` STRING, `payment_method` STRING, `vehicle_class` INT, `vehicle_class_description` STRING, ' +
      '`vehicle_class_category` STRING, `traffic_count` INT) USING ICEBERG PARTITIONED BY (`date`)',
  ]);
});

test('a dataset with neither a date window field nor a date column gets no partition or cluster clause', () => {
  const events: DatasetDefinition = {
    ...BNT_HOURLY_CROSSINGS,
    fields: BNT_HOURLY_CROSSINGS.fields.filter((field) => field.name !== 'date'),
  };
  const [, iceberg] = warehouse().planStatements(events, [], STAGE);
  const [, delta] = warehouse({ format: 'delta-uniform' }).planStatements(events, [], STAGE);
  assert.match(iceberg ?? '', /\) USING ICEBERG$/);
  assert.match(delta ?? '', /\) USING DELTA TBLPROPERTIES \(/);
});

test('a single staged window loads with one MERGE reading its parts with read_files', () => {
  const statements = warehouse().planStatements(BNT_HOURLY_TRAFFIC, [WEEK_1], STAGE);
  assert.equal(statements.length, 4);
  assert.deepEqual(statements.slice(2, 3), ['SET STATEMENT_TIMEOUT = 1800']);
  assert.equal(
    statements[3],
    [
      'MERGE INTO `main`.`bronze`.`bnt_traffic_hourly` AS target',
      'USING (',
      '  SELECT `plaza_id`, `date`, `hour`, `direction`, `vehicles_e_zpass`, `vehicles_vtoll`',
      '  FROM (',
      '    SELECT `plaza_id`, `date`, `hour`, `direction`, `vehicles_e_zpass`, `vehicles_vtoll`, 0 AS _window_rank',
      "    FROM read_files('abfss://stage@mtastage.dfs.core.windows.net/stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl', " +
        "format => 'json', schema => '`plaza_id` STRING, `date` DATE, `hour` STRING, `direction` STRING, `vehicles_e_zpass` INT, `vehicles_vtoll` INT', " +
        "mode => 'FAILFAST')",
      "    WHERE `date` >= DATE '2024-01-07' AND `date` < DATE '2024-01-14'",
      '  ) AS staged',
      '  QUALIFY ROW_NUMBER() OVER (PARTITION BY `plaza_id`, `date`, `hour`, `direction` ORDER BY _window_rank DESC) = 1',
      ') AS source',
      'ON target.`plaza_id` = source.`plaza_id` AND target.`date` = source.`date` AND target.`hour` = source.`hour` AND target.`direction` = source.`direction` ' +
        "AND (target.`date` >= DATE '2024-01-07' AND target.`date` < DATE '2024-01-14')",
      'WHEN MATCHED AND (target.`vehicles_e_zpass` IS DISTINCT FROM source.`vehicles_e_zpass` OR target.`vehicles_vtoll` IS DISTINCT FROM source.`vehicles_vtoll`) THEN',
      '  UPDATE SET `vehicles_e_zpass` = source.`vehicles_e_zpass`, `vehicles_vtoll` = source.`vehicles_vtoll`',
      'WHEN NOT MATCHED THEN',
      '  INSERT (`plaza_id`, `date`, `hour`, `direction`, `vehicles_e_zpass`, `vehicles_vtoll`) ' +
        'VALUES (source.`plaza_id`, source.`date`, source.`hour`, source.`direction`, source.`vehicles_e_zpass`, source.`vehicles_vtoll`)',
    ].join('\n'),
  );
});

test('two staged windows load in one MERGE, each filtered to its own window, the later window ranked higher', () => {
  const statements = warehouse().planStatements(BNT_HOURLY_TRAFFIC, [WEEK_1, WEEK_2], STAGE);
  // Exactly the manifest's parts: one file by name, several as an alternation, never a glob over the folder.
  const readFiles = (window: string) =>
    `read_files('abfss://stage@mtastage.dfs.core.windows.net/stage/bnt-hourly-traffic/${window}/${
      window === '2024-01-07_2024-01-14' ? 'part-00000.jsonl' : '{part-00000.jsonl,part-00001.jsonl}'
    }', ` + `format => 'json', schema => '${TRAFFIC_COLUMNS}', mode => 'FAILFAST')`;
  assert.equal(
    statements[3],
    [
      'MERGE INTO `main`.`bronze`.`bnt_traffic_hourly` AS target',
      'USING (',
      '  SELECT `plaza_id`, `date`, `hour`, `direction`, `vehicles_e_zpass`, `vehicles_vtoll`',
      '  FROM (',
      '    SELECT `plaza_id`, `date`, `hour`, `direction`, `vehicles_e_zpass`, `vehicles_vtoll`, 0 AS _window_rank',
      `    FROM ${readFiles('2024-01-07_2024-01-14')}`,
      "    WHERE `date` >= DATE '2024-01-07' AND `date` < DATE '2024-01-14'",
      '    UNION ALL',
      '    SELECT `plaza_id`, `date`, `hour`, `direction`, `vehicles_e_zpass`, `vehicles_vtoll`, 1 AS _window_rank',
      `    FROM ${readFiles('2024-01-14_2024-01-21')}`,
      "    WHERE `date` >= DATE '2024-01-14' AND `date` < DATE '2024-01-21'",
      '  ) AS staged',
      '  QUALIFY ROW_NUMBER() OVER (PARTITION BY `plaza_id`, `date`, `hour`, `direction` ORDER BY _window_rank DESC) = 1',
      ') AS source',
      'ON target.`plaza_id` = source.`plaza_id` AND target.`date` = source.`date` AND target.`hour` = source.`hour` AND target.`direction` = source.`direction` ' +
        "AND (target.`date` >= DATE '2024-01-07' AND target.`date` < DATE '2024-01-21')",
      'WHEN MATCHED AND (target.`vehicles_e_zpass` IS DISTINCT FROM source.`vehicles_e_zpass` OR target.`vehicles_vtoll` IS DISTINCT FROM source.`vehicles_vtoll`) THEN',
      '  UPDATE SET `vehicles_e_zpass` = source.`vehicles_e_zpass`, `vehicles_vtoll` = source.`vehicles_vtoll`',
      'WHEN NOT MATCHED THEN',
      '  INSERT (`plaza_id`, `date`, `hour`, `direction`, `vehicles_e_zpass`, `vehicles_vtoll`) ' +
        'VALUES (source.`plaza_id`, source.`date`, source.`hour`, source.`direction`, source.`vehicles_e_zpass`, source.`vehicles_vtoll`)',
    ].join('\n'),
  );
});

test('the crossings MERGE reads timestamps as TIMESTAMP_NTZ and filters the window on transit_timestamp with zone-less literals', () => {
  const window: StagedWindow = {
    window: WEEK_1.window,
    parts: ['stage/bnt-hourly-crossings/2024-01-07_2024-01-14/part-00000.jsonl'],
  };
  const merge = warehouse().planStatements(BNT_HOURLY_CROSSINGS, [window], STAGE)[3] ?? '';
  assert.ok(merge.includes("schema => '`transit_timestamp` TIMESTAMP_NTZ, `date` DATE, `hour` INT,"));
  assert.ok(merge.includes('/stage/bnt-hourly-crossings/2024-01-07_2024-01-14/part-00000.jsonl'));
  assert.ok(
    merge.includes(
      "WHERE `transit_timestamp` >= TIMESTAMP_NTZ '2024-01-07 00:00:00' AND `transit_timestamp` < TIMESTAMP_NTZ '2024-01-14 00:00:00'",
    ),
  );
  assert.ok(
    merge.includes(
      "AND (target.`transit_timestamp` >= TIMESTAMP_NTZ '2024-01-07 00:00:00' AND target.`transit_timestamp` < TIMESTAMP_NTZ '2024-01-14 00:00:00')",
    ),
    'the target side is restricted to the window too, since transit_timestamp is part of the key',
  );
});

test('windows without staged parts are left out of the MERGE', () => {
  const statements = warehouse().planStatements(BNT_HOURLY_TRAFFIC, [WEEK_1, EMPTY_WEEK, WEEK_2], STAGE);
  const merge = statements[3] ?? '';
  assert.equal(merge.match(/read_files\(/g)?.length, 2);
  assert.ok(!merge.includes('2024-01-21_2024-01-28'));
  assert.ok(merge.includes('1 AS _window_rank') && !merge.includes('2 AS _window_rank'));
});

test('when no window has parts there is no MERGE, and loadWindows runs nothing', async () => {
  const plan = warehouse().planStatements(BNT_HOURLY_TRAFFIC, [EMPTY_WEEK], STAGE);
  assert.equal(plan.length, 2);
  assert.ok(plan.every((statement) => !statement.startsWith('MERGE')));
  await warehouse().loadWindows(BNT_HOURLY_TRAFFIC, [EMPTY_WEEK], stageStore(STAGE));
});

test('an emulator endpoint still plans the abfss URL of the account and container', () => {
  const emulated: StageLocation = { ...STAGE, endpoint: 'http://127.0.0.1:10000/mtastage' };
  const merge = warehouse().planStatements(BNT_HOURLY_TRAFFIC, [WEEK_1], emulated)[3] ?? '';
  assert.ok(
    merge.includes(
      "read_files('abfss://stage@mtastage.dfs.core.windows.net/stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl'",
    ),
  );
  assert.ok(!merge.includes('127.0.0.1'));
});

test('a local stage is rejected: Databricks reads staged files from ADLS', async () => {
  const local: StageLocation = { kind: 'local', root: '/tmp/stage' };
  assert.throws(
    () => warehouse().planStatements(BNT_HOURLY_TRAFFIC, [WEEK_1], local),
    /Databricks reads staged files from ADLS: use the azure stage/,
  );
  await assert.rejects(warehouse().loadWindows(BNT_HOURLY_TRAFFIC, [WEEK_1], stageStore(local)), /use the azure stage/);
});

test('catalog and schema that are not plain identifiers are rejected, naming the field, before anything runs', () => {
  assert.throws(
    () => warehouse({ catalog: 'main; DROP TABLE x' }),
    (error: Error) => {
      assert.match(error.message, /^catalog "main; DROP TABLE x" is not a plain SQL identifier/);
      assert.equal((error as Error & { field?: string }).field, 'catalog');
      return true;
    },
  );
  assert.throws(
    () => warehouse({ schema: 'bronze`; DROP TABLE x; --' }),
    /schema "bronze`; DROP TABLE x; --" is not a plain SQL identifier/,
  );
  assert.throws(() => warehouse({ schema: 'a`b' }), /schema "a`b" is not a plain SQL identifier/);
});

test('a table or column name that is not a plain identifier is rejected when planning', () => {
  const badTable: DatasetDefinition = { ...BNT_HOURLY_TRAFFIC, table: { schema: 'bronze', name: 'x`; DROP TABLE y' } };
  assert.throws(
    () => warehouse().planStatements(badTable, [], STAGE),
    /table "x`; DROP TABLE y" is not a plain SQL identifier/,
  );
  const badColumn: DatasetDefinition = {
    ...BNT_HOURLY_TRAFFIC,
    fields: [...BNT_HOURLY_TRAFFIC.fields, { name: "a' b", type: 'string' }],
  };
  assert.throws(
    () => warehouse().planStatements(badColumn, [WEEK_1], STAGE),
    /column "a' b" is not a plain SQL identifier/,
  );
});

test('storage account and container names that could bend the abfss URL are rejected, naming the field', () => {
  const cases: [StageLocation, RegExp][] = [
    [
      { kind: 'azure', accountName: 'MtaStage', container: 'stage' },
      /stage account name "MtaStage" is not a storage account name/,
    ],
    [
      { kind: 'azure', accountName: 'evil.example.com/x', container: 'stage' },
      /stage account name "evil\.example\.com\/x"/,
    ],
    [{ kind: 'azure', accountName: 'ab', container: 'stage' }, /stage account name "ab"/],
    [
      { kind: 'azure', accountName: 'mtastage', container: "stage'--" },
      /stage container "stage'--" is not a container name/,
    ],
    [{ kind: 'azure', accountName: 'mtastage', container: 'st--age' }, /stage container "st--age"/],
    [{ kind: 'azure', accountName: 'mtastage', container: 'stage@other' }, /stage container "stage@other"/],
    [{ kind: 'azure', accountName: 'mtastage', container: '-stage' }, /stage container "-stage"/],
  ];
  for (const [stage, expected] of cases) {
    assert.throws(() => warehouse().planStatements(BNT_HOURLY_TRAFFIC, [WEEK_1], stage), expected);
  }
});

test('a window date that is not YYYY-MM-DD never reaches the abfss URL', () => {
  const odd: StagedWindow = { window: { start: '2024-01-07/../../x', stop: '2024-01-14' }, parts: ['p'] };
  assert.throws(() => warehouse().planStatements(BNT_HOURLY_TRAFFIC, [odd], STAGE), /is not a YYYY-MM-DD date/);
});

test('host must be a host name only and httpPath a warehouse or cluster path; the error names the field', () => {
  const invalid: [Partial<DatabricksWarehouseOptions>, RegExp][] = [
    [
      { host: 'https://adb-1.2.azuredatabricks.net' },
      /host "https:\/\/adb-1\.2\.azuredatabricks\.net" must be the host name only, without the scheme/,
    ],
    [{ host: 'adb-1.2.azuredatabricks.net/sql' }, /host "adb-1\.2\.azuredatabricks\.net\/sql" is not a host name/],
    [{ host: 'adb-1.2.azuredatabricks.net:443' }, /host /],
    [{ host: '' }, /host "" is not a host name/],
    [
      { httpPath: 'sql/1.0/warehouses/abc' },
      /httpPath "sql\/1\.0\/warehouses\/abc" must be \/sql\/1\.0\/warehouses\/<warehouse id>/,
    ],
    [{ httpPath: '/sql/1.0/warehouses/abc/../x' }, /httpPath /],
    [{ httpPath: '/sql/1.0/endpoints/abc' }, /httpPath /],
    [{ statementTimeoutSeconds: 0 }, /statementTimeoutSeconds 0 must be a positive whole number/],
    [{ auth: { type: 'pat', token: ' ' } }, /auth\.token is empty/],
    [{ auth: { type: 'basic' } as never }, /auth\.type "basic" must be "entra" or "pat"/],
    [{ auth: { type: 'entra', credential: {} } as never }, /auth\.credential must be a token credential/],
    [{ format: 'parquet' as never }, /format "parquet" must be "iceberg" or "delta-uniform"/],
    [
      { retry: { attempts: 0, baseDelayMs: 1, maxDelayMs: 2 } },
      /retry\.attempts 0 must be a whole number of at least 1/,
    ],
    [{ retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 2 } }, /maxDelayMs at least baseDelayMs/],
  ];
  for (const [overrides, expected] of invalid) {
    assert.throws(
      () => warehouse(overrides),
      (error: Error) => error instanceof InputError && expected.test(error.message),
      JSON.stringify(overrides),
    );
  }
  assert.doesNotThrow(() => warehouse({ httpPath: '/sql/protocolv1/o/1234567890123456/0123-456789-abcdefgh' }));
});

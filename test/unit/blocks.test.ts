import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BLOCK_TYPES,
  type BlockType,
  DEFAULT_BLOCK_NAMES,
  blockJsonSchema,
  blockNames,
  checkBlockName,
  isBlockType,
  maskSecrets,
  validateBlock,
} from '../../src/blocks/types.js';
import { InputError } from '../../src/common/errors.js';

const VALID: { [T in BlockType]: unknown[] } = {
  'azure-container': [
    { accountName: 'mtademostage', container: 'bnt-stage' },
    { accountName: 'devstoreaccount1', container: 'abc', endpoint: 'http://127.0.0.1:10000/devstoreaccount1' },
    { accountName: 'abc', container: 'a1-b2-c3', endpoint: 'https://localhost:10000' },
  ],
  'lakehouse-table': [
    { catalog: 'main', schema: 'bronze', format: 'iceberg' },
    { catalog: '_Cat_1', schema: 'b'.repeat(128), format: 'delta-uniform' },
  ],
  'databricks-warehouse': [
    {
      host: 'adb-1234567890123456.7.azuredatabricks.net',
      httpPath: '/sql/1.0/warehouses/abc123def456',
      auth: { type: 'entra' },
    },
    {
      host: 'adb-1234567890123456.7.azuredatabricks.net',
      httpPath: '/sql/protocolv1/o/1234567890123456/0123-456789-abcdefgh',
      auth: { type: 'pat', token: 'dapi0123456789abcdef' },
    },
  ],
  'socrata-source': [{}, { appToken: 'AbCdEf123456' }],
};

const BASE: { [T in BlockType]: Record<string, unknown> } = {
  'azure-container': { accountName: 'mtademostage', container: 'bnt-stage' },
  'lakehouse-table': { catalog: 'main', schema: 'bronze', format: 'iceberg' },
  'databricks-warehouse': {
    host: 'adb-1.2.azuredatabricks.net',
    httpPath: '/sql/1.0/warehouses/abc',
    auth: { type: 'entra' },
  },
  'socrata-source': {},
};

/** The InputError `validateBlock` throws for `value`, failing the test if it accepts it. */
function refusal(type: BlockType, value: unknown): InputError {
  try {
    validateBlock(type, value);
  } catch (error) {
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    return error;
  }
  assert.fail(`${type} accepted ${JSON.stringify(value)}`);
}

const INJECTION = 'main; DROP TABLE x';

/** Per identifier field: values its pattern must refuse. */
const BAD_IDENTIFIERS: { type: BlockType; field: string; values: string[] }[] = [
  {
    type: 'azure-container',
    field: 'accountName',
    values: [INJECTION, 'MtaDemo', 'ab', 'a'.repeat(25), 'mta-demo', 'mta.blob.core.windows.net', ''],
  },
  {
    type: 'azure-container',
    field: 'container',
    values: [INJECTION, 'a--b', '-abc', 'abc-', 'Stage', 'ab', 'a'.repeat(64), 'a/b', 'stage?sig=x'],
  },
  {
    type: 'lakehouse-table',
    field: 'catalog',
    values: [INJECTION, '1main', 'main.bronze', '`main`', 'ma in', 'a'.repeat(129), ''],
  },
  { type: 'lakehouse-table', field: 'schema', values: [INJECTION, 'bronze--', 'bron-ze', "bronze'", 'bronze\n'] },
  {
    type: 'databricks-warehouse',
    field: 'host',
    values: [
      INJECTION,
      'https://adb-1.2.azuredatabricks.net',
      'adb-1.2.azuredatabricks.net/sql',
      'adb-1.2.azuredatabricks.net:443',
      'user@adb-1.2.azuredatabricks.net',
      '-adb.azuredatabricks.net',
      'adb..azuredatabricks.net',
      '',
    ],
  },
  {
    type: 'databricks-warehouse',
    field: 'httpPath',
    values: [
      INJECTION,
      'sql/1.0/warehouses/abc',
      '/sql/1.0/warehouses/abc/../x',
      '/sql/1.0/warehouses/abc?o=1',
      '/sql/1.0/warehouses/',
      '/sql/protocolv1/o/abc/0123-456',
      '/sql/1.0/endpoints/abc',
    ],
  },
];

describe('block schemas', () => {
  for (const type of BLOCK_TYPES) {
    it(`accepts valid ${type} documents and returns them unchanged`, () => {
      for (const document of VALID[type]) assert.deepEqual(validateBlock(type, document), document);
    });
  }

  for (const { type, field, values } of BAD_IDENTIFIERS) {
    it(`refuses bad ${type} ${field} values, naming the field and the value`, () => {
      for (const value of values) {
        const error = refusal(type, { ...BASE[type], [field]: value });
        assert.equal(error.field, field);
        // Long values are cut short in messages; the start always shows.
        assert.ok(error.message.startsWith(`${field}: ${JSON.stringify(value).slice(0, 40)}`), error.message);
        assert.match(error.message, / is not /);
      }
    });
  }

  it('refuses an emulator endpoint that is not a plain http(s) URL, without repeating it', () => {
    for (const endpoint of [
      'ftp://127.0.0.1:10000/devstoreaccount1',
      'http://127.0.0.1:10000/devstoreaccount1?sv=2024&sig=SECRETSIG',
      'http://user:SECRETPW@127.0.0.1:10000/',
      'http://127.0.0.1:10000/#SECRETFRAG',
      '127.0.0.1:10000',
    ]) {
      const error = refusal('azure-container', { ...BASE['azure-container'], endpoint });
      assert.equal(error.field, 'endpoint');
      assert.match(error.message, /^endpoint: must be an http\(s\) URL/);
      assert.doesNotMatch(error.message, /SECRET/);
    }
  });

  it('refuses unknown fields at the top level and inside auth, naming their path', () => {
    const top = refusal('lakehouse-table', { ...BASE['lakehouse-table'], table: 'x' });
    assert.equal(top.field, 'table');
    assert.match(top.message, /^table: unknown field/);

    // A token on an entra auth is a mistake worth refusing: it would be stored but never used.
    const nested = refusal('databricks-warehouse', {
      ...BASE['databricks-warehouse'],
      auth: { type: 'entra', token: 'SECRETTOKEN' },
    });
    assert.equal(nested.field, 'auth.token');
    assert.match(nested.message, /^auth\.token: unknown field/);
    assert.doesNotMatch(nested.message, /SECRETTOKEN/);

    assert.match(refusal('socrata-source', { apptoken: 'x' }).message, /^apptoken: unknown field/);
  });

  it('refuses an app token longer than any real one, without repeating it', () => {
    const refused = refusal('socrata-source', { appToken: `SECRET${'x'.repeat(300)}` });
    assert.equal(refused.field, 'appToken');
    assert.match(refused.message, /^appToken: is longer than any Socrata app token/);
    assert.ok(!refused.message.includes('SECRET'));
  });

  it('names a missing field, a wrong JSON type and a wrong enum value by path', () => {
    const missing = refusal('databricks-warehouse', { ...BASE['databricks-warehouse'], auth: { type: 'pat' } });
    assert.equal(missing.message, 'auth.token: is required');
    assert.equal(missing.field, 'auth.token');

    assert.equal(refusal('lakehouse-table', { catalog: 'main', format: 'iceberg' }).message, 'schema: is required');
    assert.equal(refusal('socrata-source', { appToken: 42 }).message, 'appToken: must be a string (got a number)');
    assert.equal(refusal('socrata-source', []).message, 'document: must be an object (got an array)');
    assert.equal(
      refusal('lakehouse-table', { ...BASE['lakehouse-table'], format: 'parquet' }).message,
      'format: must be one of "iceberg", "delta-uniform" (got "parquet")',
    );
    assert.equal(
      refusal('databricks-warehouse', { ...BASE['databricks-warehouse'], auth: { type: 'password' } }).message,
      'auth.type: must be "entra" or "pat"',
    );
  });

  it('reports every problem in one message, each with its path', () => {
    const error = refusal('azure-container', { accountName: 'BAD', container: 'a--b', extra: 1 });
    assert.equal(error.field, 'accountName');
    const lines = error.message.split('; ').map((line) => line.split(':')[0]);
    assert.deepEqual(lines, ['accountName', 'container', 'extra']);
  });

  it('never repeats a refused secret value', () => {
    for (const token of ['has space SECRETVALUE', 'SECRETVALUE\n', '']) {
      const warehouse = refusal('databricks-warehouse', {
        ...BASE['databricks-warehouse'],
        auth: { type: 'pat', token },
      });
      assert.equal(warehouse.field, 'auth.token');
      assert.doesNotMatch(warehouse.message, /SECRETVALUE/);
      const socrata = refusal('socrata-source', { appToken: token });
      assert.equal(socrata.field, 'appToken');
      assert.doesNotMatch(socrata.message, /SECRETVALUE/);
    }
  });

  it('publishes JSON Schemas that refuse unknown fields and carry the identifier patterns', () => {
    const schema = blockJsonSchema('lakehouse-table');
    assert.equal(schema['additionalProperties'], false);
    assert.deepEqual(schema['required'], ['catalog', 'schema', 'format']);
    const catalog = (schema['properties'] as Record<string, { pattern?: string }>)['catalog'];
    assert.ok(catalog?.pattern !== undefined);
    assert.ok(new RegExp(catalog.pattern).test('main'));
    assert.ok(!new RegExp(catalog.pattern).test(INJECTION));
    for (const type of BLOCK_TYPES) assert.equal(blockJsonSchema(type)['title'], type);
  });

  it('lists exactly the four block types', () => {
    assert.deepEqual([...BLOCK_TYPES].sort(), [
      'azure-container',
      'databricks-warehouse',
      'lakehouse-table',
      'socrata-source',
    ]);
    assert.ok(isBlockType('socrata-source'));
    assert.ok(!isBlockType('toString'));
    assert.ok(!isBlockType(undefined));
  });
});

describe('maskSecrets', () => {
  it('replaces the warehouse token and the Socrata app token, leaving the input untouched', () => {
    const warehouse = {
      host: 'adb-1.2.azuredatabricks.net',
      httpPath: '/sql/1.0/warehouses/abc',
      auth: { type: 'pat' as const, token: 'dapiSECRET' },
    };
    assert.deepEqual(maskSecrets('databricks-warehouse', warehouse), {
      ...warehouse,
      auth: { type: 'pat', token: '***' },
    });
    assert.equal(warehouse.auth.token, 'dapiSECRET');
    assert.deepEqual(maskSecrets('socrata-source', { appToken: 'SECRET' }), { appToken: '***' });
  });

  it('leaves documents without secrets (or without the optional secret) as they are', () => {
    assert.deepEqual(maskSecrets('socrata-source', {}), {});
    const entra = { host: 'h.example', httpPath: '/sql/1.0/warehouses/abc', auth: { type: 'entra' as const } };
    assert.deepEqual(maskSecrets('databricks-warehouse', entra), entra);
    assert.deepEqual(maskSecrets('lakehouse-table', BASE['lakehouse-table']), BASE['lakehouse-table']);
  });
});

describe('block names', () => {
  it("defaults to the original flow's names", () => {
    assert.deepEqual(blockNames({}), {
      'azure-container': 'mtademo-container',
      'lakehouse-table': 'mtademo-iceberg',
      'databricks-warehouse': 'mtademo-databricks',
      'socrata-source': 'mtademo-socrata',
    });
    assert.deepEqual(blockNames({}), DEFAULT_BLOCK_NAMES);
  });

  it('takes each name from its setting, treating an empty setting as unset', () => {
    const names = blockNames({
      BLOCK_AZURE_CONTAINER: 'prod-container',
      BLOCK_LAKEHOUSE_TABLE: 'prod-delta',
      BLOCK_DATABRICKS_WAREHOUSE: '',
      BLOCK_SOCRATA_SOURCE: 'Socrata-2',
    });
    assert.deepEqual(names, {
      'azure-container': 'prod-container',
      'lakehouse-table': 'prod-delta',
      'databricks-warehouse': 'mtademo-databricks',
      'socrata-source': 'Socrata-2',
    });
  });

  it('refuses a setting that is not a Key Vault secret name, naming the setting', () => {
    for (const bad of ['prod_container', 'a b', 'a'.repeat(128), '../x']) {
      assert.throws(
        () => blockNames({ BLOCK_AZURE_CONTAINER: bad }),
        (error: unknown) =>
          error instanceof InputError &&
          error.field === 'BLOCK_AZURE_CONTAINER' &&
          error.message.startsWith('BLOCK_AZURE_CONTAINER "'),
      );
    }
    assert.equal(checkBlockName('a'.repeat(127), 'NAME'), 'a'.repeat(127));
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SecretClient } from '@azure/keyvault-secrets';
import { BLOCK_TYPE_TAG, KeyVaultBlockStore } from '../../src/blocks/keyvault.js';
import { BlockReader, readBlock } from '../../src/blocks/reader.js';
import { type BlockStore, LocalBlockStore } from '../../src/blocks/store.js';
import type { DatabricksWarehouseBlock, LakehouseTableBlock } from '../../src/blocks/types.js';
import { InputError } from '../../src/common/errors.js';
import { type KeyVaultStandIn, secretClientOptions, startKeyVaultStandIn } from '../support/keyvault-standin.js';

const TABLE: LakehouseTableBlock = { catalog: 'main', schema: 'bronze', format: 'iceberg' };
const WAREHOUSE: DatabricksWarehouseBlock = {
  host: 'adb-1234567890123456.7.azuredatabricks.net',
  httpPath: '/sql/1.0/warehouses/abc123',
  auth: { type: 'pat', token: 'dapiSECRETTOKEN' },
};

async function rejection(action: () => Promise<unknown>): Promise<Error> {
  try {
    await action();
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected the call to reject');
}

/** The behaviour both stores share, run against each. */
function storeContract(name: string, open: () => BlockStore) {
  describe(`${name}: the BlockStore contract`, () => {
    let store: BlockStore;
    beforeEach(() => {
      store = open();
    });

    it('round-trips put, get and list, keeping each block type', async () => {
      await store.put('mtademo-iceberg', 'lakehouse-table', TABLE);
      await store.put('mtademo-databricks', 'databricks-warehouse', WAREHOUSE);
      assert.deepEqual(await store.get('mtademo-iceberg'), { type: 'lakehouse-table', document: TABLE });
      assert.deepEqual(await store.get('mtademo-databricks'), { type: 'databricks-warehouse', document: WAREHOUSE });
      assert.deepEqual(await store.list(), [
        { name: 'mtademo-databricks', type: 'databricks-warehouse' },
        { name: 'mtademo-iceberg', type: 'lakehouse-table' },
      ]);
    });

    it('replaces a block on a second put', async () => {
      await store.put('mtademo-iceberg', 'lakehouse-table', TABLE);
      await store.put('mtademo-iceberg', 'lakehouse-table', { ...TABLE, format: 'delta-uniform' });
      assert.deepEqual(await store.get('mtademo-iceberg'), {
        type: 'lakehouse-table',
        document: { ...TABLE, format: 'delta-uniform' },
      });
    });

    it('answers undefined for a block that does not exist', async () => {
      assert.equal(await store.get('no-such-block'), undefined);
      assert.deepEqual(await store.list(), []);
    });

    it('refuses to write an invalid document or name, and writes nothing', async () => {
      const bad = { ...TABLE, catalog: 'main; DROP TABLE x' };
      const error = await rejection(() => store.put('mtademo-iceberg', 'lakehouse-table', bad));
      assert.ok(error instanceof InputError);
      assert.match(error.message, /^catalog: "main; DROP TABLE x" is not /);
      await assert.rejects(
        store.put('bad_name', 'lakehouse-table', TABLE),
        /block name "bad_name" is not a valid block name/,
      );
      assert.deepEqual(await store.list(), []);
    });
  });
}

describe('local block store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blocks-local-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  storeContract('local file', () => new LocalBlockStore(join(dir, 'data')));

  it('creates <data-dir>/blocks.json on first put, owner-only, in the documented shape, leaving no temp file', async () => {
    const store = new LocalBlockStore(join(dir, 'data'));
    await store.list();
    await assert.rejects(stat(join(dir, 'data')), { code: 'ENOENT' });
    await store.put('mtademo-iceberg', 'lakehouse-table', TABLE);
    const file = join(dir, 'data', 'blocks.json');
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), {
      'mtademo-iceberg': { type: 'lakehouse-table', document: TABLE },
    });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(dir, 'data')), ['blocks.json']);
  });

  it('keeps every block when puts from one process overlap', async () => {
    const store = new LocalBlockStore(dir);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.put(`block-${i}`, 'socrata-source', { appToken: `token${i}` })),
    );
    assert.equal((await store.list()).length, 10);
  });

  it('lists a block of an unknown type with an undefined type and refuses to get it', async () => {
    await writeFile(join(dir, 'blocks.json'), JSON.stringify({ future: { type: 'kafka-topic', document: {} } }));
    const store = new LocalBlockStore(dir);
    assert.deepEqual(await store.list(), [{ name: 'future', type: undefined }]);
    await assert.rejects(
      store.get('future'),
      /block "future" in local file .* has block type "kafka-topic", which this version does not know/,
    );
  });

  it('reports a corrupt file without quoting it', async () => {
    await writeFile(
      join(dir, 'blocks.json'),
      '{"x": {"type": "socrata-source", "document": {"appToken": SECRETTOKEN}}}',
    );
    const error = await rejection(() => new LocalBlockStore(dir).get('x'));
    assert.match(error.message, /blocks\.json is not valid JSON/);
    assert.doesNotMatch(error.message, /SECRETTOKEN/);

    await writeFile(join(dir, 'blocks.json'), '{"x": {"document": {}}}');
    assert.match(
      (await rejection(() => new LocalBlockStore(dir).list())).message,
      /is not a blocks file .*problem at x\.type/,
    );
  });

  it('does not treat Object.prototype members as blocks', async () => {
    await new LocalBlockStore(dir).put('other', 'socrata-source', {});
    assert.equal(await new LocalBlockStore(dir).get('constructor'), undefined);
  });
});

describe('Key Vault block store through the real SecretClient', () => {
  let standIn: KeyVaultStandIn;
  before(async () => {
    standIn = await startKeyVaultStandIn();
  });
  after(() => standIn.close());
  beforeEach(() => standIn.secrets.clear());

  const open = () => new KeyVaultBlockStore(standIn.vaultUrl, standIn.credential, secretClientOptions(standIn));
  storeContract('Key Vault', open);

  it('stores the document JSON as the secret value, with the type tag and a JSON content type', async () => {
    await open().put('mtademo-databricks', 'databricks-warehouse', WAREHOUSE);
    const raw = await new SecretClient(standIn.vaultUrl, standIn.credential, secretClientOptions(standIn)).getSecret(
      'mtademo-databricks',
    );
    assert.deepEqual(JSON.parse(raw.value ?? ''), WAREHOUSE);
    assert.deepEqual(raw.properties.tags, { [BLOCK_TYPE_TAG]: 'databricks-warehouse' });
    assert.equal(raw.properties.contentType, 'application/json');
  });

  it('leaves untagged secrets out of the list and refuses to read one as a block', async () => {
    const store = open();
    standIn.secrets.set('storage-connection-string', 'AccountKey=SECRET');
    await store.put('mtademo-socrata', 'socrata-source', {});
    assert.deepEqual(await store.list(), [{ name: 'mtademo-socrata', type: 'socrata-source' }]);
    const error = await rejection(() => store.get('storage-connection-string'));
    assert.match(
      error.message,
      /block "storage-connection-string" in Key Vault https:\/\/127\.0\.0\.1:\d+ is not a block/,
    );
    assert.doesNotMatch(error.message, /SECRET/);
  });

  it('reports a tagged secret whose value is not JSON without quoting the value', async () => {
    const client = new SecretClient(standIn.vaultUrl, standIn.credential, secretClientOptions(standIn));
    await client.setSecret('mtademo-socrata', 'SECRETTOKEN', { tags: { [BLOCK_TYPE_TAG]: 'socrata-source' } });
    const error = await rejection(() => open().get('mtademo-socrata'));
    assert.match(error.message, /block "mtademo-socrata" in Key Vault .* is not valid JSON/);
    assert.doesNotMatch(error.message, /SECRETTOKEN/);
  });

  it('turns a service failure into an error naming the vault and status, without the document', async () => {
    // A token the vault does not accept: every request ends in 401.
    const wrongCredential = {
      getToken: async () => ({ token: 'not-the-standin-token', expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const store = new KeyVaultBlockStore(standIn.vaultUrl, wrongCredential, secretClientOptions(standIn));
    const error = await rejection(() => store.put('mtademo-databricks', 'databricks-warehouse', WAREHOUSE));
    assert.match(
      error.message,
      /^Key Vault https:\/\/127\.0\.0\.1:\d+: could not write block "mtademo-databricks" \(HTTP 401\): /,
    );
    assert.doesNotMatch(error.message, /SECRETTOKEN/);
    assert.equal(error.cause, undefined);
    assert.equal(standIn.secrets.has('mtademo-databricks'), false);
  });
});

describe('reading blocks', () => {
  let standIn: KeyVaultStandIn;
  let store: KeyVaultBlockStore;
  let requestsBefore = 0;
  before(async () => {
    standIn = await startKeyVaultStandIn();
  });
  after(() => standIn.close());
  beforeEach(() => {
    standIn.secrets.clear();
    requestsBefore = standIn.requests.length;
    store = new KeyVaultBlockStore(standIn.vaultUrl, standIn.credential, secretClientOptions(standIn));
  });

  /** Reads of one secret the stand-in has answered in this test. */
  const reads = (name: string) =>
    standIn.requests
      .slice(requestsBefore)
      .filter((r) => r.method === 'GET' && r.path.startsWith(`/secrets/${name}/`) && r.authorized).length;

  it('returns the typed document', async () => {
    await store.put('mtademo-iceberg', 'lakehouse-table', TABLE);
    const table: LakehouseTableBlock = await readBlock(store, 'mtademo-iceberg', 'lakehouse-table');
    assert.deepEqual(table, TABLE);
  });

  it('refuses a block whose stored type is not the expected one, naming the block', async () => {
    await store.put('mtademo-iceberg', 'databricks-warehouse', WAREHOUSE);
    const error = await rejection(() => readBlock(store, 'mtademo-iceberg', 'lakehouse-table'));
    assert.match(
      error.message,
      /^block "mtademo-iceberg" in Key Vault .* is a databricks-warehouse block, but a lakehouse-table block is needed here$/,
    );
  });

  it('refuses a stored document that fails its schema, naming the field but not the secret', async () => {
    // Written around the store's own checks, as a hand edit in the portal would be.
    const client = new SecretClient(standIn.vaultUrl, standIn.credential, secretClientOptions(standIn));
    await client.setSecret('mtademo-databricks', JSON.stringify({ ...WAREHOUSE, host: 'https://evil.example/x' }), {
      tags: { [BLOCK_TYPE_TAG]: 'databricks-warehouse' },
    });
    const error = await rejection(() => readBlock(store, 'mtademo-databricks', 'databricks-warehouse'));
    assert.match(
      error.message,
      /^block "mtademo-databricks" in Key Vault .* is not a valid databricks-warehouse block: host: "https:\/\/evil\.example\/x" is not a bare host name/,
    );
    assert.doesNotMatch(error.message, /SECRETTOKEN/);
  });

  it('says how to create a block that does not exist', async () => {
    const error = await rejection(() => readBlock(store, 'mtademo-socrata', 'socrata-source'));
    assert.match(
      error.message,
      /block "mtademo-socrata" in Key Vault .* does not exist; create it with: npm run blocks -- put mtademo-socrata --type socrata-source/,
    );
  });

  it('serves a cached block within the TTL and fetches it again after', async () => {
    await store.put('mtademo-iceberg', 'lakehouse-table', TABLE);
    let now = 1_000_000;
    const reader = new BlockReader(store, { ttlMs: 60_000, now: () => now });

    assert.deepEqual(await reader.read('mtademo-iceberg', 'lakehouse-table'), TABLE);
    assert.equal(reads('mtademo-iceberg'), 1);

    await store.put('mtademo-iceberg', 'lakehouse-table', { ...TABLE, format: 'delta-uniform' });
    now += 59_999;
    assert.deepEqual(
      await reader.read('mtademo-iceberg', 'lakehouse-table'),
      TABLE,
      'within the TTL: the cached block',
    );
    assert.equal(reads('mtademo-iceberg'), 1);

    now += 1;
    assert.deepEqual(await reader.read('mtademo-iceberg', 'lakehouse-table'), { ...TABLE, format: 'delta-uniform' });
    assert.equal(reads('mtademo-iceberg'), 2);
  });

  it('shares one store read between concurrent readers and hands each its own copy', async () => {
    await store.put('mtademo-iceberg', 'lakehouse-table', TABLE);
    const reader = new BlockReader(store);
    const [first, second] = await Promise.all([
      reader.read('mtademo-iceberg', 'lakehouse-table'),
      reader.read('mtademo-iceberg', 'lakehouse-table'),
    ]);
    assert.equal(reads('mtademo-iceberg'), 1);
    assert.notEqual(first, second);
    first.catalog = 'changed';
    assert.deepEqual(await reader.read('mtademo-iceberg', 'lakehouse-table'), TABLE);
  });

  it('does not cache a missing block, so creating it takes effect at once', async () => {
    const reader = new BlockReader(store, { now: () => 0 });
    await assert.rejects(reader.read('mtademo-socrata', 'socrata-source'), /does not exist/);
    await store.put('mtademo-socrata', 'socrata-source', { appToken: 'abc' });
    assert.deepEqual(await reader.read('mtademo-socrata', 'socrata-source'), { appToken: 'abc' });
  });
});

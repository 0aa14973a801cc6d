import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it, test } from 'node:test';
import { type BlocksCliDeps, main } from '../../src/cli/blocks.js';
import { type CliResult, runInProcess } from '../support/cli.js';
import { temporaryDirectory } from '../support/fixtures.js';
import { type KeyVaultStandIn, secretClientOptions, startKeyVaultStandIn } from '../support/keyvault-standin.js';

const WAREHOUSE = {
  host: 'adb-1234567890123456.7.azuredatabricks.net',
  httpPath: '/sql/1.0/warehouses/abc123',
  auth: { type: 'pat', token: 'dapiSECRETTOKEN' },
};

describe('blocks command line', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blocks-cli-'));
    env = {};
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  function run(argv: string[], deps?: BlocksCliDeps): Promise<CliResult> {
    return runInProcess(main, argv, { cwd: dir, env, now: new Date('2024-06-01T00:00:00Z'), deps });
  }

  async function writeJson(name: string, value: unknown): Promise<string> {
    await writeFile(join(dir, name), JSON.stringify(value));
    return name;
  }

  const blocksFile = () => join(dir, '.local', 'blocks.json');

  it('puts a block into <data-dir>/blocks.json and gets it back with secrets masked', async () => {
    const file = await writeJson('warehouse.json', WAREHOUSE);
    const put = await run(['put', 'mtademo-databricks', '--type', 'databricks-warehouse', '--file', file]);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stderr, /wrote databricks-warehouse block "mtademo-databricks"/);

    const get = await run(['get', 'mtademo-databricks']);
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(JSON.parse(get.stdout), {
      name: 'mtademo-databricks',
      type: 'databricks-warehouse',
      document: { ...WAREHOUSE, auth: { type: 'pat', token: '***' } },
    });
    assert.match(get.stdout, /^{\n {2}"name"/, 'pretty-printed');
    for (const output of [put.stdout, put.stderr, get.stdout, get.stderr]) assert.doesNotMatch(output, /SECRETTOKEN/);
  });

  it('prints secret fields in clear only with --show-secrets', async () => {
    const file = await writeJson('socrata.json', { appToken: 'SOCRATASECRET' });
    assert.equal((await run(['put', 'mtademo-socrata', '--type', 'socrata-source', '--file', file])).code, 0);
    const shown = await run(['get', 'mtademo-socrata', '--show-secrets']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual(JSON.parse(shown.stdout).document, { appToken: 'SOCRATASECRET' });
  });

  it('honours --data-dir', async () => {
    const file = await writeJson('table.json', { catalog: 'main', schema: 'bronze', format: 'iceberg' });
    assert.equal(
      (await run(['put', 'mtademo-iceberg', '--type', 'lakehouse-table', '--file', file, '--data-dir', 'elsewhere']))
        .code,
      0,
    );
    assert.ok((await stat(join(dir, 'elsewhere', 'blocks.json'))).isFile());
    const list = await run(['list', '--data-dir', 'elsewhere']);
    assert.deepEqual(JSON.parse(list.stdout), [{ name: 'mtademo-iceberg', type: 'lakehouse-table' }]);
    assert.deepEqual(JSON.parse((await run(['list'])).stdout), []);
  });

  it('refuses an invalid document with exit 2 and the field path, creating no store file', async () => {
    const file = await writeJson('bad.json', { catalog: 'main; DROP TABLE x', schema: 'bronze', format: 'iceberg' });
    const result = await run(['put', 'mtademo-iceberg', '--type', 'lakehouse-table', '--file', file]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /error: --file "bad\.json" is not a valid lakehouse-table block: catalog: "main; DROP TABLE x" is not /,
    );
    await assert.rejects(stat(blocksFile()), { code: 'ENOENT' });
  });

  it('leaves an existing store file byte-for-byte unchanged when refusing a document', async () => {
    assert.equal(
      (await run(['put', 'mtademo-socrata', '--type', 'socrata-source', '--file', await writeJson('ok.json', {})]))
        .code,
      0,
    );
    const before = await readFile(blocksFile(), 'utf8');
    const bad = await writeJson('bad.json', { ...WAREHOUSE, auth: { type: 'pat' }, extra: true });
    const result = await run(['put', 'mtademo-databricks', '--type', 'databricks-warehouse', '--file', bad]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /auth\.token: is required; extra: unknown field/);
    assert.equal(await readFile(blocksFile(), 'utf8'), before);
  });

  it('refuses a file that is not JSON, or missing, without quoting its content', async () => {
    await writeFile(join(dir, 'broken.json'), '{"appToken": SOCRATASECRET}');
    const broken = await run(['put', 'mtademo-socrata', '--type', 'socrata-source', '--file', 'broken.json']);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /--file "broken\.json" is not valid JSON/);
    assert.doesNotMatch(broken.stderr, /SOCRATASECRET/);

    const missing = await run(['put', 'mtademo-socrata', '--type', 'socrata-source', '--file', 'nope.json']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--file "nope\.json": no such file/);
    await assert.rejects(stat(blocksFile()), { code: 'ENOENT' });
  });

  it('refuses an unknown type or a bad block name with exit 2, writing nothing', async () => {
    const file = await writeJson('ok.json', {});
    const unknownType = await run(['put', 'mtademo-socrata', '--type', 'socrata', '--file', file]);
    assert.equal(unknownType.code, 2);
    assert.match(
      unknownType.stderr,
      /'socrata' is invalid.*Allowed choices are azure-container, lakehouse-table, databricks-warehouse, socrata-source/,
    );

    const badName = await run(['put', 'mtademo_socrata', '--type', 'socrata-source', '--file', file]);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /NAME "mtademo_socrata" is not a valid block name/);
    await assert.rejects(stat(blocksFile()), { code: 'ENOENT' });
  });

  it('answers exit 2 for a block that does not exist', async () => {
    const result = await run(['get', 'mtademo-iceberg']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /there is no block "mtademo-iceberg" in local file .*blocks\.json/);
  });

  it('fails with exit 1, naming the field, when a stored block no longer validates', async () => {
    await writeFile(
      join(dir, 'blocks.json'),
      JSON.stringify({
        'mtademo-iceberg': { type: 'lakehouse-table', document: { catalog: 'main', schema: 'x y', format: 'iceberg' } },
      }),
    );
    const result = await run(['get', 'mtademo-iceberg', '--data-dir', '.']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /block "mtademo-iceberg" in local file .* is not a valid lakehouse-table block: schema: "x y" is not /,
    );
  });

  it('prints the types with the block names in effect', async () => {
    env.BLOCK_LAKEHOUSE_TABLE = 'prod-delta';
    const result = await run(['types']);
    assert.equal(result.code, 0, result.stderr);
    const types = JSON.parse(result.stdout) as {
      type: string;
      name: string;
      nameSetting: string;
      secretFields: string[];
    }[];
    assert.deepEqual(
      types.map(({ type, name, secretFields }) => [type, name, secretFields]),
      [
        ['azure-container', 'mtademo-container', []],
        ['lakehouse-table', 'prod-delta', []],
        ['databricks-warehouse', 'mtademo-databricks', ['auth.token']],
        ['socrata-source', 'mtademo-socrata', ['appToken']],
      ],
    );
  });

  it('refuses a bad block-name setting with exit 2, naming the setting', async () => {
    env.BLOCK_SOCRATA_SOURCE = 'bad name';
    const result = await run(['types']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /BLOCK_SOCRATA_SOURCE "bad name" is not a valid block name/);
  });

  it('prints a JSON Schema for a type and refuses an unknown one', async () => {
    const result = await run(['schema', 'databricks-warehouse']);
    assert.equal(result.code, 0, result.stderr);
    const schema = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(schema['title'], 'databricks-warehouse');
    assert.equal(schema['additionalProperties'], false);
    assert.deepEqual(schema['required'], ['host', 'httpPath', 'auth']);

    assert.equal((await run(['schema', 'kafka-topic'])).code, 2);
  });

  it('answers a missing command with the usage and exit 2', async () => {
    const result = await run([]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Usage: blocks/);
  });

  describe('with a Key Vault', () => {
    let standIn: KeyVaultStandIn;
    let deps: BlocksCliDeps;
    before(async () => {
      standIn = await startKeyVaultStandIn();
      deps = { keyVaultCredential: standIn.credential, keyVaultClientOptions: secretClientOptions(standIn) };
    });
    after(() => standIn.close());
    beforeEach(() => standIn.secrets.clear());

    it('puts, gets and lists blocks in the vault named by --vault-url, leaving no local file', async () => {
      const file = await writeJson('warehouse.json', WAREHOUSE);
      const vault = ['--vault-url', standIn.vaultUrl];
      const put = await run(
        ['put', 'mtademo-databricks', '--type', 'databricks-warehouse', '--file', file, ...vault],
        deps,
      );
      assert.equal(put.code, 0, put.stderr);
      assert.match(put.stderr, new RegExp(`blocks in Key Vault ${standIn.vaultUrl}`));
      assert.deepEqual(JSON.parse(standIn.secrets.get('mtademo-databricks') ?? ''), WAREHOUSE);

      const get = await run(['get', 'mtademo-databricks', ...vault], deps);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(JSON.parse(get.stdout).document.auth.token, '***');
      const shown = await run(['get', 'mtademo-databricks', '--show-secrets', ...vault], deps);
      assert.equal(JSON.parse(shown.stdout).document.auth.token, 'dapiSECRETTOKEN');

      const list = await run(['list', ...vault], deps);
      assert.deepEqual(JSON.parse(list.stdout), [{ name: 'mtademo-databricks', type: 'databricks-warehouse' }]);
      await assert.rejects(stat(blocksFile()), { code: 'ENOENT' });
    });

    it('uses KEY_VAULT_URL when no flag names a store, and --data-dir over it', async () => {
      env.KEY_VAULT_URL = standIn.vaultUrl;
      const file = await writeJson('socrata.json', {});
      assert.equal((await run(['put', 'mtademo-socrata', '--type', 'socrata-source', '--file', file], deps)).code, 0);
      assert.ok(standIn.secrets.has('mtademo-socrata'));

      const local = await run(['list', '--data-dir', '.local'], deps);
      assert.match(local.stderr, /blocks in local file/);
      assert.deepEqual(JSON.parse(local.stdout), []);
    });

    it('refuses a vault URL that is not https, and both store flags at once', async () => {
      const http = await run(['list', '--vault-url', 'http://127.0.0.1:1'], deps);
      assert.equal(http.code, 2);
      assert.match(http.stderr, /--vault-url "http:\/\/127\.0\.0\.1:1" is not a Key Vault URL/);

      const both = await run(['list', '--vault-url', standIn.vaultUrl, '--data-dir', '.local'], deps);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /--vault-url and --data-dir name two different stores/);
    });

    it('refuses an invalid document before contacting the vault', async () => {
      const requestsBefore = standIn.requests.length;
      const file = await writeJson('bad.json', { ...WAREHOUSE, host: 'https://adb.example/x' });
      const result = await run(
        [
          'put',
          'mtademo-databricks',
          '--type',
          'databricks-warehouse',
          '--file',
          file,
          '--vault-url',
          standIn.vaultUrl,
        ],
        deps,
      );
      assert.equal(result.code, 2);
      assert.match(result.stderr, /host: "https:\/\/adb\.example\/x" is not a bare host name/);
      assert.equal(standIn.requests.length, requestsBefore);
      assert.equal(standIn.secrets.size, 0);
    });
  });
});

test('blocks are read from BNT_DATA_DIR when no flag names a store, as the pipeline reads them', async () => {
  const directory = await temporaryDirectory();
  try {
    const file = join(directory.path, 'container.json');
    await writeFile(file, JSON.stringify({ accountName: 'mtademostage', container: 'stage' }));
    const env = { BNT_DATA_DIR: join(directory.path, 'data') };
    const put = await runInProcess(main, ['put', 'mtademo-container', '--type', 'azure-container', '--file', file], {
      cwd: directory.path,
      env,
    });
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stderr, /blocks in local file .*\/data\/blocks\.json/);
    const listed = await runInProcess(main, ['list'], { cwd: directory.path, env });
    assert.match(listed.stdout, /mtademo-container/);
  } finally {
    await directory.remove();
  }
});

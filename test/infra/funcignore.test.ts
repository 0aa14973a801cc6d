import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ignore, { type Ignore } from 'ignore';
import { read } from './bicep-text';

/**
 * The repository root's .funcignore. The package both deploy paths ship is deploy/ (test/infra/package.test.ts);
 * this file only keeps a publish from the root by mistake from uploading sources and local state. Two programs
 * read it. `azd deploy` applies full gitignore rules (a pattern without a leading `/`
 * matches at any depth). `func azure functionapp publish` anchors every pattern at the project root (its
 * parser is a port of the gitignore-parser package). The file must say the same thing to both, so each
 * case below is checked under both readings, with the `ignore` package doing the matching.
 */
const patterns = read('.funcignore')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

function gitignoreReading(): Ignore {
  return ignore().add(patterns);
}

/** func's reading: every pattern is anchored at the root, as if written with a leading `/`. */
function rootAnchoredReading(): Ignore {
  return ignore().add(
    patterns.map((pattern) => (pattern.startsWith('/') || pattern.startsWith('**/') ? pattern : `/${pattern}`)),
  );
}

const readings: [string, Ignore][] = [
  ['gitignore (azd)', gitignoreReading()],
  ['root-anchored (func)', rootAnchoredReading()],
];

/** Files the package must carry. */
const KEPT = [
  'host.json',
  'package.json',
  'package-lock.json',
  'dist/src/functions/weeklyTimer.js',
  'dist/src/functions/startBackfill.js',
  'dist/src/pipeline/run.js',
  'dist/src/run/settings.js',
  'dist/src/warehouse/databricks.js',
  // Production dependencies, including folders named like ours (src/, test/) deep inside packages.
  'node_modules/durable-functions/package.json',
  'node_modules/durable-functions/lib/src/index.js',
  'node_modules/@azure/functions/dist/azure-functions.js',
  'node_modules/@azure/identity/dist/commonjs/index.js',
  'node_modules/@databricks/sql/dist/index.js',
  'node_modules/@duckdb/node-bindings-linux-x64/duckdb.node',
  'node_modules/zod/v4/core/index.js',
  'node_modules/some-package/src/index.js',
  'node_modules/some-package/infra/index.js',
];

/** Files the package must not carry. */
const DROPPED = [
  'src/functions/weeklyTimer.ts',
  'src/pipeline/run.ts',
  'test/unit/blocks.test.ts',
  'test/infra/settings.test.ts',
  'bench/pipeline.bench.ts',
  '.local/blocks.json',
  '.local/warehouse.json',
  '.local/socrata.json',
  '.local/azure-outputs.json',
  'deploy/package.json',
  'deploy/node_modules/zod/package.json',
  'scripts/assemble-deploy.mjs',
  '.local/warehouse.duckdb',
  '.local/stage/bnt-hourly-traffic/2024-05-26_2024-06-02/part-00000.jsonl',
  'local.settings.json',
  'local.settings.json.example',
  'infra/main.bicep',
  'infra/modules/functionapp.bicep',
  'infra/queries/failed-window.kql',
  'infra/hooks/postprovision.mjs',
  'docs/deploy.md',
  'tsconfig.json',
  'azure.yaml',
  '.azure/prod/.env',
  '.ci/run',
  '.gitignore',
  '.github/workflows/ci.yml',
  'dist/test/unit/blocks.test.js',
  'dist/bench/pipeline.bench.js',
  'node_modules/some-package/index.ts',
  'node_modules/some-package/types/index.d.ts',
  '__blobstorage__/x',
  '__azurite_db_blob__.json',
];

describe('.funcignore', () => {
  for (const [name, reading] of readings) {
    it(`keeps the compiled app, host.json, package.json and node_modules (${name})`, () => {
      for (const path of KEPT) assert.equal(reading.ignores(path), false, `${path} is kept`);
    });

    it(`drops sources, tests, infrastructure, docs and local state (${name})`, () => {
      for (const path of DROPPED) assert.equal(reading.ignores(path), true, `${path} is dropped`);
    });
  }

  it('has no negation, which func and azd order differently', () => {
    assert.deepEqual(
      patterns.filter((pattern) => pattern.startsWith('!')),
      [],
    );
  });

  it('anchors folder patterns at the root, so azd does not drop dist/src/ or node_modules/*/src/', () => {
    for (const pattern of patterns) {
      assert.ok(
        pattern.startsWith('/') || pattern.startsWith('**/'),
        `"${pattern}" should start with / (root) or **/ (any depth): azd and func read a bare pattern differently`,
      );
    }
  });

  it('does not drop node_modules: azd refuses remoteBuild: false when the project .funcignore does', () => {
    assert.equal(gitignoreReading().ignores('node_modules/'), false);
    assert.match(read('azure.yaml'), /^\s+remoteBuild: false$/m);
  });
});

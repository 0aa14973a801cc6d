import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ignore, { type Ignore } from 'ignore';
import { ROOT, read } from './bicep-text';

/**
 * The deployment package, checked from the files that would ship. The build's own step
 * (scripts/assemble-deploy.mjs) assembles the deploy folder into a scratch directory outside the repository —
 * from the installed node_modules, no network — where a module the folder lacks cannot be found further up.
 * Then the folder is read the way each deploy path reads it: azd zips it with gitignore rules from its
 * .funcignore (and drops .azure/ and local.settings.json); `func azure functionapp publish` anchors every
 * pattern at the folder and drops .funcignore, .gitignore, local.settings.json and project.lock.json anywhere.
 */
interface Manifest {
  main: string;
  dependencies: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}
interface LockEntry {
  version?: string;
  dev?: boolean;
}

const manifest = JSON.parse(read('package.json')) as Manifest;
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, LockEntry> };
/** The embedded warehouse, left out of Azure packages (the app runs Databricks there). */
const LOCAL_ONLY = ['@duckdb/node-api'];

const scratch = mkdtempSync(join(tmpdir(), 'bnt-package-'));
const out = join(scratch, 'deploy');
after(() => rmSync(scratch, { recursive: true, force: true }));

function filesUnder(dir: string, keep: (path: string, isDir: boolean) => boolean, base = dir): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const rel = relative(base, path);
    if (!keep(rel, entry.isDirectory())) continue;
    if (entry.isDirectory()) found.push(...filesUnder(path, keep, base));
    else found.push(rel);
  }
  return found;
}

function ignorePatterns(): string[] {
  return readFileSync(join(out, '.funcignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** What azd's zip of the folder holds (pkg/project/project_utils.go, createDeployableZip). */
function azdPackage(): string[] {
  const rules: Ignore = ignore().add(ignorePatterns());
  return filesUnder(out, (rel, isDir) => {
    const name = rel.split('/').at(-1)!;
    if (isDir && name === '.azure') return false;
    if (!isDir && (name === '.funcignore' || name === 'local.settings.json')) return false;
    return !rules.ignores(isDir ? `${rel}/` : rel);
  }).sort();
}

/** What `func azure functionapp publish` zips (FileSystemHelpers.GetLocalFiles with its .funcignore parser). */
function funcPackage(): string[] {
  const rules: Ignore = ignore().add(
    ignorePatterns().map((p) => (p.startsWith('/') || p.startsWith('**/') ? p : `/${p}`)),
  );
  const alwaysDropped = ['.funcignore', '.gitignore', 'local.settings.json', 'project.lock.json'];
  return filesUnder(out, (rel, isDir) => {
    const name = rel.split('/').at(-1)!;
    if (isDir) return name !== '.git' && name !== '.vscode';
    return !alwaysDropped.includes(name) && !rules.ignores(rel);
  }).sort();
}

/** Package folders in a file list, as lock paths: node_modules/x, node_modules/@s/x, node_modules/x/node_modules/y. */
function packagesIn(files: string[]): string[] {
  const found = new Set<string>();
  for (const file of files) {
    const match = /^((?:node_modules\/(?:@[^/]+\/)?[^/]+\/)*node_modules\/(?:@[^/]+\/)?[^/]+)\/package\.json$/.exec(
      file,
    );
    if (match && lock.packages[match[1]!] !== undefined) found.add(match[1]!);
  }
  return [...found].sort();
}

const bytesOf = (files: string[]) => files.reduce((sum, file) => sum + statSync(join(out, file)).size, 0);
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const packageName = (lockPath: string) =>
  lockPath.slice(lockPath.lastIndexOf('node_modules/') + 'node_modules/'.length);

describe('the deployment package', () => {
  let azd: string[] = [];
  let func: string[] = [];

  before(() => {
    assert.ok(existsSync(join(ROOT, 'dist/src')), 'dist/ is missing: run `npm run build` (npm test does)');
    const built = spawnSync(process.execPath, [join(ROOT, 'scripts/assemble-deploy.mjs'), '--out', out], {
      encoding: 'utf8',
    });
    assert.equal(built.status, 0, built.stderr);
    azd = azdPackage();
    func = funcPackage();
  });

  it('is the same on both deploy paths, and lists its files and total size', (t) => {
    const onlyInAzd = azd.filter((file) => !func.includes(file));
    // func drops files named .gitignore anywhere; azd keeps them. Nothing else differs.
    assert.deepEqual(
      onlyInAzd.filter((file) => !file.endsWith('/.gitignore')),
      [],
    );
    assert.deepEqual(
      func.filter((file) => !azd.includes(file)),
      [],
    );
    const byPackage = packagesIn(azd)
      .map((path) => ({ path, bytes: bytesOf(azd.filter((file) => file.startsWith(`${path}/`))) }))
      .sort((a, b) => b.bytes - a.bytes);
    t.diagnostic(`azd package: ${azd.length} files, ${megabytes(bytesOf(azd))}`);
    t.diagnostic(`func package: ${func.length} files, ${megabytes(bytesOf(func))}`);
    t.diagnostic(`dist/: ${megabytes(bytesOf(azd.filter((file) => file.startsWith('dist/'))))}`);
    t.diagnostic(
      `largest of ${byPackage.length} packages: ${byPackage
        .slice(0, 6)
        .map((p) => `${packageName(p.path)} ${megabytes(p.bytes)}`)
        .join(', ')}`,
    );
  });

  it('ships the compiled app, host.json, package.json and node_modules, nothing else', () => {
    assert.deepEqual([...new Set(azd.map((file) => file.split('/')[0]))].sort(), [
      'dist',
      'host.json',
      'node_modules',
      'package.json',
    ]);
    assert.equal(readFileSync(join(out, 'host.json'), 'utf8'), read('host.json'));
    const compiled = filesUnder(join(ROOT, 'dist/src'), () => true)
      .map((file) => `dist/src/${file}`)
      .sort();
    assert.deepEqual(
      azd.filter((file) => file.startsWith('dist/')),
      compiled,
    );
  });

  it('declares the production dependencies only, less the embedded warehouse', () => {
    const shipped = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as Manifest;
    assert.equal(shipped.main, manifest.main);
    assert.equal(shipped.devDependencies, undefined);
    assert.equal(shipped.scripts, undefined, 'no scripts: nothing is built or installed where it is deployed');
    const expected = Object.fromEntries(
      Object.entries(manifest.dependencies).filter(([name]) => !LOCAL_ONLY.includes(name)),
    );
    assert.deepEqual(shipped.dependencies, expected);
  });

  it('carries no dev dependency, no DuckDB, and each package at the version the lock pins', () => {
    const packages = packagesIn(azd);
    assert.ok(packages.length > 100, `only ${packages.length} packages`);
    const devOnly = packages.filter((path) => lock.packages[path]!.dev === true);
    assert.deepEqual(devOnly, [], 'packages the lock marks as dev-only');
    // Our devDependencies are the copies at the top of node_modules; a production package may need its own
    // copy of the same name (apache-arrow pins @types/node), nested under it. A devDependency that a production
    // package needs too (thrift and apache-arrow, which the Databricks stand-in imports and the driver depends on)
    // is a production package: the lock does not mark it dev, and it ships.
    const devCopies = Object.keys(manifest.devDependencies ?? {})
      .map((name) => `node_modules/${name}`)
      .filter((path) => lock.packages[path]?.dev === true);
    assert.ok(devCopies.length > 5, `only ${devCopies.length} dev-only packages: is the lock read right?`);
    assert.deepEqual(
      packages.filter((path) => devCopies.includes(path)),
      [],
      'devDependencies',
    );
    assert.deepEqual(
      packages.filter((path) => packageName(path).startsWith('@duckdb/')),
      [],
      'DuckDB',
    );
    for (const path of packages) {
      const version = (JSON.parse(readFileSync(join(out, path, 'package.json'), 'utf8')) as { version: string })
        .version;
      assert.equal(version, lock.packages[path]!.version, path);
    }
    // Every file under node_modules belongs to a package the lock knows.
    const owned = azd.filter((file) => file.startsWith('node_modules/'));
    for (const file of owned) {
      assert.ok(
        packages.some((path) => file.startsWith(`${path}/`)),
        `${file} belongs to no package of the lock`,
      );
    }
  });

  it('leaves out what no running app reads (types, TypeScript sources, source maps, docs), not licenses', () => {
    const modules = azd.filter((file) => file.startsWith('node_modules/'));
    assert.deepEqual(
      modules.filter(
        (file) => /\.(?:[cm]?ts|map|md)$/i.test(file) && !/\/(?:licen[cs]e|copying|notice)[^/]*$/i.test(file),
      ),
      [],
    );
    assert.ok(modules.some((file) => /\/licen[cs]e[^/]*$/i.test(file)));
  });

  it('loads as the host loads it, from its own files alone, and says how long that takes', (t) => {
    const loaded = spawnSync(process.execPath, [join(ROOT, 'test/infra/load-package.cjs'), out], { encoding: 'utf8' });
    assert.equal(loaded.status, 0, loaded.stderr);
    const result = JSON.parse(loaded.stdout.trim().split('\n').at(-1)!) as {
      registered: string[];
      files: number;
      loadMs: number;
      modules: number;
      outside: string[];
      unloadable: string[];
      duckdb: { loaded: boolean; kind?: string; field?: string; message?: string };
    };
    assert.deepEqual(result.outside, [], 'modules found only outside the package');
    assert.deepEqual(result.unloadable, [], 'dependencies that do not load');
    // The package leaves DuckDB out: choosing it there is a setting to fix, named, not "Cannot find module".
    assert.equal(result.duckdb.loaded, false);
    assert.equal(result.duckdb.kind, 'input');
    assert.equal(result.duckdb.field, 'BNT_WAREHOUSE');
    assert.match(result.duckdb.message ?? '', /not in this package .*BNT_WAREHOUSE=databricks/);
    // The same functions as the compiled app in the repository registers (test/functions/registrations.test.ts
    // pins that list): nothing the package leaves out costs a registration.
    const fromRepository = spawnSync(process.execPath, [join(ROOT, 'test/infra/load-package.cjs'), ROOT], {
      encoding: 'utf8',
    });
    assert.equal(fromRepository.status, 0, fromRepository.stderr);
    const expected = (JSON.parse(fromRepository.stdout.trim().split('\n').at(-1)!) as { registered: string[] })
      .registered;
    assert.ok(expected.length >= 10, `the repository's app registers only ${expected.length} functions`);
    assert.deepEqual(result.registered.sort(), expected.sort());
    t.diagnostic(
      `load time: ${Math.round(result.loadMs)} ms to require the ${result.files} registration files (${result.modules} modules)`,
    );
  });
});

describe('azure.yaml packages the deploy folder', () => {
  it('builds at the project root and zips deploy/, with node_modules and without a remote build', () => {
    const yaml = read('azure.yaml');
    assert.match(yaml, /^\s+project: \.$/m);
    assert.match(yaml, /^\s+dist: deploy$/m);
    assert.match(yaml, /^\s+remoteBuild: false$/m);
    assert.match(manifest.scripts?.build ?? '', /&& node scripts\/assemble-deploy\.mjs$/);
    // azd 1.23 leaves node_modules out of a package without an ignore file; the folder must carry one.
    assert.ok(existsSync(join(out, '.funcignore')));
    assert.equal(ignore().add(ignorePatterns()).ignores('node_modules/'), false);
  });
});

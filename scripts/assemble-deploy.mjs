#!/usr/bin/env node
// Assembles deploy/, the one folder both deploy paths ship: azd packages it (`dist: deploy` in azure.yaml) and
// `func azure functionapp publish` is run from it. It holds the compiled app, host.json, a package.json that
// lists the production dependencies only, and those dependencies' files, taken from the installed node_modules
// by package-lock.json: nothing is downloaded, so it works offline and ships exactly the versions the lock pins.
//
// `npm run build` runs it after tsc. Plain Node (no dependencies), like the azd hook.
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEPLOY_DIR = 'deploy';

/**
 * Dependencies of the app that an Azure deployment never loads. DuckDB is the embedded warehouse of the
 * standalone pipeline; the Function App runs on Databricks (BNT_WAREHOUSE=databricks) and imports the DuckDB
 * adapter only when that warehouse is chosen (src/run/targets.ts). Its native binary is over half the package.
 */
export const LOCAL_ONLY_DEPENDENCIES = ['@duckdb/node-api'];

/** Files no running app reads: type declarations, TypeScript sources, source maps and docs. Licenses stay. */
const NOT_LOADED_AT_RUN_TIME = /\.(?:[cm]?ts|map|md|markdown)$/i;
const LICENSE = /^(?:licen[cs]e|copying|notice)/i;

/** What the folder's own files say. azd drops node_modules from a package without an ignore file (1.23). */
const FUNCIGNORE = `# Everything in this folder ships: npm run build assembled it (scripts/assemble-deploy.mjs).
# The file is here because azd leaves node_modules out of a package that has no .funcignore.
`;

/** func reads the worker runtime from here when publishing; neither func nor azd uploads this file. */
const LOCAL_SETTINGS = { IsEncrypted: false, Values: { FUNCTIONS_WORKER_RUNTIME: 'node' } };

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** The lock entry a package at `from` gets for `name`: the nearest node_modules/<name> at or above it, as npm resolves. */
function resolveInLock(packages, from, name) {
  let dir = from;
  for (;;) {
    const candidate = `${dir === '' ? '' : `${dir}/`}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (dir === '') return undefined;
    const parent = dir.lastIndexOf('/node_modules/');
    dir = parent === -1 ? '' : dir.slice(0, parent);
  }
}

/**
 * The lock paths (node_modules/...) of every package `dependencies` need at run time: their dependencies,
 * peer dependencies and installed optional dependencies, transitively. Optional packages for other platforms
 * are in the lock but not on disk, and are skipped.
 */
export function productionPackages(root, lock, dependencies) {
  const packages = lock.packages;
  const found = new Set();
  const pending = dependencies.map((name) => ({ from: '', name, optional: false, by: 'package.json' }));
  while (pending.length > 0) {
    const { from, name, optional, by } = pending.pop();
    const path = resolveInLock(packages, from, name);
    const installed = path !== undefined && existsSync(join(root, path));
    if (!installed) {
      if (optional) continue;
      throw new Error(`${name} (needed by ${by}) is not installed as package-lock.json says: run npm ci`);
    }
    if (found.has(path)) continue;
    const entry = packages[path];
    if (entry.link) throw new Error(`${path} is a linked package; the deploy folder takes installed packages only`);
    const onDisk = readJson(join(root, path, 'package.json')).version;
    if (onDisk !== entry.version) {
      throw new Error(`${path} is ${onDisk} on disk but ${entry.version} in package-lock.json: run npm ci`);
    }
    found.add(path);
    const optionalPeers = entry.peerDependenciesMeta ?? {};
    for (const dep of Object.keys(entry.dependencies ?? {}))
      pending.push({ from: path, name: dep, optional: false, by: path });
    for (const dep of Object.keys(entry.optionalDependencies ?? {}))
      pending.push({ from: path, name: dep, optional: true, by: path });
    for (const dep of Object.keys(entry.peerDependencies ?? {})) {
      pending.push({ from: path, name: dep, optional: optionalPeers[dep]?.optional === true, by: path });
    }
  }
  return [...found].sort();
}

/** Hard links when the file system allows (fast, no extra space), copies otherwise. */
function place(source, target) {
  mkdirSync(dirname(target), { recursive: true });
  try {
    linkSync(source, target);
  } catch {
    copyFileSync(source, target);
  }
}

/** Places a package's files, without its nested node_modules (those are packages of their own in the lock). */
function placePackage(source, target, skip) {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules') continue;
      const sub = placePackage(from, join(target, entry.name), skip);
      files += sub.files;
      bytes += sub.bytes;
    } else if (entry.isFile() && !skip(entry.name)) {
      place(from, join(target, entry.name));
      files += 1;
      bytes += statSync(from).size;
    }
  }
  return { files, bytes };
}

const notLoaded = (name) => NOT_LOADED_AT_RUN_TIME.test(name) && !LICENSE.test(name);

/** Builds `out` from the repository at `root` (dist/ must be built). Returns what it placed. */
export function assembleDeployFolder(root, out = join(root, DEPLOY_DIR)) {
  const manifest = readJson(join(root, 'package.json'));
  const lock = readJson(join(root, 'package-lock.json'));
  if (!existsSync(join(root, 'dist', 'src')))
    throw new Error('dist/src is missing: run tsc first (npm run build does)');

  const dependencies = Object.fromEntries(
    Object.entries(manifest.dependencies).filter(([name]) => !LOCAL_ONLY_DEPENDENCIES.includes(name)),
  );
  const packages = productionPackages(root, lock, Object.keys(dependencies));

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const app = placePackage(join(root, 'dist', 'src'), join(out, 'dist', 'src'), () => false);
  place(join(root, 'host.json'), join(out, 'host.json'));
  let modules = { files: 0, bytes: 0 };
  for (const path of packages) {
    const placed = placePackage(join(root, path), join(out, path), notLoaded);
    modules = { files: modules.files + placed.files, bytes: modules.bytes + placed.bytes };
  }
  const { name, version, description, license, main, engines } = manifest;
  writeFileSync(
    join(out, 'package.json'),
    `${JSON.stringify({ name, version, description, license, private: true, main, engines, dependencies }, null, 2)}\n`,
  );
  writeFileSync(join(out, '.funcignore'), FUNCIGNORE);
  writeFileSync(join(out, 'local.settings.json'), `${JSON.stringify(LOCAL_SETTINGS, null, 2)}\n`);
  const top = ['host.json', 'package.json'].map((file) => statSync(join(out, file)).size);
  const shipped = { files: app.files + modules.files + 2, bytes: app.bytes + modules.bytes + top[0] + top[1] };
  return { out, app, modules, packages, shipped };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // `--out DIR` builds elsewhere (the package test builds outside the repository, where nothing resolves upwards).
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const at = process.argv.indexOf('--out');
  const { out, app, modules, packages, shipped } = assembleDeployFolder(
    root,
    at === -1 ? undefined : resolve(process.argv[at + 1]),
  );
  const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  process.stdout.write(
    `${relative(root, out)}/ ships ${shipped.files} files, ${mb(shipped.bytes)} ` +
      `(dist/src ${mb(app.bytes)}; ${packages.length} production packages, ${mb(modules.bytes)}; ` +
      `left out: devDependencies, ${LOCAL_ONLY_DEPENDENCIES.join(', ')})\n`,
  );
}

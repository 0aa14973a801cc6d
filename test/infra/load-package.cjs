// Loads an assembled deploy folder the way the Functions host does: every file package.json's `main` names is
// required, in a CommonJS process, with the host's `@azure/functions-core` replaced by a stand-in that records
// each registration. Plain Node, not tsx: a loader hook on every require would distort the load time.
//
//   node test/infra/load-package.cjs <deploy folder>
//
// Prints one JSON line: the registered function names, the load time, how many modules were loaded, every
// module that resolved outside the folder (which the deployed app could not find), and, loaded after the timing,
// each dependency package.json lists that fails to load in full (the app loads some parts only when used).
const Module = require('node:module');
const { readFileSync, readdirSync } = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const appRoot = path.resolve(process.argv[2] ?? '.');
const inside = (file) => file.startsWith(appRoot + path.sep);

const registered = [];
const core = {
  registerFunction(metadata) {
    registered.push(metadata.name);
    return { dispose() {} };
  },
  setProgrammingModel() {},
  getProgrammingModel() {
    return undefined;
  },
  registerHook() {
    return { dispose() {} };
  },
  log() {},
};
const originalLoad = Module._load;
Module._load = function (request, parent, isMain) {
  return request === '@azure/functions-core' ? core : originalLoad.call(this, request, parent, isMain);
};

const outside = new Set();
const originalResolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const resolved = originalResolve.call(this, request, parent, ...rest);
  if (parent?.filename && inside(parent.filename) && path.isAbsolute(resolved) && !inside(resolved)) {
    outside.add(`${request} (from ${path.relative(appRoot, parent.filename)})`);
  }
  return resolved;
};

const main = JSON.parse(readFileSync(path.join(appRoot, 'package.json'), 'utf8')).main;
const glob = /^(.*)\/\*\.js$/.exec(main);
if (!glob) throw new Error(`package.json main "${main}" is not of the form dir/*.js`);
const directory = path.join(appRoot, glob[1]);
const files = readdirSync(directory)
  .filter((name) => name.endsWith('.js'))
  .sort()
  .map((name) => path.join(directory, name));

const started = performance.now();
for (const file of files) require(file);
const loadMs = performance.now() - started;

const modules = Object.keys(require.cache).filter(inside).length;

// Each dependency in full: the app loads parts of some (the Databricks client) only when a run needs them.
const requireFromApp = Module.createRequire(path.join(appRoot, 'package.json'));
const unloadable = [];
for (const name of Object.keys(JSON.parse(readFileSync(path.join(appRoot, 'package.json'), 'utf8')).dependencies)) {
  try {
    requireFromApp(name);
  } catch (error) {
    unloadable.push(`${name}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
}

// The embedded warehouse, asked for where the package may leave it out: what a run would be told.
async function embeddedWarehouse() {
  const { openTargets } = require(path.join(appRoot, 'dist/src/run/targets.js'));
  const dataDir = require('node:fs').mkdtempSync(path.join(require('node:os').tmpdir(), 'load-package-'));
  try {
    const targets = await openTargets({ stage: 'local', warehouse: 'duckdb', dataDir }, {}, { appToken: 'unused' });
    await targets.warehouse.close();
    return { loaded: true };
  } catch (error) {
    return { loaded: false, kind: error.kind, field: error.field, message: error.message };
  } finally {
    require('node:fs').rmSync(dataDir, { recursive: true, force: true });
  }
}

embeddedWarehouse().then((duckdb) =>
  process.stdout.write(
    `${JSON.stringify({ registered, files: files.length, loadMs, modules, outside: [...outside], unloadable, duckdb })}\n`,
  ),
);

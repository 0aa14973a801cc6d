/**
 * The architecture as rules (`npm run check:layers`, part of `npm test`). Folders of src/ form layers:
 *
 *   cli, functions  →  run  →  stage, warehouse, blocks  →  pipeline  →  common
 *                      functions → schedule → pipeline   (schedule reads setting names from run/settings.ts)
 *
 * The core (pipeline) owns the stage and warehouse ports and knows no adapter, Azure SDK or engine; adapters
 * sit beside each other and never import one another; only run/ wires them. Type imports count too.
 */
const layer = (from, allowed, files = []) => ({
  name: `${from}-imports-only-${allowed.join('-') || 'itself'}`,
  severity: 'error',
  from: { path: `^src/${from}/` },
  to: { path: '^src/', pathNot: [`^src/${from}/`, ...allowed.map((folder) => `^src/${folder}/`), ...files] },
});

/** The registry of setting names is a leaf anyone may read: error messages name the setting to fix. */
const SETTINGS_REGISTRY = '^src/run/settings[.]ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycle between modules, type imports included.',
      from: {},
      to: { circular: true },
    },
    layer('common', []),
    layer('pipeline', ['common']),
    layer('stage', ['pipeline', 'common']),
    layer('warehouse', ['pipeline', 'common']),
    layer('blocks', ['common']),
    layer('run', ['stage', 'warehouse', 'blocks', 'pipeline', 'common']),
    layer('schedule', ['pipeline', 'common'], [SETTINGS_REGISTRY]),
    layer('cli', ['run', 'blocks', 'pipeline', 'common']),
    layer('functions', ['run', 'schedule', 'pipeline', 'common']),
    {
      name: 'core-uses-no-engine-or-azure-sdk',
      severity: 'error',
      comment: 'The core is host-agnostic: engines and Azure SDKs belong to the adapters.',
      from: { path: '^src/pipeline/' },
      to: { path: 'node_modules/(@azure|@duckdb|@databricks|durable-functions)' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^dist/' },
  },
};

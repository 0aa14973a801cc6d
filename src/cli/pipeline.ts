import type { TokenCredential } from '@azure/core-auth';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import { type Command, Option } from 'commander';
import { DEFAULT_DATASET, type DatasetDefinition, findDataset } from '../pipeline/datasets';
import { InputError, describeError } from '../common/errors';
import { type Plan, planRun } from '../pipeline/plan';
import { type RunSummary, runWindow } from '../pipeline/run';
import { SocrataClient } from '../pipeline/source';
import { type Window, describeWindow, resolveWindow } from '../pipeline/window';
import { SETTINGS } from '../run/settings';
import { STAGE_KINDS, type Targets, WAREHOUSE_KINDS, chooseTargets, openTargets } from '../run/targets';
import type { DatabricksConnector } from '../warehouse/databricks';
import { type CliIo, processIo } from './io';
import { newProgram, runProgram } from './shared';

/** What tests replace: Azure credentials, the Key Vault stand-in's TLS trust, the Databricks driver. */
export interface PipelineCliDeps {
  readonly credential?: TokenCredential;
  readonly keyVaultClientOptions?: SecretClientOptions;
  readonly databricksConnect?: DatabricksConnector;
}

interface RunFlags {
  dataset: string;
  startDate?: string;
  stopDate?: string;
  sourceUrl?: string;
  appToken?: string;
  dataDir?: string;
  stage?: string;
  warehouse?: string;
  json?: boolean;
}

const count = (value: number) => value.toLocaleString('en-US');

function formatSummary(summary: RunSummary): string {
  const reasons = Object.entries(summary.quarantineReasons)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const lines = [
    `${summary.dataset} ${describeWindow(summary.window)}${summary.chunks > 1 ? ` in ${summary.chunks} chunks` : ''}`,
    `  fetched      ${count(summary.fetched)}`,
    `  staged       ${count(summary.staged)}  (${summary.parts.length} part file(s) in ${summary.stage})`,
    `  quarantined  ${count(summary.quarantined)}${reasons ? `  (${reasons}; see ${summary.quarantineFiles.join(', ')})` : ''}`,
    `  table        ${summary.table} in ${summary.warehouse}: ${count(summary.rowsInWindow)} rows in the window`,
    `  elapsed      ${(summary.elapsedMs / 1000).toFixed(1)}s`,
  ];
  if (summary.fetched === 0) {
    lines.push(`  no rows for this window; the newest date in the source is ${summary.newestInSource ?? '(none)'}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatPlan(plan: Plan): string {
  const section = (title: string, items: readonly string[]) => [
    `${title}:`,
    ...items.map((item) => `  ${item.replaceAll('\n', '\n  ')}`),
  ];
  return `${[
    `${plan.dataset} ${describeWindow(plan.window)}${plan.chunks.length > 1 ? ` in ${plan.chunks.length} chunks of at most 28 days` : ''}`,
    `table ${plan.table} in ${plan.warehouse}; stage ${plan.stage}`,
    '',
    ...section(
      'source requests (per chunk: the count, then pages moving $offset by the rows received until an empty page)',
      plan.sourceRequests.map(readableUrl),
    ),
    '',
    ...section('staged paths (per chunk; more part files follow for large chunks)', plan.stagePaths),
    '',
    ...section(
      'SQL statements',
      plan.statements.map((statement) => `${statement};`),
    ),
  ].join('\n')}\n`;
}

/** A request URL as a person reads it: query decoded. */
function readableUrl(url: string): string {
  return decodeURIComponent(url.replaceAll('+', ' '));
}

/** Everything `run` and `plan` share: checked inputs, then the targets they name. Bad input throws before anything is built. */
async function prepare(flags: RunFlags, io: CliIo, deps: PipelineCliDeps) {
  const dataset: DatasetDefinition = findDataset(flags.dataset, '--dataset');
  const window: Window = resolveWindow({ start: flags.startDate, stop: flags.stopDate }, io.now(), {
    start: '--start-date',
    stop: '--stop-date',
  });
  const choice = chooseTargets(flags, io.env, io.cwd);
  const resourceUrl = flags.sourceUrl ?? (io.env[SETTINGS.sourceUrl] || dataset.resourceUrl);
  const makeSource = (appToken: string | undefined) => {
    try {
      return new SocrataClient({
        resourceUrl,
        appToken,
        onRetry: ({ attempt, delayMs, error }) =>
          io.stderr(`retry ${attempt} in ${(delayMs / 1000).toFixed(1)}s: ${describeError(error)}\n`),
      });
    } catch (error) {
      throw new InputError('--source-url', `--source-url: ${describeError(error)}`);
    }
  };
  makeSource(undefined); // checks the URL before any block store is read
  const targets: Targets = await openTargets(choice, io.env, {
    ...deps,
    appToken: flags.appToken,
    progress: (message) => io.stderr(`${message}\n`),
  });
  const source = makeSource(targets.appToken);
  return { dataset, window, source, targets };
}

async function runCommand(flags: RunFlags, io: CliIo, deps: PipelineCliDeps): Promise<void> {
  const { dataset, window, source, targets } = await prepare(flags, io, deps);
  io.stderr(`${dataset.name} ${describeWindow(window)} from ${source.resourceUrl}\n`);
  let summary: RunSummary;
  try {
    summary = await runWindow({
      dataset,
      window,
      source,
      stage: targets.stage,
      warehouse: targets.warehouse,
      progress: (message) => io.stderr(`${message}\n`),
    });
  } catch (error) {
    // The run's own error is the one to report; a failure to close behind it is only a note.
    await targets.warehouse
      .close()
      .catch((closeError: unknown) =>
        io.stderr(`also failed to close ${targets.warehouse.description}: ${describeError(closeError)}\n`),
      );
    throw error;
  }
  await targets.warehouse.close();
  if (flags.json) {
    io.stderr(formatSummary(summary));
    io.stdout(`${JSON.stringify(summary)}\n`);
  } else {
    io.stdout(formatSummary(summary));
  }
}

async function planCommand(flags: RunFlags, io: CliIo, deps: PipelineCliDeps): Promise<void> {
  const { dataset, window, source, targets } = await prepare(flags, io, deps);
  const plan = planRun({ dataset, window, source, stage: targets.stage, warehouse: targets.warehouse });
  if (flags.json) {
    io.stderr(formatPlan(plan));
    io.stdout(`${JSON.stringify(plan)}\n`);
  } else {
    io.stdout(formatPlan(plan));
  }
}

function addRunOptions(command: Command): Command {
  return command
    .addOption(new Option('--dataset <name>', 'dataset definition').default(DEFAULT_DATASET))
    .option('--start-date <YYYY-MM-DD>', 'first day of the window (inclusive, UTC)')
    .option('--stop-date <YYYY-MM-DD>', 'day after the window (exclusive, UTC)')
    .option('--source-url <url>', `replaces the dataset's Socrata resource URL (env ${SETTINGS.sourceUrl})`)
    .option('--app-token <token>', `Socrata app token (env ${SETTINGS.appToken}, or the socrata-source block)`)
    .option(
      '--data-dir <dir>',
      `local stage directory, DuckDB file and blocks.json (env ${SETTINGS.dataDir})`,
      undefined,
    )
    .addOption(
      new Option('--stage <kind>', `where staged files go (env ${SETTINGS.stage}; default local)`).choices(STAGE_KINDS),
    )
    .addOption(
      new Option(
        '--warehouse <kind>',
        `which warehouse loads them (env ${SETTINGS.warehouse}; default duckdb)`,
      ).choices(WAREHOUSE_KINDS),
    )
    .option('--json', 'print the result as one JSON object on the last line of stdout');
}

/** Runs the command line; returns the exit code instead of exiting, so tests can call it. */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo,
  deps: PipelineCliDeps = {},
): Promise<number> {
  const program = newProgram(
    'pipeline',
    'Fetch MTA Bridges & Tunnels traffic from Socrata, stage it and load it into a table.',
    io,
  );
  addRunOptions(
    program
      .command('run')
      .description('fetch, check, stage and load a window (default: the previous Sunday–Saturday week)'),
  ).action((flags: RunFlags) => runCommand(flags, io, deps));
  addRunOptions(
    program
      .command('plan')
      .description('print the window, source requests, staged paths and SQL a run would use; touches nothing'),
  ).action((flags: RunFlags) => planCommand(flags, io, deps));
  return runProgram(program, argv, io);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_DATASET, findDataset } from '../pipeline/datasets';
import { InputError, describeError } from '../pipeline/errors';
import { type RunSummary, runWindow } from '../pipeline/run';
import { SocrataClient } from '../pipeline/source';
import { LocalStageStore } from '../pipeline/stage/local';
import { describeWindow, resolveWindow } from '../pipeline/window';
import { DuckDbWarehouse } from '../warehouse/duckdb';
import { type CliIo, EXIT, processIo } from './io';

interface RunFlags {
  dataset: string;
  startDate?: string;
  stopDate?: string;
  sourceUrl?: string;
  appToken?: string;
  dataDir: string;
  json?: boolean;
}

function formatSummary(summary: RunSummary): string {
  const reasons = Object.entries(summary.quarantineReasons)
    .map(([reason, count]) => `${reason} ${count}`)
    .join(', ');
  const lines = [
    `${summary.dataset} ${describeWindow(summary.window)}${summary.chunks > 1 ? ` in ${summary.chunks} chunks` : ''}`,
    `  fetched      ${summary.fetched.toLocaleString('en-US')}`,
    `  staged       ${summary.staged.toLocaleString('en-US')}  (${summary.parts.length} part file(s) in ${summary.stage})`,
    `  quarantined  ${summary.quarantined.toLocaleString('en-US')}${reasons ? `  (${reasons}; see ${summary.quarantineFiles.join(', ')})` : ''}`,
    `  table        ${summary.table} in ${summary.warehouse}: ${summary.rowsInWindow.toLocaleString('en-US')} rows in the window`,
    `  elapsed      ${(summary.elapsedMs / 1000).toFixed(1)}s`,
  ];
  if (summary.fetched === 0) {
    lines.push(`  no rows for this window; the newest date in the source is ${summary.newestInSource ?? '(none)'}`);
  }
  return `${lines.join('\n')}\n`;
}

async function runCommand(flags: RunFlags, io: CliIo): Promise<void> {
  const dataset = findDataset(flags.dataset, '--dataset');
  const window = resolveWindow({ start: flags.startDate, stop: flags.stopDate }, io.now(), {
    start: '--start-date',
    stop: '--stop-date',
  });
  const resourceUrl = flags.sourceUrl ?? io.env.BNT_SOURCE_URL ?? dataset.resourceUrl;
  let source: SocrataClient;
  try {
    source = new SocrataClient({
      resourceUrl,
      appToken: flags.appToken ?? io.env.SOCRATA_APP_TOKEN,
      onRetry: ({ attempt, delayMs, error }) =>
        io.stderr(`retry ${attempt} in ${(delayMs / 1000).toFixed(1)}s: ${describeError(error)}\n`),
    });
  } catch (error) {
    throw new InputError('--source-url', `--source-url: ${describeError(error)}`);
  }
  const dataDir = resolve(io.cwd, flags.dataDir);
  const stage = new LocalStageStore(dataDir);
  const warehouse = new DuckDbWarehouse(resolve(dataDir, 'warehouse.duckdb'));
  io.stderr(`${dataset.name} ${describeWindow(window)} from ${source.resourceUrl}\n`);
  try {
    const summary = await runWindow({
      dataset,
      window,
      source,
      stage,
      warehouse,
      progress: (message) => io.stderr(`${message}\n`),
    });
    if (flags.json) {
      io.stderr(formatSummary(summary));
      io.stdout(`${JSON.stringify(summary)}\n`);
    } else {
      io.stdout(formatSummary(summary));
    }
  } finally {
    await warehouse.close();
  }
}

function buildProgram(io: CliIo, exitCode: { value: number }): Command {
  const program = new Command('pipeline')
    .description('Fetch MTA Bridges & Tunnels traffic from Socrata, stage it and load it into a table.')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  program
    .command('run')
    .description('fetch, check, stage and load one window (default: the previous Sunday–Saturday week)')
    .addOption(new Option('--dataset <name>', 'dataset definition to run').default(DEFAULT_DATASET))
    .option('--start-date <YYYY-MM-DD>', 'first day of the window (inclusive, UTC)')
    .option('--stop-date <YYYY-MM-DD>', 'day after the window (exclusive, UTC)')
    .option('--source-url <url>', "replaces the dataset's Socrata resource URL (env BNT_SOURCE_URL)")
    .option('--app-token <token>', 'Socrata app token (env SOCRATA_APP_TOKEN)')
    .option('--data-dir <dir>', 'local stage directory and DuckDB file', '.local')
    .option('--json', 'print the summary as one JSON object on the last line of stdout')
    .action(async (flags: RunFlags) => {
      await runCommand(flags, io);
      exitCode.value = EXIT.ok;
    });
  return program;
}

/** Runs the command line; returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const exitCode = { value: EXIT.ok };
  try {
    await buildProgram(io, exitCode).parseAsync([...argv], { from: 'user' });
    return exitCode.value;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; everything else it rejects is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof InputError) {
      io.stderr(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    io.stderr(`error: ${describeError(error)}\n`);
    return EXIT.failed;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

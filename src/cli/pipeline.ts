import { type Command, Option } from 'commander';
import { summarizeError } from '../common/errors';
import { DEFAULT_DATASET } from '../pipeline/datasets';
import { type Plan, RunFailedError, type RunSummary, planRun } from '../pipeline/drive';
import { runAndReport } from '../pipeline/report';
import { type StatusOutput, type StepTuning, type WeekStatus, windowStatusStep } from '../pipeline/steps';
import { type Window, addDays, describeWindow, utcDate } from '../pipeline/window';
import { type RunContext, prepareRun, withRun } from '../run/prepare';
import { SETTINGS } from '../run/settings';
import { STAGE_KINDS, type TargetDeps, WAREHOUSE_KINDS } from '../run/targets';
import { type CliIo, processIo, runAsCommand } from './io';
import { newProgram, runProgram } from './shared';

/** What tests replace: Azure credentials, the Key Vault stand-in's TLS trust, the Databricks driver, waits. */
export interface PipelineCliDeps extends TargetDeps {
  readonly tuning?: StepTuning;
  readonly sourceOptions?: RunContext['sourceOptions'];
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
  maxQuarantinePercent?: string;
  pagesInFlight?: string;
  json?: boolean;
}

const count = (value: number) => value.toLocaleString('en-US');

function formatSummary(summary: RunSummary): string {
  const reasons = Object.entries(summary.quarantineReasons)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const lines = [
    `${summary.dataset} ${describeWindow(summary.window)}${summary.chunks > 1 ? ` in ${summary.chunks} chunks` : ''}`,
    ...(summary.requestedWindow
      ? [`  clipped      from ${describeWindow(summary.requestedWindow)} to the dates the dataset has`]
      : []),
    `  fetched      ${count(summary.fetched)}  (${count(summary.requests)} source requests)`,
    `  staged       ${count(summary.staged)}  (${summary.parts.length} part file(s) in ${summary.stage})`,
    `  quarantined  ${count(summary.quarantined)}${reasons ? `  (${reasons}; see ${summary.quarantineFiles.join(', ')})` : ''}`,
    `  table        ${summary.table} in ${summary.warehouse}: ${count(summary.rowsInWindow)} rows in the window`,
    `  elapsed      ${(summary.elapsedMs / 1000).toFixed(1)}s`,
    `  verdict      ${summary.status} (quarantine limit ${summary.maxQuarantinePercent}% of fetched)`,
  ];
  if (summary.missingFields.length > 0) {
    lines.push(`  missing      no record carries ${summary.missingFields.join(', ')} (loaded as NULL)`);
  }
  if (summary.fetched === 0) {
    lines.push(`  no rows for this window; the newest date in the source is ${summary.newestInSource ?? '(none)'}`);
  }
  if (summary.status === 'stale')
    lines.push('  stale: the source has nothing this new (the dataset may no longer be updated)');
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
      'source requests (the count and the first pages together, then pages of the counted rows, several at once, until a short or empty page)',
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

function runContext(io: CliIo, deps: PipelineCliDeps, signal: AbortSignal | undefined): RunContext {
  return {
    env: io.env,
    cwd: io.cwd,
    now: io.now,
    progress: (message) => io.stderr(`${message}\n`),
    signal,
    deps,
    ...(deps.tuning ? { tuning: deps.tuning } : {}),
    ...(deps.sourceOptions ? { sourceOptions: deps.sourceOptions } : {}),
  };
}

/** Prints the result: for people on stdout, or as one JSON line last on stdout with the text on stderr. */
function report(io: CliIo, json: boolean | undefined, text: string, value: unknown): void {
  if (json) {
    io.stderr(text);
    io.stdout(`${JSON.stringify(value)}\n`);
  } else {
    io.stdout(text);
  }
}

async function runCommand(flags: RunFlags, io: CliIo, deps: PipelineCliDeps, signal: AbortSignal): Promise<void> {
  const prepared = await prepareRun(flags, { ...runContext(io, deps, signal), forWriting: true });
  const withRequest = (ran: RunSummary): RunSummary =>
    prepared.requestedWindow ? { ...ran, requestedWindow: prepared.requestedWindow } : ran;
  let summary: RunSummary;
  try {
    summary = withRequest(await withRun(prepared, (run) => runAndReport(run.ports, run.dataset, run.window)));
  } catch (error) {
    if (!(error instanceof RunFailedError)) throw error;
    // A failed verdict still shows what was fetched, staged and loaded; the JSON line follows from `onFailure`.
    const failed = withRequest(error.summary);
    if (flags.json) io.stderr(formatSummary(failed));
    else io.stdout(formatSummary(failed));
    throw new RunFailedError(failed, error.cause instanceof Error ? error.cause : error);
  }
  report(io, flags.json, formatSummary(summary), summary);
}

async function planCommand(flags: RunFlags, io: CliIo, deps: PipelineCliDeps): Promise<void> {
  const prepared = await prepareRun(flags, runContext(io, deps, undefined));
  const planned = await withRun(prepared, async (run) => planRun(run.ports, run.dataset, run.window));
  const plan = prepared.requestedWindow ? { ...planned, requestedWindow: prepared.requestedWindow } : planned;
  report(io, flags.json, formatPlan(plan), plan);
}

/** Weeks `status` shows without dates: the twelve Sunday–Saturday weeks before the last Sunday (the timer's weeks). */
export const STATUS_DEFAULT_WEEKS = 12;

/** `[last Sunday − 12 weeks, last Sunday)`, the last Sunday being today when today is one (UTC). */
export function defaultStatusWindow(now: Date): Window {
  const today = utcDate(now);
  const stop = addDays(today, -now.getUTCDay());
  return { start: addDays(stop, -7 * STATUS_DEFAULT_WEEKS), stop };
}

/**
 * A window widened to whole Sunday–Saturday weeks (the timer's weeks), so each row is a week a weekly run loads,
 * whatever dates were typed; it never starts before the dataset's first date or ends past `latest`.
 */
export function statusWeeks(window: Window, firstDate: string, latest: string): Window {
  const dayOfWeek = (date: string) => new Date(`${date}T00:00:00Z`).getUTCDay();
  const start = addDays(window.start, -dayOfWeek(window.start));
  const stop = dayOfWeek(window.stop) === 0 ? window.stop : addDays(window.stop, 7 - dayOfWeek(window.stop));
  return { start: start < firstDate ? firstDate : start, stop: stop > latest ? window.stop : stop };
}

const STATE_LABELS: Readonly<Record<WeekStatus['state'], string>> = {
  loaded: 'loaded',
  stale: 'stale',
  failed: 'failed',
  'never-run': 'never run',
};

function formatStatus(status: StatusOutput, requested: Window | undefined): string {
  const { counts } = status;
  const lastRun = (week: WeekStatus) => {
    const run = week.lastRun;
    if (!run) return '-';
    const over = run.start === week.start && run.stop === week.stop ? '' : ` over ${describeWindow(run)}`;
    const error = run.error ? `: ${run.error.message.split('\n', 1)[0]?.slice(0, 160)}` : '';
    return `${run.status} ${run.finishedAt.slice(0, 16).replace('T', ' ')} by ${run.instanceId}${over}${error}`;
  };
  const rows = status.weeks.map((week) => [
    `${week.start} .. ${addDays(week.stop, -1)}`,
    STATE_LABELS[week.state],
    count(week.rows),
    lastRun(week),
  ]);
  const widths = [0, 1, 2].map((column) =>
    Math.max(...[['week', 'state', 'rows'], ...rows].map((row) => (row[column] ?? '').length)),
  );
  const line = (row: readonly string[]) =>
    [
      (row[0] ?? '').padEnd(widths[0] ?? 0),
      (row[1] ?? '').padEnd(widths[1] ?? 0),
      (row[2] ?? '').padStart(widths[2] ?? 0),
      row[3] ?? '',
    ]
      .join('  ')
      .trimEnd();
  return `${[
    `${status.dataset} ${describeWindow(status.window)}: ${status.weeks.length} week(s), table ${status.table}`,
    ...(requested ? [`  clipped from ${describeWindow(requested)} to the dates the dataset has`] : []),
    `  loaded ${counts.loaded}, stale ${counts.stale}, failed ${counts.failed}, never run ${counts['never-run']}`,
    '',
    line(['week', 'state', 'rows', 'last run']),
    ...rows.map(line),
    '',
    'A week is failed when any of its days was last run by a run that failed, never run when any day was never run.',
    'Backfill modes: "failed" redoes the failed days, "missing" the weeks with no rows, "all" the whole range.',
  ].join('\n')}\n`;
}

async function statusCommand(flags: RunFlags, io: CliIo, deps: PipelineCliDeps): Promise<void> {
  const dates =
    flags.startDate === undefined && flags.stopDate === undefined
      ? (({ start, stop }) => ({ startDate: start, stopDate: stop }))(defaultStatusWindow(io.now()))
      : {};
  const prepared = await prepareRun({ ...flags, ...dates }, runContext(io, deps, undefined));
  const tomorrow = addDays(utcDate(io.now()), 1);
  const status = await withRun(prepared, (run) =>
    windowStatusStep(run.ports, {
      dataset: run.dataset.name,
      window: statusWeeks(run.window, run.dataset.firstDate, tomorrow),
    }),
  );
  const answer = prepared.requestedWindow ? { ...status, requestedWindow: prepared.requestedWindow } : status;
  report(io, flags.json, formatStatus(status, prepared.requestedWindow), answer);
}

function addRunOptions(command: Command): Command {
  return command
    .addOption(new Option('--dataset <name>', 'dataset definition').default(DEFAULT_DATASET))
    .option('--start-date <YYYY-MM-DD>', 'first day of the window (inclusive, UTC)')
    .option('--stop-date <YYYY-MM-DD>', 'day after the window (exclusive, UTC)')
    .option(
      '--source-url <url>',
      `a base the dataset's resource path is appended to, instead of https://data.ny.gov (env ${SETTINGS.sourceUrl})`,
    )
    .option('--app-token <token>', `Socrata app token (env ${SETTINGS.appToken}, or the socrata-source block)`)
    .option(
      '--data-dir <dir>',
      `local stage directory, DuckDB file and blocks.json (env ${SETTINGS.dataDir})`,
      undefined,
    )
    .addOption(
      new Option('--stage <kind>', `where staged files go (env ${SETTINGS.stage}; default local)`).choices(STAGE_KINDS),
    )
    .option(
      '--max-quarantine-percent <percent>',
      `the most of a window's fetched records that may be quarantined before it fails (env ${SETTINGS.maxQuarantinePercent}; default the dataset's own, else 1)`,
    )
    .option(
      '--pages-in-flight <n>',
      `page requests kept in flight at once, 1 to 8 (env ${SETTINGS.pagesInFlight}; default 4)`,
    )
    .addOption(
      new Option(
        '--warehouse <kind>',
        `which warehouse loads them (env ${SETTINGS.warehouse}; default duckdb)`,
      ).choices(WAREHOUSE_KINDS),
    )
    .option('--json', 'print the result as one JSON object on the last line of stdout');
}

function addStatusOptions(command: Command): Command {
  return command
    .addOption(new Option('--dataset <name>', 'dataset definition').default(DEFAULT_DATASET))
    .option('--start-date <YYYY-MM-DD>', 'first day of the first week (inclusive, UTC)')
    .option('--stop-date <YYYY-MM-DD>', 'day after the last week (exclusive, UTC)')
    .option('--data-dir <dir>', `local stage directory, DuckDB file and blocks.json (env ${SETTINGS.dataDir})`)
    .addOption(
      new Option('--stage <kind>', `where the run ledger is (env ${SETTINGS.stage}; default local)`).choices(
        STAGE_KINDS,
      ),
    )
    .addOption(
      new Option('--warehouse <kind>', `which table to count (env ${SETTINGS.warehouse}; default duckdb)`).choices(
        WAREHOUSE_KINDS,
      ),
    )
    .option('--json', 'print the weeks as one JSON object on the last line of stdout');
}

/**
 * Runs the command line; returns the exit code instead of exiting, so tests can call it. `signal` stops a run
 * (SIGINT and SIGTERM when run as a command). With `--json`, a failure still ends stdout with one JSON line.
 */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo,
  deps: PipelineCliDeps = {},
  signal: AbortSignal = new AbortController().signal,
): Promise<number> {
  const program = newProgram(
    'pipeline',
    'Fetch MTA Bridges & Tunnels traffic from Socrata, stage it and load it into a table.',
    io,
  );
  addRunOptions(
    program
      .command('run')
      .description(
        'fetch, check, stage and load a window (default: [today − 8 days, today − 1 day), on a Monday the Sunday–Saturday week before)',
      ),
  ).action((flags: RunFlags) => runCommand(flags, io, deps, signal));
  addRunOptions(
    program
      .command('plan')
      .description('print the window, source requests, staged paths and SQL a run would use; touches nothing'),
  ).action((flags: RunFlags) => planCommand(flags, io, deps));
  addStatusOptions(
    program
      .command('status')
      .description(
        `per week: loaded, stale, failed or never run (from the run ledger), rows in the table and the last run (default: the ${STATUS_DEFAULT_WEEKS} Sunday–Saturday weeks before the last Sunday)`,
      ),
  ).action((flags: RunFlags) => statusCommand(flags, io, deps));
  return runProgram(program, argv, io, {
    onFailure: (error) => {
      if (!argv.includes('--json')) return;
      const failed = error instanceof RunFailedError ? error.summary : { ok: false, error: summarizeError(error) };
      io.stdout(`${JSON.stringify(failed)}\n`);
    },
  });
}

if (require.main === module) {
  runAsCommand((signal) => main(process.argv.slice(2), processIo, {}, signal));
}

/**
 * `npm run bench`: the standalone pipeline end to end (Socrata stand-in → local stage → DuckDB) over generated
 * traffic rows, for a 2-year, a 6-month and a 4-week window, with one page in flight and with the default four;
 * beside it, as the reference the issue compares against, a port of the original flow's naive approach
 * (`naive-window.ts`). Each run is a fresh process over a fresh data directory, so its time (from process start,
 * start-up included) and peak RSS are its own; the stand-in runs in this process and records every request, with
 * how many were in flight when it came. Every case runs `BENCH_RUNS` times (default 3) and the median is shown.
 *
 * Two sources: one that answers every request after 1,000 ms, as a real API's round trip (where pages in flight
 * pay off), and one with no latency (where the CPU is all). Targets, each printed as met or not met:
 * - with 1,000 ms latency, the 2-year window at least 2.5× faster with four pages in flight than with one;
 * - with no latency, at least 100,000 rows/s end to end for the 2-year window, and no slower than the naive port;
 * - peak RSS of the 2-year window within 1.25× of the 6-month window's (both read full 50,000-row pages);
 * - at most floor(rows / 50,000) + 2 source requests.
 * The bench exits 0 whatever the figures: it measures, and says which targets were met.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_PAGES_IN_FLIGHT } from '../src/pipeline/source';
import { TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../test/support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../test/support/socrata-server';

const run = promisify(execFile);

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LATENCY_MS = 1_000;
const PAGE_SIZE = 50_000;

const WINDOWS = [
  { name: '2 years', start: '2023-01-01', stop: '2025-01-01' },
  // Beyond one source page (about 15 weeks of this dataset): memory should stay put from here to 2 years.
  { name: '6 months', start: '2023-01-01', stop: '2023-07-01' },
  { name: '4 weeks', start: '2023-01-01', stop: '2023-01-29' },
] as const;
type WindowCase = (typeof WINDOWS)[number];

/** What one run reports about itself (`run-window.ts`, `naive-window.ts`). */
interface RunReport {
  fetched: number;
  rowsInWindow: number;
  requests: number;
  processStartedAt: number;
  seconds: number;
  peakRssBytes: number;
}

interface Case {
  readonly flow: 'pipeline' | 'naive';
  readonly window: WindowCase;
  readonly pagesInFlight: number;
  readonly latencyMs: number;
}

interface Result extends Case {
  readonly rows: number;
  readonly requests: number;
  readonly mostInFlight: number;
  readonly seconds: number;
  readonly startupSeconds: number;
  readonly peakRssBytes: number;
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** One run in a fresh process over a fresh data directory, with what the stand-in saw of it. */
async function measureOnce(server: SocrataTestServer, which: Case) {
  const directory = await temporaryDirectory();
  try {
    server.requests.length = 0;
    const script = which.flow === 'pipeline' ? 'run-window.ts' : 'naive-window.ts';
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        join(__dirname, script),
        server.baseUrl,
        which.window.start,
        which.window.stop,
        directory.path,
        String(which.pagesInFlight),
      ],
      { maxBuffer: 1024 * 1024 },
    );
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RunReport;
    if (report.rowsInWindow !== report.fetched) {
      throw new Error(`${which.flow} ${which.window.name}: loaded ${report.rowsInWindow} of ${report.fetched} rows`);
    }
    const first = server.requests[0]?.receivedAt ?? Number.NaN;
    return {
      report,
      requests: server.requests.length,
      mostInFlight: server.maxInFlight,
      startupSeconds: (first - report.processStartedAt) / 1000,
    };
  } finally {
    await directory.remove();
  }
}

async function measure(server: SocrataTestServer, which: Case): Promise<Result> {
  const runs = [];
  for (let repeat = 0; repeat < RUNS; repeat += 1) runs.push(await measureOnce(server, which));
  const result: Result = {
    ...which,
    rows: runs[0]?.report.fetched ?? 0,
    requests: runs[0]?.requests ?? 0,
    mostInFlight: Math.max(...runs.map((r) => r.mostInFlight)),
    seconds: median(runs.map((r) => r.report.seconds)),
    startupSeconds: median(runs.map((r) => r.startupSeconds)),
    peakRssBytes: median(runs.map((r) => r.report.peakRssBytes)),
  };
  process.stderr.write(`  ${describe(result)}\n`);
  return result;
}

const count = (value: number) => Math.round(value).toLocaleString('en-US');
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

function describe(result: Result): string {
  const flow = result.flow === 'naive' ? 'naive port' : `pipeline N=${result.pagesInFlight}`;
  return [
    `${result.latencyMs} ms`.padEnd(8),
    result.window.name.padEnd(9),
    flow.padEnd(14),
    count(result.rows).padStart(8),
    String(result.requests).padStart(8),
    String(result.mostInFlight).padStart(9),
    result.seconds.toFixed(2).padStart(8),
    result.startupSeconds.toFixed(2).padStart(8),
    count(result.rows / result.seconds).padStart(9),
    mib(result.peakRssBytes).padStart(9),
  ].join('  ');
}

async function main(): Promise<void> {
  const rows = trafficRows('2023-01-01', '2025-01-01');
  // The stand-in keeps its answers, so its own work does not compete with the runs' for the machine's cores.
  const server = await startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows } }, { cacheAnswers: true });
  const results: Result[] = [];
  const N = DEFAULT_PAGES_IN_FLIGHT;
  try {
    process.stderr.write('warming the stand-in up (one unmeasured run of each flow and window)\n');
    for (const window of WINDOWS) {
      for (const flow of ['pipeline', 'naive'] as const)
        await measureOnce(server, { flow, window, pagesInFlight: N, latencyMs: 0 });
    }
    process.stderr.write(`median of ${RUNS} runs each\n`);
    for (const latencyMs of [LATENCY_MS, 0]) {
      server.latencyMs = latencyMs;
      for (const window of WINDOWS) {
        for (const pagesInFlight of [1, N]) {
          results.push(await measure(server, { flow: 'pipeline', window, pagesInFlight, latencyMs }));
        }
        results.push(await measure(server, { flow: 'naive', window, pagesInFlight: 1, latencyMs }));
      }
    }
  } finally {
    await server.close();
  }

  const header = [
    'latency ',
    'window   ',
    'run           ',
    '    rows',
    'requests',
    'in flight',
    ' seconds',
    'start-up',
    '   rows/s',
    ' peak RSS',
  ].join('  ');
  console.log(`\nmedian of ${RUNS} runs each; seconds from process start (start-up: until its first request)`);
  console.log(header);
  for (const result of results) console.log(describe(result));

  const find = (flow: Case['flow'], window: string, pagesInFlight: number, latencyMs: number) =>
    results.find(
      (r) =>
        r.flow === flow &&
        r.window.name === window &&
        r.latencyMs === latencyMs &&
        (flow === 'naive' || r.pagesInFlight === pagesInFlight),
    ) as Result;
  const targets: [string, boolean, string][] = [];
  const oneSlow = find('pipeline', '2 years', 1, LATENCY_MS);
  const manySlow = find('pipeline', '2 years', N, LATENCY_MS);
  const speedUp = oneSlow.seconds / manySlow.seconds;
  targets.push([
    `2-year window, ${LATENCY_MS} ms latency: N=${N} at least 2.5× faster than N=1`,
    speedUp >= 2.5,
    `${speedUp.toFixed(2)}× (${oneSlow.seconds.toFixed(2)} s → ${manySlow.seconds.toFixed(2)} s)`,
  ]);
  const free2y = find('pipeline', '2 years', N, 0);
  const rate = free2y.rows / free2y.seconds;
  targets.push([`2-year window, no latency: at least 100,000 rows/s`, rate >= 100_000, `${count(rate)} rows/s`]);
  const naiveFree = find('naive', '2 years', 1, 0);
  targets.push([
    '2-year window, no latency: no slower than the naive port',
    free2y.seconds <= naiveFree.seconds,
    `${free2y.seconds.toFixed(2)} s against ${naiveFree.seconds.toFixed(2)} s`,
  ]);
  const naiveSlow = find('naive', '2 years', 1, LATENCY_MS);
  targets.push([
    `2-year window, ${LATENCY_MS} ms latency: no slower than the naive port`,
    manySlow.seconds <= naiveSlow.seconds,
    `${manySlow.seconds.toFixed(2)} s against ${naiveSlow.seconds.toFixed(2)} s`,
  ]);
  for (const latencyMs of [LATENCY_MS, 0]) {
    const ratio =
      find('pipeline', '2 years', N, latencyMs).peakRssBytes / find('pipeline', '6 months', N, latencyMs).peakRssBytes;
    targets.push([
      `peak RSS, ${latencyMs} ms latency, N=${N}: 2 years within 1.25× of 6 months`,
      ratio <= 1.25,
      `${ratio.toFixed(2)}×`,
    ]);
  }
  const budget = Math.floor(manySlow.rows / PAGE_SIZE) + 2;
  targets.push([
    `2-year window: at most floor(rows / ${count(PAGE_SIZE)}) + 2 = ${budget} source requests`,
    manySlow.requests <= budget,
    `${manySlow.requests}`,
  ]);
  console.log('\ntargets');
  for (const [what, met, figure] of targets) console.log(`  ${met ? 'met    ' : 'NOT MET'}  ${what}: ${figure}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

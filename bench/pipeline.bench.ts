/**
 * `npm run bench`: the standalone pipeline end to end (Socrata stand-in → local stage → DuckDB) with
 * generated rows, for a 4-week and a 2-year window. Each run is a fresh process, so its peak RSS is its own;
 * the stand-in runs in this process. Every window runs `RUNS` times and the median is reported.
 * The stand-in charges every request a round trip like a real API's (`LATENCY_MS`), so the number of
 * requests shows in the time. Targets on a 2-core machine for the 2-year window: at most ceil(rows / 50,000) + 2
 * source requests, ≥ 100,000 rows/s, and a peak RSS within 1.25× of the 4-week one (memory must not grow with
 * the window).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../test/support/fixtures';
import { startSocrataServer } from '../test/support/socrata-server';

const run = promisify(execFile);

interface Measurement {
  fetched: number;
  rowsInWindow: number;
  requests: number;
  seconds: number;
  peakRssBytes: number;
}

const RUNS = 3;
const LATENCY_MS = 150;
const PAGE_SIZE = 50_000;
const MEMORY_TARGET = 1.25;

const WINDOWS = [
  { name: '4 weeks', start: '2023-01-01', stop: '2023-01-29' },
  // Beyond one source page (about 15 weeks of this dataset) memory should stay put: compare it with 2 years.
  { name: '6 months', start: '2023-01-01', stop: '2023-07-01' },
  { name: '2 years', start: '2023-01-01', stop: '2025-01-01' },
];

/** One run in a fresh process over a fresh data directory. */
async function measure(sourceUrl: string, window: (typeof WINDOWS)[number]): Promise<Measurement> {
  const directory = await temporaryDirectory();
  try {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', join(__dirname, 'run-window.ts'), sourceUrl, window.start, window.stop, directory.path],
      { maxBuffer: 1024 * 1024 },
    );
    const measurement = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Measurement;
    if (measurement.rowsInWindow !== measurement.fetched) {
      throw new Error(`${window.name}: loaded ${measurement.rowsInWindow} of ${measurement.fetched} rows`);
    }
    return measurement;
  } finally {
    await directory.remove();
  }
}

async function main(): Promise<void> {
  const rows = trafficRows('2023-01-01', '2025-01-01');
  const server = await startSocrataServer(
    { [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows } },
    { latencyMs: LATENCY_MS },
  );
  const results: (Measurement & { name: string })[] = [];
  try {
    for (const window of WINDOWS) {
      const runs: Measurement[] = [];
      for (let run = 0; run < RUNS; run += 1) runs.push(await measure(server.baseUrl, window));
      const median = (values: number[]) =>
        [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
      results.push({
        name: window.name,
        fetched: runs[0]?.fetched ?? 0,
        rowsInWindow: runs[0]?.rowsInWindow ?? 0,
        requests: runs[0]?.requests ?? 0,
        seconds: median(runs.map((r) => r.seconds)),
        peakRssBytes: median(runs.map((r) => r.peakRssBytes)),
      });
    }
  } finally {
    await server.close();
  }

  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
  console.log(`median of ${RUNS} runs each; the source answers every request after ${LATENCY_MS} ms`);
  console.log('window     rows        requests  rows/request  seconds   rows/s     peak RSS');
  for (const result of results) {
    const rate = Math.round(result.fetched / result.seconds);
    const perRequest = Math.round(result.fetched / result.requests);
    console.log(
      `${result.name.padEnd(10)} ${result.fetched.toLocaleString('en-US').padEnd(11)} ${String(result.requests).padEnd(9)} ${perRequest.toLocaleString('en-US').padEnd(13)} ${result.seconds.toFixed(2).padEnd(9)} ${rate.toLocaleString('en-US').padEnd(10)} ${mib(result.peakRssBytes)} MiB`,
    );
  }
  const [small, middle, large] = results;
  if (middle && large) {
    const ratio = large.peakRssBytes / middle.peakRssBytes;
    console.log(`2-year / 6-month peak memory: ${ratio.toFixed(2)}× (both read full 50,000-row pages)`);
  }
  if (small && large) {
    const ratio = large.peakRssBytes / small.peakRssBytes;
    const rate = large.fetched / large.seconds;
    const budget = Math.ceil(large.fetched / PAGE_SIZE) + 2;
    console.log(
      `2-year source requests: ${large.requests} (target ≤ ceil(rows / ${PAGE_SIZE.toLocaleString('en-US')}) + 2 = ${budget})`,
    );
    console.log(`2-year / 4-week peak memory: ${ratio.toFixed(2)}× (target ≤ ${MEMORY_TARGET.toFixed(2)}×)`);
    console.log(`2-year throughput: ${Math.round(rate).toLocaleString('en-US')} rows/s (target ≥ 100,000)`);
    if (large.requests > budget || ratio > MEMORY_TARGET || rate < 100_000) process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

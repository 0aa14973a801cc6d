/**
 * One measured run, in its own process so its peak memory is its own: the standalone pipeline (Socrata →
 * local stage → DuckDB) over one window, wired exactly as the command line wires it. Prints one JSON line with
 * the counts, the source requests, when the process started, its time from start to finish and its peak RSS.
 */
import { runWindow } from '../src/pipeline/drive';
import { prepareRun, withRun } from '../src/run/prepare';

async function measure(): Promise<void> {
  const [sourceUrl, start, stop, dataDir, pagesInFlight] = process.argv.slice(2);
  if (!sourceUrl || !start || !stop || !dataDir || !pagesInFlight) {
    throw new Error('usage: run-window.ts SOURCE_BASE_URL START STOP DATA_DIR PAGES_IN_FLIGHT');
  }
  const prepared = await prepareRun(
    { dataset: 'bnt-hourly-traffic', startDate: start, stopDate: stop, sourceUrl, dataDir, pagesInFlight },
    { env: {}, cwd: process.cwd(), now: () => new Date(), progress: () => undefined, forWriting: true },
  );
  const summary = await withRun(prepared, (run) => runWindow(run.ports, run.dataset, run.window));
  process.stdout.write(
    `${JSON.stringify({
      fetched: summary.fetched,
      rowsInWindow: summary.rowsInWindow,
      requests: summary.requests,
      processStartedAt: performance.timeOrigin,
      seconds: (Date.now() - performance.timeOrigin) / 1000,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    })}\n`,
  );
}

measure().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

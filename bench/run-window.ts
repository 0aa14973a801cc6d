/**
 * One measured run, in its own process so its peak memory is its own: the standalone pipeline (Socrata →
 * local stage → DuckDB) over one window. Prints one JSON line with the counts, the time and the peak RSS.
 */
import { BNT_HOURLY_TRAFFIC } from '../src/pipeline/datasets';
import { runWindow } from '../src/pipeline/run';
import { SocrataClient } from '../src/pipeline/source';
import { LocalStageStore } from '../src/stage/local';
import { DuckDbWarehouse } from '../src/warehouse/duckdb';

async function measure(): Promise<void> {
  const [resourceUrl, start, stop, dataDir] = process.argv.slice(2);
  if (!resourceUrl || !start || !stop || !dataDir) throw new Error('usage: run-window.ts URL START STOP DATA_DIR');
  const warehouse = new DuckDbWarehouse(`${dataDir}/warehouse.duckdb`);
  const started = process.hrtime.bigint();
  const summary = await runWindow({
    dataset: BNT_HOURLY_TRAFFIC,
    window: { start, stop },
    source: new SocrataClient({ resourceUrl }),
    stage: new LocalStageStore(dataDir),
    warehouse,
  });
  await warehouse.close();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(
    `${JSON.stringify({ fetched: summary.fetched, rowsInWindow: summary.rowsInWindow, seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
  );
}

measure().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

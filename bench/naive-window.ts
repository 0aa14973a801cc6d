/**
 * The reference the issue compares against: a port of the original flow's naive approach, run the same way as
 * `run-window.ts` (its own process, the same stand-in, the same table). The whole window is read into memory,
 * one page after another (`$limit` 50,000, `$offset` moving on until a page comes back short), written out as one
 * JSON Lines file and loaded with one INSERT. No count, no checks, no chunks, no manifest, no lock, no MERGE: what
 * the pipeline does on top of this is what it has to make up for.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const PAGE_SIZE = 50_000;
const FIELDS = 'plaza_id,date,hour,direction,vehicles_e_zpass,vehicles_vtoll';

async function measure(): Promise<void> {
  const [sourceUrl, start, stop, dataDir] = process.argv.slice(2);
  if (!sourceUrl || !start || !stop || !dataDir)
    throw new Error('usage: naive-window.ts SOURCE_BASE_URL START STOP DATA_DIR');
  const records: Record<string, string>[] = [];
  let requests = 0;
  for (let offset = 0; ; offset += PAGE_SIZE) {
    const url = new URL('/resource/qzve-kjga.json', sourceUrl);
    url.searchParams.set('$select', FIELDS);
    url.searchParams.set('$where', `date >= '${start}T00:00:00' AND date < '${stop}T00:00:00'`);
    url.searchParams.set('$order', 'date,plaza_id,hour,direction');
    url.searchParams.set('$limit', String(PAGE_SIZE));
    url.searchParams.set('$offset', String(offset));
    requests += 1;
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const page = (await response.json()) as Record<string, string>[];
    records.push(...page);
    if (page.length < PAGE_SIZE) break;
  }
  const file = join(dataDir, 'window.jsonl');
  await writeFile(file, records.map((record) => JSON.stringify(record)).join('\n'));

  const instance = await DuckDBInstance.create(join(dataDir, 'warehouse.duckdb'));
  const connection = await instance.connect();
  await connection.run('CREATE SCHEMA IF NOT EXISTS bronze');
  await connection.run(
    'CREATE TABLE IF NOT EXISTS bronze.bnt_traffic_hourly (plaza_id VARCHAR, date DATE, hour VARCHAR, direction VARCHAR, vehicles_e_zpass INTEGER, vehicles_vtoll INTEGER)',
  );
  await connection.run(
    `INSERT INTO bronze.bnt_traffic_hourly SELECT plaza_id, CAST(date AS DATE), hour, direction, CAST(vehicles_e_zpass AS INTEGER), CAST(vehicles_vtoll AS INTEGER) FROM read_json('${file}', format = 'newline_delimited', columns = {plaza_id: 'VARCHAR', date: 'VARCHAR', hour: 'VARCHAR', direction: 'VARCHAR', vehicles_e_zpass: 'VARCHAR', vehicles_vtoll: 'VARCHAR'})`,
  );
  const reader = await connection.runAndReadAll('SELECT count(*)::INTEGER AS n FROM bronze.bnt_traffic_hourly');
  const rowsInWindow = Number(reader.getRowObjects()[0]?.n);
  connection.closeSync();
  instance.closeSync();
  process.stdout.write(
    `${JSON.stringify({
      fetched: records.length,
      rowsInWindow,
      requests,
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

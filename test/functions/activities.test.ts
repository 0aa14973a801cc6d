import './support/core-standin';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvocationContext, type LogLevel } from '@azure/functions';
import { reportRun } from '../../src/functions/activities';
import { readLedger, readLedgerRecord } from '../../src/pipeline/ledger';
import type { ReportedRun } from '../../src/pipeline/steps';
import { LocalStageStore } from '../../src/stage/local';
import { temporaryDirectory } from '../support/fixtures';

function capture(): { context: InvocationContext; lines: [LogLevel, string][] } {
  const lines: [LogLevel, string][] = [];
  const context = new InvocationContext({
    functionName: 'reportRun',
    logHandler: (level, ...args) => lines.push([level, args.map(String).join(' ')]),
  });
  return { context, lines };
}

const run: ReportedRun = {
  dataset: 'bnt-hourly-traffic',
  start: '2026-11-15',
  stop: '2026-11-22',
  instanceId: 'bnt-hourly-traffic_2026-11-15_2026-11-22',
  status: 'completed',
  fetched: 3_360,
  staged: 3_360,
  quarantined: 0,
  rowsInWindow: 3_360,
  newestInSource: null,
  durationMs: 180_000,
  maxQuarantinePercent: 1,
  missingFields: [],
  finishedAt: '2026-11-23T12:03:00.000Z',
};

const input = (runs: ReportedRun[]) => ({
  instanceId: run.instanceId,
  dataset: run.dataset,
  window: { start: run.start, stop: run.stop },
  runs,
});

const summaryLines = (lines: [LogLevel, string][]) => lines.filter(([, line]) => line.startsWith('bnt.run.finished '));

describe('the reportRun activity', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  const saved = { ...process.env };
  before(async () => {
    directory = await temporaryDirectory();
    Object.assign(process.env, { BNT_STAGE: 'local', BNT_WAREHOUSE: 'duckdb', BNT_DATA_DIR: directory.path });
    delete process.env.KEY_VAULT_URL;
  });
  after(async () => {
    process.env = saved;
    await directory.remove();
  });

  it('writes each run’s ledger record, then exactly one bnt.run.finished line, fields in the documented order', async () => {
    const { context, lines } = capture();
    const outcome = await reportRun(input([run]), context);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    assert.deepEqual(summaryLines(lines), [
      [
        'information',
        'bnt.run.finished {"dataset":"bnt-hourly-traffic","start":"2026-11-15","stop":"2026-11-22","instanceId":"bnt-hourly-traffic_2026-11-15_2026-11-22","status":"completed","fetched":3360,"staged":3360,"quarantined":0,"rowsInWindow":3360,"newestInSource":null,"durationMs":180000,"maxQuarantinePercent":1,"missingFields":[],"finishedAt":"2026-11-23T12:03:00.000Z"}',
      ],
    ]);
    const stage = new LocalStageStore(directory.path);
    const [entry] = await readLedger(stage, run.dataset);
    assert.deepEqual(entry && (await readLedgerRecord(stage, entry)), {
      dataset: run.dataset,
      window: { start: run.start, stop: run.stop },
      status: 'completed',
      fetched: 3_360,
      staged: 3_360,
      quarantined: 0,
      rowsInWindow: 3_360,
      instanceId: run.instanceId,
      finishedAt: run.finishedAt,
    });
    // A retried activity writes the same record again, not a second one.
    await reportRun(input([run]), capture().context);
    assert.equal((await readLedger(stage, run.dataset)).length, 1);
  });

  it('logs a stale run as a warning and a failed one as an error, one line each', async () => {
    const { context, lines } = capture();
    await reportRun(
      input([
        { ...run, status: 'stale', staged: 0, newestInSource: '2025-04-12' },
        { ...run, status: 'failed', error: { kind: 'terminal', message: 'MERGE failed' } },
      ]),
      context,
    );
    assert.deepEqual(
      summaryLines(lines).map(([level, line]) => [level, JSON.parse(line.replace('bnt.run.finished ', '')).status]),
      [
        ['warning', 'stale'],
        ['error', 'failed'],
      ],
    );
    assert.match(
      summaryLines(lines)[1]?.[1] ?? '',
      /"error":\{"kind":"terminal","message":"MERGE failed"\},"maxQuarantinePercent":1,/,
    );
  });
});

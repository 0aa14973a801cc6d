/**
 * The verdict reaches the Durable activities from the core, not from the orchestration: `verifyWindow` fails a
 * window whose quarantined share is over its limit with a terminal outcome (Durable does not retry it), and the
 * stage step's output carries the limit and the missing fields for the summary line.
 */
import './support/core-standin';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvocationContext } from '@azure/functions';
import { loadWindows, stageWindow, verifyWindow } from '../../src/functions/activities';
import { TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const DATASET = 'bnt-hourly-traffic';
const WEEK = { start: '2024-01-07', stop: '2024-01-14' };
const INSTANCE = `${DATASET}_${WEEK.start}_${WEEK.stop}`;
const context = () => new InvocationContext({ functionName: 'activity', logHandler: () => undefined });

describe('the verdict in the activities', () => {
  let server: SocrataTestServer;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  const saved = { ...process.env };

  before(async () => {
    [server, directory] = await Promise.all([
      startSocrataServer({
        [`renamed/${TRAFFIC_ID}`]: {
          fields: TRAFFIC_FIELDS,
          rows: trafficRows(WEEK.start, WEEK.stop),
          misbehave: { rename: { plaza_id: 'plaza' } },
        },
      }),
      temporaryDirectory(),
    ]);
    Object.assign(process.env, {
      BNT_STAGE: 'local',
      BNT_WAREHOUSE: 'duckdb',
      BNT_DATA_DIR: directory.path,
      BNT_SOURCE_URL: server.baseFor('renamed'),
    });
    delete process.env.KEY_VAULT_URL;
    delete process.env.BNT_MAX_QUARANTINE_PERCENT;
  });
  after(async () => {
    process.env = saved;
    await server.close();
    await directory.remove();
  });

  test('verifyWindow fails an over-limit window as terminal, naming reasons and files; the stage output carries the limit', async () => {
    const run = { dataset: DATASET, window: WEEK, instanceId: INSTANCE };
    const staged = await stageWindow(run, context());
    assert.ok(staged.ok);
    assert.equal(staged.value.maxQuarantinePercent, 1);
    assert.deepEqual(staged.value.missingFields, ['plaza_id']);
    const loaded = await loadWindows({ ...run, windows: staged.value.chunks }, context());
    assert.ok(loaded.ok);
    const verified = await verifyWindow({ ...run, staged: staged.value.staged }, context());
    assert.ok(!verified.ok);
    assert.equal(verified.error.kind, 'terminal');
    assert.match(
      verified.error.message,
      /3,360 of 3,360 records \(100%\) were quarantined, over the 1% limit \(top reasons: missing_field 3,360; no record carries plaza_id; see stage\/bnt-hourly-traffic\/2024-01-07_2024-01-14\/_quarantine\.jsonl\)/,
    );

    process.env.BNT_MAX_QUARANTINE_PERCENT = '100';
    const relaxed = await verifyWindow({ ...run, staged: staged.value.staged }, context());
    assert.ok(relaxed.ok, JSON.stringify(relaxed));
  });
});

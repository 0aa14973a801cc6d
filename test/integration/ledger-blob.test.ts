/**
 * The run ledger on the Azure stage (Azurite): every window's latest state for a dataset costs one listing
 * request per 5,000 records, counted on the wire, never one read per window.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type LedgerRecord, readLedger, writeLedgerRecord } from '../../src/pipeline/ledger';
import { addDays } from '../../src/pipeline/window';
import { weekStates } from '../../src/pipeline/window-states';
import { BlobStageStore, LIST_PAGE_SIZE } from '../../src/stage/blob';
import { type Azurite, startAzurite } from '../support/azurite';
import { type CountingProxy, startCountingProxy } from '../support/counting-proxy';

const DATASET = 'bnt-hourly-crossings';
const WEEKS = 300;

describe('the run ledger on Blob Storage (Azurite)', () => {
  let azurite: Azurite;
  let proxy: CountingProxy;
  let stage: BlobStageStore;

  before(async () => {
    azurite = await startAzurite();
    const origin = new URL(azurite.blobEndpoint).origin;
    proxy = await startCountingProxy(origin);
    stage = BlobStageStore.withConnectionString(azurite.connectionString.replace(origin, proxy.origin), 'stage');
    // Two runs of each of 300 weeks (a failed one, then its rerun), and other datasets' records beside them.
    const records: LedgerRecord[] = [];
    for (let week = 0; week < WEEKS; week++) {
      const start = addDays('2019-01-06', 7 * week);
      const window = { start, stop: addDays(start, 7) };
      const base = { dataset: DATASET, window, fetched: 0, staged: 0, quarantined: 0, rowsInWindow: 0 };
      const id = `${DATASET}_${start}_${window.stop}`;
      records.push({
        ...base,
        status: 'failed',
        instanceId: id,
        finishedAt: `${addDays(window.stop, 1)}T12:00:00.000Z`,
      });
      if (week % 10 !== 0) {
        records.push({
          ...base,
          status: 'completed',
          instanceId: id,
          finishedAt: `${addDays(window.stop, 8)}T12:00:00.000Z`,
        });
      }
      if (week % 50 === 0)
        records.push({
          ...base,
          dataset: 'bnt-hourly-traffic',
          status: 'stale',
          instanceId: id,
          finishedAt: `${window.stop}T00:00:00.000Z`,
        });
    }
    for (let i = 0; i < records.length; i += 50) {
      await Promise.all(records.slice(i, i + 50).map((record) => writeLedgerRecord(stage, record)));
    }
  });
  after(async () => {
    await proxy.close();
    await azurite.stop();
  });

  it('answers every week’s latest state from one listing request, reading no record', async (t) => {
    proxy.requests.length = 0;
    const entries = await readLedger(stage, DATASET);
    const range = { start: '2019-01-06', stop: addDays('2019-01-06', 7 * WEEKS) };
    const states = weekStates(entries, range);
    assert.equal(entries.length, WEEKS + (WEEKS - WEEKS / 10));
    assert.equal(states.length, WEEKS);
    assert.equal(states.filter((week) => week.state === 'failed').length, WEEKS / 10, 'every tenth was never rerun');
    assert.equal(states.filter((week) => week.state === 'loaded').length, WEEKS - WEEKS / 10);
    const listings = proxy.requests.filter((request) => /[?&]comp=list\b/.test(request.url));
    t.diagnostic(
      `${entries.length} records of ${WEEKS} weeks: ${proxy.requests.length} request(s), ${listings.length} listing(s)`,
    );
    assert.equal(proxy.requests.length, 1, proxy.requests.map((request) => request.url).join('\n'));
    assert.equal(listings.length, 1);
    assert.match(listings[0]?.url ?? '', new RegExp(`[?&]maxresults=${LIST_PAGE_SIZE}\\b`), 'pages of 5,000 names');
    assert.match(listings[0]?.url ?? '', /[?&]prefix=ledger%2Fbnt-hourly-crossings%2F/);
  });

  it('lists nothing, and fails nothing, for a container that does not exist yet', async () => {
    const empty = BlobStageStore.withConnectionString(azurite.connectionString, 'not-created-yet');
    assert.deepEqual(await readLedger(empty, DATASET), []);
  });
});

import './support/core-standin';
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { handlePurgeHistory } from '../../src/functions/purgeHistory';
import { listInstancesOver } from '../../src/functions/shared/client';
import { InputError } from '../../src/common/errors';
import { DEFAULT_PURGE_AFTER_DAYS, purgeAfterDays } from '../../src/schedule/purge';
import { StandInDurableClient } from './support/durable-client';

const NOW = new Date('2026-11-30T03:30:00Z');

describe('the purge of old runs', () => {
  it('removes runs that finished more than N days ago, and nothing running or recent', async () => {
    const client = new StandInDurableClient()
      .set('old-completed', {
        name: 'w',
        runtimeStatus: 'Completed',
        createdTime: '2026-09-01T00:00:00Z',
        lastUpdatedTime: '2026-09-01T00:10:00Z',
      })
      .set('old-failed', {
        name: 'w',
        runtimeStatus: 'Failed',
        createdTime: '2026-10-01T00:00:00Z',
        lastUpdatedTime: '2026-10-01T00:10:00Z',
      })
      .set('old-but-finished-lately', {
        name: 'b',
        runtimeStatus: 'Completed',
        createdTime: '2026-10-20T00:00:00Z',
        lastUpdatedTime: '2026-11-05T00:00:00Z',
      })
      .set('old-running', {
        name: 'b',
        runtimeStatus: 'Running',
        createdTime: '2026-09-01T00:00:00Z',
        lastUpdatedTime: '2026-11-29T00:00:00Z',
      })
      .set('recent', {
        name: 'w',
        runtimeStatus: 'Completed',
        createdTime: '2026-11-23T12:00:00Z',
        lastUpdatedTime: '2026-11-23T12:05:00Z',
      });
    const lines: string[] = [];
    const purged = await handlePurgeHistory(client, { days: 30, now: () => NOW, log: (line) => lines.push(line) });
    assert.deepEqual(purged.sort(), ['old-completed', 'old-failed']);
    assert.deepEqual([...client.instances.keys()].sort(), ['old-but-finished-lately', 'old-running', 'recent']);
    assert.deepEqual(client.listQueries[0]?.query, {
      createdTimeTo: new Date('2026-10-31T03:30:00Z'),
      runtimeStatus: ['Completed', 'Failed', 'Terminated', 'Canceled'],
    });
    assert.match(lines[0] ?? '', /purged 2 runs finished before 2026-10-31T03:30:00.000Z \(30 days\)/);
  });

  it('reads BNT_PURGE_AFTER_DAYS: 30 by default, a whole number of days, else an error naming it', () => {
    assert.equal(purgeAfterDays(undefined), DEFAULT_PURGE_AFTER_DAYS);
    assert.equal(purgeAfterDays(''), 30);
    assert.equal(purgeAfterDays('7'), 7);
    for (const value of ['0', '-3', '2.5', 'week', '100000']) {
      assert.throws(
        () => purgeAfterDays(value),
        (error: unknown) =>
          error instanceof InputError && error.field === 'BNT_PURGE_AFTER_DAYS' && error.message.includes(value),
        value,
      );
    }
  });
});

describe('the instance list, as the extension’s HTTP API serves it', () => {
  let server: Server;
  let base: string;
  const seen: { url: URL; token: string | undefined }[] = [];
  const all = Array.from({ length: 5 }, (_, i) => ({
    name: 'windowOrchestrator',
    instanceId: `bnt-hourly-traffic_2026-11-0${i + 1}_2026-11-0${i + 2}`,
    runtimeStatus: 'Completed',
    input: null,
    output: { status: 'completed' },
    createdTime: `2026-11-0${i + 2}T12:00:00Z`,
    lastUpdatedTime: `2026-11-0${i + 2}T12:03:00Z`,
  }));

  before(async () => {
    server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const token = request.headers['x-ms-continuation-token'] as string | undefined;
      seen.push({ url, token });
      const offset = Number(token ?? 0);
      const top = Number(url.searchParams.get('top'));
      const next = offset + top;
      // The extension always sends the header; on the last page its value is empty.
      response.writeHead(200, {
        'content-type': 'application/json',
        'x-ms-continuation-token': next < all.length ? String(next) : '',
      });
      response.end(JSON.stringify(all.slice(offset, next)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/runtime/webhooks/durabletask/`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('asks for one page at a time, without inputs, with the filters in the query and the token in a header', async () => {
    const query = { createdTimeFrom: new Date('2026-10-26T00:00:00Z'), runtimeStatus: ['Completed', 'Failed'] };
    const first = await listInstancesOver(fetch, base, query, { pageSize: 2 });
    assert.deepEqual(
      first.instances.map((i) => i.instanceId),
      all.slice(0, 2).map((i) => i.instanceId),
    );
    assert.equal(first.continuationToken, '2');
    const last = await listInstancesOver(fetch, base, query, { pageSize: 2, continuationToken: '4' });
    assert.equal(last.instances.length, 1);
    assert.equal(last.continuationToken, undefined);
    const [request] = seen;
    assert.equal(request?.url.pathname, '/runtime/webhooks/durabletask/instances/');
    assert.equal(request?.url.searchParams.get('showInput'), 'false');
    assert.equal(request?.url.searchParams.get('top'), '2');
    assert.equal(request?.url.searchParams.get('runtimeStatus'), 'Completed,Failed');
    assert.equal(request?.url.searchParams.get('createdTimeFrom'), '2026-10-26T00:00:00.000Z');
    assert.equal(seen[1]?.token, '4');
  });
});

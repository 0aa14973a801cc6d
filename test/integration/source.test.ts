import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { InputError, TerminalError, TransientError } from '../../src/common/errors';
import { SocrataClient, SourceRequestError, windowQuery } from '../../src/pipeline/source';
import { FAST_RETRY, TRAFFIC_FIELDS, TRAFFIC_ID, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const window = { start: '2024-01-07', stop: '2024-01-09' }; // 2 days = 960 rows
const rows = trafficRows('2024-01-06', '2024-01-10');

describe('Socrata client', () => {
  let server: SocrataTestServer;
  before(async () => {
    server = await startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows } });
  });
  after(() => server.close());
  beforeEach(() => {
    server.requests.length = 0;
  });

  const client = (options: Partial<ConstructorParameters<typeof SocrataClient>[0]> = {}) =>
    new SocrataClient({ resourceUrl: server.resourceUrl(TRAFFIC_ID), retry: FAST_RETRY, ...options });

  /** The window's 960 rows, paged as staging pages them: the count is known before the first page. */
  async function fetchAll(source: SocrataClient, rowsCounted: number | Promise<number> = 960, expectedRows?: number) {
    const records = [];
    const pageSizes = [];
    for await (const page of source.pages(
      windowQuery(BNT_HOURLY_TRAFFIC, window),
      rowsCounted,
      undefined,
      expectedRows,
    )) {
      const before = records.length;
      for (const slice of page.slices) records.push(...slice);
      pageSizes.push(records.length - before);
    }
    return { records, pageSizes };
  }
  const pageOffsets = () =>
    server.requests
      .filter((r) => r.params.$limit)
      .map((r) => Number(r.params.$offset))
      .sort((a, b) => a - b);

  test('pages through the window with a stable $order and the window $where, ending at the short page', async () => {
    const { records, pageSizes } = await fetchAll(client({ pageSize: 300 }));
    assert.equal(records.length, 960);
    assert.deepEqual(pageSizes, [300, 300, 300, 60]);
    const keys = new Set(records.map((r) => `${r.plaza_id}|${r.date}|${r.hour}|${r.direction}`));
    assert.equal(keys.size, 960, 'no record is repeated or skipped');
    const resourceRequests = server.requests.filter((r) => r.params.$limit);
    for (const request of resourceRequests) {
      assert.equal(request.params.$order, 'date,plaza_id,hour,direction,:id');
      assert.equal(request.params.$where, "date >= '2024-01-07T00:00:00' AND date < '2024-01-09T00:00:00'");
    }
    // The count said 960: the page of 60 at offset 900 proves the end, so no empty page is asked for.
    assert.deepEqual(pageOffsets(), [0, 300, 600, 900]);
  });

  test('a result that ends exactly on the page size ends after one empty page, asked for with the last pages', async () => {
    server.answerTogether(3, { $limit: '480' });
    const { records, pageSizes } = await fetchAll(client({ pageSize: 480 }));
    assert.equal(records.length, 960);
    assert.deepEqual(pageSizes, [480, 480]);
    assert.deepEqual(pageOffsets(), [0, 480, 960]);
    assert.equal(server.maxInFlight, 3, 'the empty page went out beside the pages, not after them');
  });

  test('pages are requested side by side, as many as pagesInFlight and never more, and come out in order', async () => {
    for (const pagesInFlight of [1, 2, 4, 8]) {
      server.requests.length = 0;
      server.answerTogether(pagesInFlight, { $limit: '100' });
      const source = client({ pageSize: 100, pagesInFlight });
      const { records, pageSizes } = await fetchAll(source);
      assert.deepEqual(pageSizes, [100, 100, 100, 100, 100, 100, 100, 100, 100, 60]);
      assert.deepEqual(
        records.map((record) => record[':id']),
        [...records.map((record) => record[':id'])].sort(),
        'in the order of the result',
      );
      assert.equal(server.maxInFlight, pagesInFlight, `${pagesInFlight} in flight`);
      assert.ok(source.mostInFlight <= pagesInFlight);
      assert.equal(source.requests, 10);
    }
  });

  /** Page requests the stand-in has seen, once at least `count` of them have come (polled; the test's timeout bounds it). */
  async function pageRequestsOnceAtLeast(count: number) {
    while (pageOffsets().length < count) await new Promise((resolve) => setTimeout(resolve, 5));
    // Give a request that should not exist every chance to arrive before it is looked for.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return pageOffsets();
  }

  test('the pages the estimate surely fills go out beside the count, before it answers, within the pages in flight', async () => {
    const cases = [
      // 960 expected: half of it fills 4 pages of 100, and the count takes the fourth slot.
      { pagesInFlight: 4, expectedRows: 960, early: [0, 100, 200] },
      { pagesInFlight: 8, expectedRows: 960, early: [0, 100, 200, 300] },
      // Without an estimate, or with one too small to fill a page at half, only the first page goes before the count.
      { pagesInFlight: 4, expectedRows: undefined, early: [0] },
      { pagesInFlight: 4, expectedRows: 150, early: [0] },
      { pagesInFlight: 1, expectedRows: 960, early: [0] },
    ];
    for (const { pagesInFlight, expectedRows, early } of cases) {
      server.requests.length = 0;
      let answerCount = (_rows: number) => undefined as void;
      const counted = new Promise<number>((resolve) => {
        answerCount = resolve;
      });
      const source = client({ pageSize: 100, pagesInFlight });
      const fetched = fetchAll(source, counted, expectedRows);
      assert.deepEqual(
        await pageRequestsOnceAtLeast(early.length),
        early,
        `N=${pagesInFlight}, ${expectedRows} expected`,
      );
      answerCount(960);
      const { records, pageSizes } = await fetched;
      assert.equal(records.length, 960);
      assert.equal(new Set(records.map((record) => record[':id'])).size, 960);
      assert.deepEqual(pageSizes, [100, 100, 100, 100, 100, 100, 100, 100, 100, 60]);
      assert.equal(source.requests, 10, 'no page the result lacks was asked for');
    }
  });

  test('an estimate far above the truth costs a dropped page, never a row', async () => {
    const source = client({ pageSize: 500, pagesInFlight: 4 });
    // Ten times the truth: pages at 0, 500 and 1,000 go out before the count; the result ends at 960.
    const { records, pageSizes } = await fetchAll(source, 960, 9_600);
    assert.deepEqual(pageSizes, [500, 460]);
    assert.equal(new Set(records.map((record) => record[':id'])).size, 960);
    assert.deepEqual(pageOffsets(), [0, 500, 1000]);
    assert.equal(source.requests, 3, 'the page past the end is counted as a request');
  });

  test('refuses pages in flight outside 1–8', () => {
    for (const pagesInFlight of [0, 9, 2.5]) {
      assert.throws(() => client({ pagesInFlight }), /pages in flight .* must be a whole number from 1 to 8/);
    }
  });

  test('a 429 halves the pages in flight; answers under the lower limit raise it again, slowly', async () => {
    const pacing: string[] = [];
    server.answerTogether(4, { $limit: '100' });
    server.failOn({ $offset: '0' }, { kind: 'status', status: 429, retryAfterSeconds: 0 });
    const source = client({ pageSize: 100, pagesInFlight: 4, onPacing: (message) => pacing.push(message) });
    const { records } = await fetchAll(source);
    assert.equal(records.length, 960);
    assert.match(pacing[0] ?? '', /^the source throttled \(HTTP 429\): 2 requests in flight instead of 4/);
    assert.match(pacing[1] ?? '', /^the source answers again: 3 requests in flight \(at most 4\)$/);
    const arrivedWith = (offset: number) =>
      server.requests.find((request) => request.params.$offset === String(offset) && request.params.$limit)?.inFlight;
    for (const offset of [400, 500, 600]) {
      assert.ok(
        (arrivedWith(offset) ?? Infinity) <= 2,
        `page at ${offset} arrived with ${arrivedWith(offset)} in flight`,
      );
    }
  });

  test('a Retry-After longer than the cap is waited only up to it, and the retry says so', async () => {
    server.failNext({ kind: 'status', status: 429, retryAfterSeconds: 3600 });
    const limits: string[] = [];
    await client({
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5, maxServerDelayMs: 1_000 },
      onRetry: (event) => limits.push(`${event.delayMs} ${event.limit}`),
    }).count('hour = 1');
    assert.deepEqual(limits, ['1000 Retry-After 3600 s capped at 1 s; attempt 2 of 3']);
  });

  test('a server that sends short pages cannot end the result early: paging goes on from the rows received', async () => {
    // The first page comes back with 100 rows where 480 were asked for; paging carries on from row 100.
    server.failOn({ $offset: '0' }, { kind: 'status', status: 200, body: rows.slice(480, 580) });
    const { records, pageSizes } = await fetchAll(client({ pageSize: 480 }));
    assert.deepEqual(pageSizes, [100, 480, 380]);
    assert.equal(records.length, 960);
    assert.equal(new Set(records.map((record) => record[':id'] ?? JSON.stringify(record))).size, 960);
    const offsets = pageOffsets();
    assert.ok(offsets.includes(100) && offsets.includes(580), `offsets ${offsets.join(', ')}`);
  });

  test('stopping early abandons the requests in flight', async () => {
    server.failOn({ $offset: '100' }, { kind: 'stall' });
    for await (const page of client({ pageSize: 100 }).pages(windowQuery(BNT_HOURLY_TRAFFIC, window), 960)) {
      assert.equal(page.number, 1);
      break;
    }
    // close() in `after` would hang on the stalled request if it were still open; the loop did not wait for it.
  });

  test('an abort signal stops a query between retries', async () => {
    server.failNext(...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 503 })));
    const abandon = new AbortController();
    const slow = client({
      retry: { attempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 },
      onRetry: () => abandon.abort(new Error('stop now')),
    });
    await assert.rejects(slow.count('hour = 1', abandon.signal), /stop now/);
    const attempts = server.requests.filter((request) => request.params.$where === 'hour = 1');
    assert.equal(attempts.length, 1, 'no second attempt after the abort');
  });

  test('refuses a source URL that carries credentials or a query, without repeating them', () => {
    for (const resourceUrl of [
      `${server.resourceUrl(TRAFFIC_ID)}?$$app_token=secret`,
      'https://user:secret@data.ny.gov/resource/qzve-kjga.json',
      `${server.resourceUrl(TRAFFIC_ID)}?$limit=5&sig=secret`,
    ]) {
      assert.throws(
        () => client({ resourceUrl, urlField: 'BNT_SOURCE_URL' }),
        (error: Error) =>
          /^BNT_SOURCE_URL .* must not carry a user name, password, query or fragment/.test(error.message) &&
          !error.message.includes('secret'),
      );
    }
  });

  test('an app token that is no valid header value is refused before any request, without repeating it', () => {
    assert.throws(
      () => client({ appToken: 'SECRET\u0000X4' }),
      (error: Error) =>
        error instanceof InputError &&
        /not a valid HTTP header value/.test(error.message) &&
        !error.message.includes('SECRET'),
    );
    assert.equal(server.requests.length, 0);
  });

  test('refuses a page size above 50,000', () => {
    assert.throws(() => client({ pageSize: 50_001 }), /page size 50001/);
  });

  test('sends the app token as X-App-Token', async () => {
    await client({ appToken: 'token-123' }).count("date >= '2024-01-07T00:00:00'");
    assert.equal(server.requests[0]?.headers['x-app-token'], 'token-123');
  });

  test('retries throttling, server errors, resets and cut-off bodies, then succeeds', async () => {
    const retries: string[] = [];
    server.failNext(
      { kind: 'status', status: 429, retryAfterSeconds: 0 },
      { kind: 'status', status: 503 },
      { kind: 'reset' },
    );
    const { records } = await fetchAll(client({ pageSize: 500, onRetry: (e) => retries.push(String(e.error)) }));
    assert.equal(records.length, 960);
    assert.equal(retries.length, 3);
    // Two pages go out side by side, so which of them meets which fault first is theirs to race.
    for (const expected of [/HTTP 429/, /HTTP 503/, /request failed/]) {
      assert.ok(
        retries.some((retry) => expected.test(retry)),
        `${expected} among ${retries.join(' | ')}`,
      );
    }

    server.failNext({ kind: 'truncate' });
    const again = await fetchAll(client({ pageSize: 500, onRetry: (e) => retries.push(String(e.error)) }));
    assert.equal(again.records.length, 960);
    assert.match(retries[3] ?? '', /truncated or invalid JSON/);
    assert.equal(server.pendingFaults, 0);
  });

  test('honours Retry-After', async () => {
    server.failNext({ kind: 'status', status: 429, retryAfterSeconds: 1 });
    const delays: number[] = [];
    await client({
      onRetry: (e) => delays.push(e.delayMs),
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5_000 },
    }).count('hour = 1');
    assert.deepEqual(delays, [1000], 'the delay is the one the server asked for');
  });

  test('retries a request that times out', async () => {
    server.failNext({ kind: 'delay', ms: 2_000 });
    const retries: unknown[] = [];
    const count = await client({ timeoutMs: 200, onRetry: (e) => retries.push(e.error) }).count('hour = 1');
    assert.equal(count, 80);
    assert.match(String(retries[0]), /no complete answer in 0 s \(limit: request timeout\)/);
  });

  test('gives up after the policy runs out, saying how often it tried', async () => {
    server.failNext(...Array.from({ length: 4 }, () => ({ kind: 'status' as const, status: 500 })));
    await assert.rejects(
      client().count('hour = 1'),
      /failed after 4 attempts \(limit: 4 attempts\): the source answered HTTP 500/,
    );
    assert.equal(server.requests.length, 4);
  });

  test('does not retry a bad query, and surfaces the source message', async () => {
    const error = await client()
      .count('no_such_column = 1')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(error instanceof SourceRequestError);
    assert.equal(error.status, 400);
    assert.match(error.message, /query\.soql\.no-such-column.*no_such_column/);
    assert.equal(server.requests.length, 1);
  });

  test('surfaces the older error body shape', async () => {
    server.failNext({
      kind: 'status',
      status: 403,
      body: { message: 'Invalid app_token specified', errorCode: 'permission_denied' },
    });
    await assert.rejects(client().count('hour = 1'), /HTTP 403 \(permission_denied\): Invalid app_token specified/);
    assert.equal(server.requests.length, 1);
  });

  test('count and max read Socrata aggregates', async () => {
    const source = client();
    assert.equal(await source.count("date >= '2024-01-07T00:00:00' AND date < '2024-01-08T00:00:00'"), 480);
    assert.equal(await source.max('date'), '2024-01-09T00:00:00.000');
  });
});

/** Sources that stall, drip or send what no page can be. Each test has its own server, so unused faults never leak. */
describe('Socrata client against a misbehaving source', () => {
  let server: SocrataTestServer;
  beforeEach(async () => {
    server = await startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows } });
  });
  afterEach(() => server.close());

  const client = (options: Partial<ConstructorParameters<typeof SocrataClient>[0]> = {}) =>
    new SocrataClient({ resourceUrl: server.resourceUrl(TRAFFIC_ID), retry: FAST_RETRY, ...options });

  test('a stalled source is given up on within the retry budget, naming the limits that fired', async () => {
    server.failNext(...Array.from({ length: 20 }, () => ({ kind: 'stall' as const })));
    const retries: string[] = [];
    const error = await client({
      idleTimeoutMs: 100,
      retry: { attempts: 20, baseDelayMs: 1, maxDelayMs: 5, budgetMs: 1_000 },
      onRetry: (e) => retries.push(`${String(e.error)} ${e.limit}`),
    })
      .count('hour = 1')
      .then(
        () => undefined,
        (e: unknown) => e as TransientError,
      );
    assert.ok(error instanceof TransientError, 'an outer driver may try the whole step again later');
    assert.match(
      error.message,
      /gave up after \d+ s and \d+ attempts \(limit: 1 s in all\): no (data|complete answer) in 0 s/,
    );
    assert.match(retries[0] ?? '', /limit: idle timeout.*attempt 2 of 20, gives up 1 s after the first/);
    assert.ok(server.requests.length < 20, 'the budget, not the attempts, ended it');
  });

  test('a source that drips a byte at a time is cut off by the request timeout', async () => {
    server.failNext({ kind: 'drip', intervalMs: 20 });
    const retries: string[] = [];
    const count = await client({ timeoutMs: 300, onRetry: (e) => retries.push(String(e.error)) }).count('hour = 1');
    assert.equal(count, 80, 'the retry got the answer');
    assert.match(retries[0] ?? '', /limit: request timeout/);
  });

  test('a body larger than a page can hold is not parsed, and says why', async () => {
    server.failNext(...Array.from({ length: 4 }, () => ({ kind: 'huge' as const, bytes: 2 * 1024 * 1024 })));
    await assert.rejects(
      client({ maxBodyBytes: 1024 * 1024 }).count('hour = 1'),
      /more than 1 MB for one page of at most 50,000 rows \(limit: response size\); the answer was not parsed/,
    );
  });

  test('an HTML page where JSON was expected is retried, then reported as such', async () => {
    server.failNext(
      ...Array.from({ length: 4 }, () => ({ kind: 'status' as const, status: 200, body: '<html>maintenance</html>' })),
    );
    await assert.rejects(client().count('hour = 1'), /failed after 4 attempts .*truncated or invalid JSON body/);
  });
});

describe('redirects: the app token stays with the source', () => {
  let source: SocrataTestServer;
  let elsewhere: SocrataTestServer;
  before(async () => {
    [source, elsewhere] = await Promise.all([
      startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows } }),
      startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows } }),
    ]);
  });
  after(() => Promise.all([source.close(), elsewhere.close()]));
  beforeEach(() => {
    source.requests.length = 0;
    elsewhere.requests.length = 0;
  });

  const client = () =>
    new SocrataClient({
      resourceUrl: source.resourceUrl(TRAFFIC_ID),
      appToken: 'SECRET-TOKEN',
      urlField: 'BNT_SOURCE_URL',
      retry: FAST_RETRY,
    });
  const where = "date >= '2024-01-07T00:00:00' AND date < '2024-01-09T00:00:00'";

  test('a redirect within the source’s origin is followed, the token with it', async () => {
    source.failNext({ kind: 'redirect', status: 301, toBase: source.baseUrl });
    assert.equal(await client().count(where), 960);
    assert.equal(source.requests.length, 2);
    assert.equal(source.requests[1]?.headers['x-app-token'], 'SECRET-TOKEN');
  });

  test('a redirect to another origin is refused (terminal), naming the host and what to set; the token never goes', async () => {
    source.failNext({ kind: 'redirect', status: 302, toBase: elsewhere.baseUrl });
    const host = new URL(elsewhere.baseUrl).host;
    await assert.rejects(
      client().count(where),
      (error: Error) =>
        error instanceof TerminalError &&
        error.message.includes(`redirected (HTTP 302) to http://${host}/resource/${TRAFFIC_ID}.json, another origin`) &&
        error.message.includes(`If the data now lives at ${host}, set BNT_SOURCE_URL to http://${host}`) &&
        !error.message.includes('SECRET-TOKEN'),
    );
    assert.equal(source.requests.length, 1, 'not retried: another try would be redirected the same way');
    assert.deepEqual(elsewhere.requests, [], 'nothing, and so no token, reached the other origin');
  });

  test('a redirect loop within the origin ends after a bounded number of hops', async () => {
    const loop = { kind: 'redirect', status: 307, toBase: source.baseUrl } as const;
    source.failNext(loop, loop, loop, loop, loop, loop);
    await assert.rejects(client().count(where), /the source redirected more than 5 times/);
    assert.equal(source.requests.length, 6);
    assert.equal(source.pendingFaults, 0);
  });
});

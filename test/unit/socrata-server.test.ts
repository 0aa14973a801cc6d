import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  type GeneratedDataset,
  MAX_LIMIT,
  startSocrataServer,
  type SocrataTestServer,
  type TestDataset,
} from '../support/socrata-server';

const DATASET_ID = 'abcd-1234';
const DAYS = ['2024-01-05', '2024-01-06', '2024-01-07', '2024-01-08'];
const PLAZAS = ['21', '22'];
// Chosen so that string order (10 < 100 < 9) differs from numeric order (9 < 10 < 100).
const VOLUMES = ['9', '10', '100', '2', '1000', '35'];

/** 4 days x 3 hours x 2 plazas, stored newest day first so the server has to sort. */
function trafficRows(): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  let n = 0;
  for (const day of [...DAYS].reverse()) {
    for (const hour of ['2', '0', '1']) {
      for (const plaza of PLAZAS) {
        const row: Record<string, string> = { date: `${day}T00:00:00.000`, hour, plaza_id: plaza };
        // Every 7th row has a null vehicle count, which SODA sends by leaving the key out.
        if (n % 7 !== 3) row.vehicles = VOLUMES[n % VOLUMES.length] ?? '0';
        rows.push(row);
        n++;
      }
    }
  }
  return rows;
}

const TRAFFIC: TestDataset = {
  fields: { date: 'floating_timestamp', hour: 'number', plaza_id: 'text', vehicles: 'number' },
  rows: trafficRows(),
};

/** Runs `body` against a fresh server so queued faults and recorded requests never leak between tests. */
async function withServer(
  body: (server: SocrataTestServer) => Promise<void>,
  datasets: Record<string, TestDataset | GeneratedDataset> = { [DATASET_ID]: TRAFFIC },
): Promise<void> {
  const server = await startSocrataServer(datasets);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

function queryUrl(server: SocrataTestServer, params: Record<string, string>, datasetId = DATASET_ID): string {
  const url = new URL(server.resourceUrl(datasetId));
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

async function getJson(server: SocrataTestServer, params: Record<string, string>, datasetId = DATASET_ID) {
  const response = await fetch(queryUrl(server, params, datasetId));
  return { status: response.status, headers: response.headers, body: await response.json() };
}

async function getRows(server: SocrataTestServer, params: Record<string, string>): Promise<Record<string, string>[]> {
  const { status, body } = await getJson(server, params);
  assert.equal(status, 200, JSON.stringify(body));
  return body as Record<string, string>[];
}

const byContent = (rows: ReadonlyArray<Record<string, string>>) => rows.map((row) => JSON.stringify(row)).sort();

test('paging with $limit/$offset over $order returns every row exactly once, in order', async () => {
  await withServer(async (server) => {
    const seen: Record<string, string>[] = [];
    for (let offset = 0; ; offset += 5) {
      const page = await getRows(server, { $order: 'date ASC, hour, :id', $limit: '5', $offset: String(offset) });
      seen.push(...page);
      if (page.length < 5) break;
    }
    assert.deepEqual(byContent(seen), byContent(TRAFFIC.rows));
    const sortKeys = seen.map((row) => `${row.date}|${(row.hour ?? '').padStart(2, '0')}`);
    assert.deepEqual(sortKeys, [...sortKeys].sort());
  });
});

test('rows carry only strings and leave null fields out; headers describe the fields', async () => {
  await withServer(async (server) => {
    const { status, headers, body } = await getJson(server, { $order: ':id' });
    assert.equal(status, 200);
    assert.deepEqual(body, TRAFFIC.rows); // `:id` order is the stored order
    assert.equal(headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(headers.get('x-soda2-fields') ?? ''), ['date', 'hour', 'plaza_id', 'vehicles']);
    assert.deepEqual(JSON.parse(headers.get('x-soda2-types') ?? ''), [
      'floating_timestamp',
      'number',
      'text',
      'number',
    ]);
    assert.ok(!Number.isNaN(Date.parse(headers.get('last-modified') ?? '')));
  });
});

test('$where window filter on a floating timestamp accepts a literal shorter than the stored value', async () => {
  await withServer(async (server) => {
    const window = await getRows(server, { $where: "date >= '2024-01-06T00:00:00' and date < '2024-01-07T00:00:00'" });
    assert.equal(window.length, 6);
    assert.ok(window.every((row) => row.date === '2024-01-06T00:00:00.000'));

    const equal = await getRows(server, { $where: "date = '2024-01-06' AND hour > 0 AND plaza_id != '22'" });
    assert.deepEqual(equal.map((row) => row.hour).sort(), ['1', '2']);
  });
});

test('number fields order numerically (nulls first), and DESC reverses', async () => {
  await withServer(async (server) => {
    const expected = TRAFFIC.rows
      .map((row) => row.vehicles)
      .sort((a, b) => (a === undefined ? -1 : b === undefined ? 1 : Number(a) - Number(b)));
    const ascending = await getRows(server, { $order: 'vehicles' });
    assert.deepEqual(
      ascending.map((row) => row.vehicles),
      expected,
    );
    const descending = await getRows(server, { $order: 'vehicles DESC' });
    assert.deepEqual(
      descending.map((row) => row.vehicles),
      [...expected].reverse(),
    );
    // A numeric literal compares numerically too: '9' < '10' only as numbers.
    const small = await getRows(server, { $where: 'vehicles < 10' });
    assert.ok(small.length > 0 && small.every((row) => Number(row.vehicles) < 10));
  });
});

test('a plain $select returns the named columns (aliased, nulls left out); all fields in order is the stored row', async () => {
  await withServer(async (server) => {
    const all = await getRows(server, { $select: 'date,hour,plaza_id,vehicles', $order: ':id' });
    assert.deepEqual(all, TRAFFIC.rows);

    const { headers, body } = await getJson(server, {
      $select: 'plaza_id, vehicles AS v, :id',
      $order: ':id',
      $limit: '4',
    });
    assert.deepEqual(body, [
      { plaza_id: '21', v: '9', ':id': 'row-00000000' },
      { plaza_id: '22', v: '10', ':id': 'row-00000001' },
      { plaza_id: '21', v: '100', ':id': 'row-00000002' },
      { plaza_id: '22', ':id': 'row-00000003' }, // null vehicles
    ]);
    assert.deepEqual(JSON.parse(headers.get('x-soda2-fields') ?? ''), ['plaza_id', 'v', ':id']);
  });
});

test('count(*) and max() work with and without alias, respect $where, and leave max out over no rows', async () => {
  await withServer(async (server) => {
    assert.deepEqual(await getRows(server, { $select: 'count(*)' }), [{ count: '24' }]);
    assert.deepEqual(await getRows(server, { $select: 'max(date)' }), [{ max_date: '2024-01-08T00:00:00.000' }]);
    assert.deepEqual(await getRows(server, { $select: 'COUNT(*) AS n, max(vehicles) as top' }), [
      { n: '24', top: '1000' },
    ]);
    assert.deepEqual(await getRows(server, { $select: 'count(*)', $where: "date < '2024-01-06T00:00:00'" }), [
      { count: '6' },
    ]);

    const empty = { $where: "date > '2030-01-01T00:00:00'" };
    assert.deepEqual(await getRows(server, { ...empty, $select: 'count(*)' }), [{ count: '0' }]);
    assert.deepEqual(await getRows(server, { ...empty, $select: 'max(date)' }), [{}]);
    const { headers } = await getJson(server, { ...empty, $select: 'max(date) AS latest' });
    assert.deepEqual(JSON.parse(headers.get('x-soda2-fields') ?? ''), ['latest']);
    assert.deepEqual(JSON.parse(headers.get('x-soda2-types') ?? ''), ['floating_timestamp']);
  });
});

test('$limit defaults to 1000, accepts 50000, and above 50000 is rejected with 400', async () => {
  const many = { ...TRAFFIC, rows: Array.from({ length: 1500 }, (_, index) => ({ hour: String(index % 24) })) };
  await withServer(
    async (server) => {
      assert.equal((await getRows(server, {})).length, 1000);
      assert.equal((await getRows(server, { $limit: String(MAX_LIMIT) })).length, 1500);
      const rejected = await getJson(server, { $limit: String(MAX_LIMIT + 1) });
      assert.equal(rejected.status, 400);
      assert.match((rejected.body as { code: string }).code, /^query\.soql\./);
    },
    { [DATASET_ID]: many },
  );
});

test('an unknown column in $where, $order or $select is a 400 with query.soql.no-such-column', async () => {
  await withServer(async (server) => {
    const queries: Record<string, string>[] = [
      { $where: "nope > '1'" },
      { $order: 'date, nope DESC' },
      { $select: 'max(nope)' },
    ];
    for (const params of queries) {
      const { status, body } = await getJson(server, params);
      assert.equal(status, 400, JSON.stringify(params));
      assert.deepEqual(body, {
        code: 'query.soql.no-such-column',
        error: true,
        message: 'No such column: nope',
        data: {},
      });
    }
  });
});

test('an unparseable or mistyped $where is a 400 with a query.soql.* code and a message', async () => {
  await withServer(async (server) => {
    for (const where of ["date >= '2024-01-06' OR hour = 1", 'date >=', "date >= 'yesterday'", 'plaza_id = 21']) {
      const { status, body } = await getJson(server, { $where: where });
      const error = body as { code: string; error: boolean; message: string };
      assert.equal(status, 400, where);
      assert.match(error.code, /^query\.soql\./, where);
      assert.equal(error.error, true);
      assert.ok(error.message.length > 0);
    }
  });
});

test('an unknown dataset is a 404 not_found', async () => {
  await withServer(async (server) => {
    const { status, body } = await getJson(server, {}, 'zzzz-9999');
    assert.equal(status, 404);
    assert.deepEqual(body, { code: 'not_found', error: true, message: 'Dataset not found', data: {} });
  });
});

test('a status fault answers once with that status, body and Retry-After, then the server recovers', async () => {
  await withServer(async (server) => {
    server.failNext(
      { kind: 'status', status: 429, retryAfterSeconds: 2 },
      { kind: 'status', status: 500, body: { oops: 1 } },
    );
    const throttled = await fetch(server.resourceUrl(DATASET_ID));
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get('retry-after'), '2');
    assert.equal(((await throttled.json()) as { error: boolean }).error, true);

    const failed = await fetch(server.resourceUrl(DATASET_ID));
    assert.equal(failed.status, 500);
    assert.deepEqual(await failed.json(), { oops: 1 });

    assert.equal((await fetch(server.resourceUrl(DATASET_ID))).status, 200);
    assert.equal(server.pendingFaults, 0);
    assert.equal(server.requests.length, 3); // faulted requests are recorded too
  });
});

test('a truncate fault sends 200 with the first part of the real body, which is invalid JSON', async () => {
  await withServer(async (server) => {
    const url = queryUrl(server, { $order: ':id' });
    server.failNext({ kind: 'truncate' });
    const truncated = await fetch(url);
    assert.equal(truncated.status, 200);
    const partial = await truncated.text();
    assert.throws(() => JSON.parse(partial), SyntaxError);

    const whole = await (await fetch(url)).text();
    assert.ok(partial.length > 0 && partial.length < whole.length);
    assert.ok(whole.startsWith(partial));
  });
});

test('a reset fault destroys the connection, so fetch rejects', async () => {
  await withServer(async (server) => {
    server.failNext({ kind: 'reset' });
    await assert.rejects(fetch(server.resourceUrl(DATASET_ID)), TypeError);
    assert.equal((await fetch(server.resourceUrl(DATASET_ID))).status, 200);
    assert.equal(server.requests.length, 2);
  });
});

test('a delay fault answers normally but late, so a client timeout fires first', async () => {
  await withServer(async (server) => {
    server.failNext({ kind: 'delay', ms: 1_000 }, { kind: 'delay', ms: 100 });
    await assert.rejects(fetch(server.resourceUrl(DATASET_ID), { signal: AbortSignal.timeout(50) }), {
      name: 'TimeoutError',
    });

    const started = performance.now();
    const late = await fetch(queryUrl(server, { $select: 'count(*)' }));
    assert.ok(performance.now() - started >= 90);
    assert.deepEqual(await late.json(), [{ count: '24' }]);
    // close() (in withServer) must not wait for the first, abandoned delay.
  });
});

test('faults apply only to resource requests, in the order queued', async () => {
  await withServer(async (server) => {
    server.failNext({ kind: 'status', status: 503 });
    assert.equal((await fetch(`${server.baseUrl}/api/views/${DATASET_ID}.json`)).status, 404);
    assert.equal(server.pendingFaults, 1);
    assert.equal((await fetch(server.resourceUrl(DATASET_ID))).status, 503);
  });
});

test('the X-App-Token header and the query parameters of each request are recorded', async () => {
  await withServer(async (server) => {
    await fetch(queryUrl(server, { $limit: '2', $order: ':id' }), { headers: { 'X-App-Token': 'token-123' } });
    await fetch(server.resourceUrl(DATASET_ID));
    assert.deepEqual(
      server.requests.map((request) => [request.path, request.params, request.headers['x-app-token']]),
      [
        [`/resource/${DATASET_ID}.json`, { $limit: '2', $order: ':id' }, 'token-123'],
        [`/resource/${DATASET_ID}.json`, {}, undefined],
      ],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Range search: a $where bounding the leading column of a sorted order is answered by binary search
// on that order. These tests run each query against a server with the range search and one
// without (every row checked) and require byte-identical answers.
// ---------------------------------------------------------------------------------------------

/** TRAFFIC plus rows whose keys equal others' but whose stored strings differ, a null date and an unparseable number. */
const RANGE_DATASET: TestDataset = {
  ...TRAFFIC,
  rows: [
    ...TRAFFIC.rows,
    { date: '2024-01-07T00:00', hour: '1', plaza_id: '23', vehicles: '100.0' },
    { hour: '0', plaza_id: '23', vehicles: '10' }, // null date
    { date: '2024-01-06', hour: '2', plaza_id: '23', vehicles: 'n/a' }, // behaves like null
    { date: '2024-01-08T00:00:00.000', hour: '3', plaza_id: '20', vehicles: '1000' },
  ],
};

async function withBothServers(
  datasets: Record<string, TestDataset>,
  body: (fast: SocrataTestServer, slow: SocrataTestServer) => Promise<void>,
): Promise<void> {
  const fast = await startSocrataServer(datasets);
  const slow = await startSocrataServer(datasets, { rangeSearch: false });
  try {
    await body(fast, slow);
  } finally {
    await Promise.all([fast.close(), slow.close()]);
  }
}

/** The answer of both servers, which must be 200 and identical (body and headers). */
async function sameAnswer(
  fast: SocrataTestServer,
  slow: SocrataTestServer,
  params: Record<string, string>,
  datasetId = DATASET_ID,
): Promise<string> {
  const answers = await Promise.all(
    [fast, slow].map(async (server) => {
      const response = await fetch(queryUrl(server, params, datasetId));
      const fields = response.headers.get('x-soda2-fields');
      return {
        status: response.status,
        fields,
        types: response.headers.get('x-soda2-types'),
        body: await response.text(),
      };
    }),
  );
  const [withSearch, withScan] = answers;
  assert.equal(withSearch?.status, 200, `${JSON.stringify(params)}: ${withSearch?.body}`);
  assert.deepEqual(withSearch, withScan, JSON.stringify(params));
  return withSearch?.body ?? '';
}

const RANGE_WHERES = [
  // Windows whose edges equal stored values, given shorter than the stored timestamps.
  "date >= '2024-01-06T00:00:00' AND date < '2024-01-07T00:00:00'",
  "date >= '2024-01-06' AND date <= '2024-01-07'",
  "date > '2024-01-05' AND date <= '2024-01-08T00:00:00.000'",
  "date = '2024-01-07'",
  // Edges between stored values, and empty windows: between two days, past either end, contradictory.
  "date >= '2024-01-05T12:00:00' AND date < '2024-01-07T06:30'",
  "date > '2024-01-06' AND date < '2024-01-07'",
  "date >= '2030-01-01'",
  "date < '2000-01-01'",
  "date > '2024-01-08'",
  "date < '2024-01-05'",
  "date >= '2024-01-07' AND date < '2024-01-06'",
  // Extra terms that are not on the leading column, or not a range (!=), checked row by row.
  "date >= '2024-01-06' AND date < '2024-01-08' AND hour > 0 AND plaza_id != '22'",
  "date != '2024-01-06' AND date <= '2024-01-07'",
  "hour >= 1 AND date < '2024-01-07' AND vehicles > 9",
  // Number columns compare numerically (9 < 10 < 100), nulls and unparseable values never match.
  'vehicles >= 10 AND vehicles <= 100',
  'vehicles < 10',
  'vehicles = 100',
  'vehicles > 5000',
  'hour = 2 AND hour > 1',
  // Text and the row id.
  "plaza_id > '21'",
  "plaza_id = '22' AND date >= '2024-01-07'",
  ":id >= 'row-00000005' AND :id < 'row-00000010'",
];

const RANGE_ORDERS = [
  undefined,
  'date,plaza_id,hour,:id',
  'date DESC, hour',
  'date',
  'vehicles',
  'vehicles DESC, :id',
  'plaza_id DESC, date',
  'hour',
  ':id',
];

test('range search gives the same rows, counts and aggregates as checking every row', async () => {
  await withBothServers({ [DATASET_ID]: RANGE_DATASET }, async (fast, slow) => {
    for (const where of RANGE_WHERES) {
      // count(*) and max/min without $order first, so these also run before any sort is cached.
      await sameAnswer(fast, slow, { $select: 'count(*)', $where: where });
      await sameAnswer(fast, slow, { $select: 'count(vehicles), max(vehicles), min(date), max(date)', $where: where });
      for (const order of RANGE_ORDERS) {
        const ordered: Record<string, string> = order === undefined ? {} : { $order: order };
        await sameAnswer(fast, slow, { ...ordered, $where: where });
        await sameAnswer(fast, slow, {
          ...ordered,
          $where: where,
          $select: 'plaza_id, date AS d, :id',
          $limit: '3',
          $offset: '2',
        });
        await sameAnswer(fast, slow, { ...ordered, $where: where, $select: 'count(*)' });
        await sameAnswer(fast, slow, { ...ordered, $where: where, $select: 'max(vehicles), min(vehicles)' });
      }
    }
    // Simple filters are equality terms too.
    await sameAnswer(fast, slow, { plaza_id: '21', $order: 'plaza_id, :id' });
    await sameAnswer(fast, slow, { date: '2024-01-06', hour: '2', $order: 'date DESC' });
    assert.ok(fast.rangeSearches > 0);
    assert.equal(slow.rangeSearches, 0);
  });
});

test('range search is used for a bounded leading $order column and for count(*) without $order, not otherwise', async () => {
  await withBothServers({ [DATASET_ID]: RANGE_DATASET }, async (fast, slow) => {
    const searched = async (params: Record<string, string>) => {
      const before = fast.rangeSearches;
      await sameAnswer(fast, slow, params);
      return fast.rangeSearches - before;
    };
    const window = "date >= '2024-01-06' AND date < '2024-01-08' AND hour > 0";
    assert.equal(await searched({ $where: window, $order: 'date,plaza_id,hour,:id' }), 1);
    assert.equal(await searched({ $where: window, $order: 'date,plaza_id,hour,:id', $offset: '5' }), 0); // cached
    assert.equal(await searched({ $where: window, $order: 'date DESC' }), 1);
    assert.equal(await searched({ $where: window, $select: 'count(*)' }), 1);
    assert.equal(await searched({ $where: window }), 1);
    // The leading $order column is unbounded (hour > 0 is not on it), or only excluded with !=.
    assert.equal(await searched({ $where: window, $order: 'plaza_id, date' }), 0);
    assert.equal(await searched({ $where: "date != '2024-01-06'", $order: 'date' }), 0);
    assert.equal(await searched({ $where: "plaza_id != '21'", $select: 'count(*)' }), 0);
  });
});

test("range search matches the full scan for the pipeline's window queries over generated traffic", async () => {
  const rows = generatedTrafficRows('2024-01-01', '2024-03-01');
  const datasets = { [DATASET_ID]: { fields: GENERATED_FIELDS, rows } };
  await withBothServers(datasets, async (fast, slow) => {
    let total = 0;
    // Windows starting at, between and beyond the stored days.
    for (const [start, stop] of [
      ['2023-12-01', '2024-01-01'],
      ['2024-01-01', '2024-01-29'],
      ['2024-01-29', '2024-02-26'],
      ['2024-02-26', '2024-03-25'],
      ['2024-03-25', '2024-04-22'],
    ]) {
      const where = `date >= '${start}T00:00:00' AND date < '${stop}T00:00:00'`;
      const count = Number(
        (JSON.parse(await sameAnswer(fast, slow, { $select: 'count(*)', $where: where })) as { count: string }[])[0]
          ?.count,
      );
      for (let offset = 0; offset < count || offset === 0; offset += 1000) {
        const params = {
          $select: Object.keys(GENERATED_FIELDS).join(','),
          $where: where,
          $order: 'date,plaza_id,hour,direction,:id',
          $limit: '1000',
          $offset: String(offset),
        };
        total += (JSON.parse(await sameAnswer(fast, slow, params)) as unknown[]).length;
      }
    }
    assert.equal(total, rows.length);
  });
});

const GENERATED_FIELDS: TestDataset['fields'] = {
  plaza_id: 'text',
  date: 'floating_timestamp',
  hour: 'number',
  direction: 'text',
  vehicles: 'number',
};

/** Like the benchmark's rows (2 plazas x 24 hours x 2 directions a day), stored plaza by plaza so the server has to sort. */
function generatedTrafficRows(start: string, stop: string): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  for (const plaza of ['22', '21']) {
    for (let day = Date.parse(`${start}T00:00:00Z`); day < Date.parse(`${stop}T00:00:00Z`); day += 86_400_000) {
      for (let hour = 0; hour < 24; hour += 1) {
        for (const direction of ['O', 'I']) {
          rows.push({
            plaza_id: plaza,
            date: `${new Date(day).toISOString().slice(0, 10)}T00:00:00.000`,
            hour: String(hour),
            direction,
            vehicles: String((rows.length * 37) % 1000),
          });
        }
      }
    }
  }
  return rows;
}

test('a misbehaving dataset ignores $order as told, the same way on every page, and can rename a column', async () => {
  const ordered = { $order: 'date, hour, plaza_id, :id' };
  await withServer(
    async (server) => {
      const asked = await getRows(server, ordered);
      const rowsOf = async (id: string) => (await getJson(server, ordered, id)).body as Record<string, string>[];
      assert.deepEqual(await rowsOf('reversed/x'), [...asked].reverse());
      assert.deepEqual(await rowsOf('late/x'), [...asked.slice(2), ...asked.slice(0, 2)]);
      const shuffled = await rowsOf('shuffled/x');
      assert.deepEqual(byContent(shuffled), byContent(asked));
      assert.notDeepEqual(shuffled, asked);
      const paged: Record<string, string>[] = [];
      for (let offset = 0; offset < asked.length; offset += 5) {
        const page = await getJson(server, { ...ordered, $limit: '5', $offset: String(offset) }, 'shuffled/x');
        paged.push(...(page.body as Record<string, string>[]));
      }
      assert.deepEqual(paged, shuffled, 'pages of one query agree, so only the order is wrong');
      const dateOnly = await rowsOf('by-date/x');
      assert.deepEqual(
        dateOnly.map((row) => row.date),
        asked.map((row) => row.date),
      );
      assert.notDeepEqual(dateOnly, asked, 'within a day, stored order instead of the rest of $order');
      const renamed = await rowsOf('renamed/x');
      assert.ok(renamed.every((row) => row.plaza !== undefined && row.plaza_id === undefined));
      const [counted] = (await getJson(server, { $select: 'count(*)' }, 'reversed/x')).body as { count: string }[];
      assert.equal(counted?.count, String(asked.length));
    },
    {
      [DATASET_ID]: TRAFFIC,
      'reversed/x': { ...TRAFFIC, misbehave: { order: 'reversed' } },
      'late/x': { ...TRAFFIC, misbehave: { order: { late: 2 } } },
      'shuffled/x': { ...TRAFFIC, misbehave: { order: 'shuffled' } },
      'by-date/x': { ...TRAFFIC, misbehave: { order: { sortedOn: ['date'] } } },
      'renamed/x': { ...TRAFFIC, misbehave: { rename: { plaza_id: 'plaza' } } },
    },
  );
});

test('a redirect fault answers its status with the request’s path and query under another base', async () => {
  await withServer(async (server) => {
    server.failNext({ kind: 'redirect', status: 308, toBase: 'http://elsewhere.invalid/mirror' });
    const response = await fetch(queryUrl(server, { $limit: '1' }), { redirect: 'manual' });
    assert.equal(response.status, 308);
    assert.equal(
      response.headers.get('location'),
      `http://elsewhere.invalid/mirror/resource/${DATASET_ID}.json?%24limit=1`,
    );
  });
});

test('each request records how many resource requests were in flight when it arrived', async () => {
  await withServer(async (server) => {
    server.answerTogether(3);
    await Promise.all([0, 1, 2].map((offset) => getRows(server, { $limit: '1', $offset: String(offset) })));
    assert.deepEqual(
      server.requests.map((request) => request.inFlight),
      [1, 2, 3],
    );
    assert.equal(server.maxInFlight, 3);
    await getRows(server, { $limit: '1' });
    assert.equal(server.requests.at(-1)?.inFlight, 1, 'the earlier answers are done');
  });
});

test('answerTogether holds matching requests until they all arrived; others pass, and a short group is answered late', async () => {
  await withServer(async (server) => {
    server.answerTogether(2, { $offset: '5' }, 200);
    const held = getRows(server, { $limit: '1', $offset: '5' });
    const passing = await getRows(server, { $limit: '1', $offset: '0' });
    assert.equal(passing.length, 1, 'a request that does not match is answered at once');
    assert.equal((await held).length, 1, 'the group of one is answered when its wait runs out');
  });
});

test('failOn applies a fault to the next request asking for that page, whatever comes before it', async () => {
  await withServer(async (server) => {
    server.failOn({ $offset: '10' }, { kind: 'status', status: 503 });
    assert.equal((await getJson(server, { $limit: '5', $offset: '0' })).status, 200);
    assert.equal((await getJson(server, { $limit: '5', $offset: '10' })).status, 503);
    assert.equal((await getJson(server, { $limit: '5', $offset: '10' })).status, 200);
    assert.equal(server.pendingFaults, 0);
  });
});

test('a generated dataset counts and pages a window of its days without storing them', async () => {
  const generated: GeneratedDataset = {
    fields: { day: 'floating_timestamp', n: 'number' },
    windowField: 'day',
    firstDate: '2020-01-01',
    stopDate: '2030-01-01',
    rowsPerDay: 3,
    row: (day: string, index: number) => ({ day: `${day}T00:00:00.000`, n: String(index) }),
  };
  await withServer(
    async (server) => {
      const where = "day >= '2024-02-28T00:00:00' AND day < '2024-03-02T00:00:00'";
      assert.deepEqual(await getRows(server, { $select: 'count(*)', $where: where }), [{ count: '9' }]);
      const page = await getRows(server, { $select: ':id,day,n', $where: where, $limit: '4', $offset: '2' });
      assert.deepEqual(
        page.map((row) => `${row.day?.slice(0, 10)}/${row.n}`),
        ['2024-02-28/2', '2024-02-29/0', '2024-02-29/1', '2024-02-29/2'],
      );
      assert.equal(new Set(page.map((row) => row[':id'])).size, 4, 'row ids are unique');
      const last = await getRows(server, { $select: ':id,day,n', $where: where, $limit: '4', $offset: '8' });
      assert.equal(last.length, 1);
      assert.deepEqual(await getRows(server, { $select: 'max(day)' }), [{ max_day: '2029-12-31T00:00:00.000' }]);
      const refused = await getJson(server, { $where: "n = '1'" });
      assert.equal(refused.status, 400);
    },
    { [DATASET_ID]: generated },
  );
});

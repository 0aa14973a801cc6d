import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TransientError } from '../../src/common/errors';
import { BodyBuffers, PageBody, SLICE_BYTES, looksLikeJsonArray, readInto } from '../../src/pipeline/page-body';

const records = (count: number, value = (n: number) => `v${n}`) =>
  Array.from({ length: count }, (_, n) => ({ ':id': `row-${n}`, plaza_id: value(n), hour: String(n % 24) }));

function slicesOf(text: string) {
  const body = new PageBody(Buffer.from(text));
  const slices = [...body.slices()];
  return { slices, received: body.received, all: slices.flat() };
}

test('a page is parsed a slice at a time, every record once and in order, whatever separates them', () => {
  const page = records(5_000);
  for (const text of [
    JSON.stringify(page),
    // As Socrata sends it: a line break before each comma, blanks around the array.
    ` \n[${page.map((record) => JSON.stringify(record)).join('\n,')}]\n `,
  ]) {
    const { slices, received, all } = slicesOf(text);
    assert.ok(slices.length > 1, `${slices.length} slices`);
    assert.ok(slices.every((slice) => JSON.stringify(slice).length < SLICE_BYTES * 2));
    assert.deepEqual(all, page);
    assert.equal(received, 5_000);
  }
});

test('a slice cut inside a text value does not parse, so the rest of the page is parsed at once, correctly', () => {
  // Every value looks like a record boundary from the inside: `},{` within a string.
  const page = records(3_000, (n) => `x"},{"plaza_id":"${n}`);
  const { all } = slicesOf(JSON.stringify(page));
  assert.deepEqual(all, page);
});

test('an empty page has no slices; a body broken inside is a transient error', () => {
  for (const text of ['[]', ' [ ] ']) {
    const body = new PageBody(Buffer.from(text));
    assert.ok(body.empty);
    assert.deepEqual([...body.slices()], []);
  }
  const broken = `[${JSON.stringify(records(3_000)).slice(1, -1).replace('"row-2000"', 'row-2000')}]`;
  assert.throws(
    () => slicesOf(broken),
    (error: Error) => error instanceof TransientError && /invalid JSON/.test(error.message),
  );
});

test('a cut-off body or an error page does not look like an array; a whole one does', () => {
  assert.ok(looksLikeJsonArray(Buffer.from(' [{"a":"1"}]\n')));
  assert.ok(!looksLikeJsonArray(Buffer.from('[{"a":"1"},{"a":')));
  assert.ok(!looksLikeJsonArray(Buffer.from('<html>maintenance</html>')));
  assert.ok(!looksLikeJsonArray(Buffer.from('')));
});

test('bodies are read into buffers that are given back and used again, growing when a body needs more', async () => {
  const buffers = new BodyBuffers(2);
  async function* chunks(total: number) {
    for (let sent = 0; sent < total; sent += 1000) yield new Uint8Array(Math.min(1000, total - sent)).fill(65);
  }
  const first = await readInto(buffers, chunks(5_000), 0, () => undefined);
  assert.equal(first.bytes, 5_000);
  buffers.give(first.buffer);
  const second = await readInto(buffers, chunks(3_000), 3_000, () => undefined);
  assert.equal(second.buffer, first.buffer, 'the same buffer again');
  const big = await readInto(buffers, chunks(3 * 1024 * 1024), 0, () => undefined);
  assert.equal(big.bytes, 3 * 1024 * 1024);
  assert.ok(
    big.buffer.subarray(0, big.bytes).every((byte) => byte === 65),
    'every byte copied as it came',
  );
  await assert.rejects(
    readInto(buffers, chunks(10_000), 0, (soFar) => {
      if (soFar > 4_000) throw new Error('too big');
    }),
    /too big/,
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InFlightLimit, RECOVERY_ANSWERS, type Slot } from '../../src/pipeline/in-flight';

/** Takes `count` turns that are granted at once, in order of asking. */
async function take(limit: InFlightLimit, count: number): Promise<Slot[]> {
  return Promise.all(Array.from({ length: count }, (_, at) => limit.acquire(at)));
}

test('grants at most the limit at once; the next turn comes when one is given back, lowest priority first', async () => {
  const limit = new InFlightLimit(2);
  const [first, second] = await take(limit, 2);
  const granted: number[] = [];
  const later = limit.acquire(9).then(() => granted.push(9));
  const sooner = limit.acquire(3).then(() => granted.push(3));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(granted, [], 'both wait while two turns are taken');
  first?.release();
  await sooner;
  assert.deepEqual(granted, [3], 'the page nearer the front goes first');
  second?.release();
  await later;
  assert.equal(limit.mostInFlight, 2);
});

test('a 429 halves the limit once per generation, down to one; answers under the new limit raise it by one', async () => {
  const changes: string[] = [];
  const limit = new InFlightLimit(4, (from, to, why) => changes.push(`${why} ${from}→${to}`));
  const wave = await take(limit, 4);
  for (const slot of wave) limit.throttled(slot);
  assert.equal(limit.current, 2, 'four 429s from one wave halve it once');
  for (const slot of wave) slot.release();

  for (let answered = 0; answered < RECOVERY_ANSWERS * 3; answered += 1) {
    const [slot] = await take(limit, 1);
    if (answered === 0) {
      limit.throttled(slot as Slot);
      assert.equal(limit.current, 1, 'a 429 under the lowered limit halves it again');
    } else {
      limit.answered(slot as Slot);
    }
    slot?.release();
  }
  assert.deepEqual(changes, ['throttled 4→2', 'throttled 2→1', 'recovered 1→2', 'recovered 2→3']);
  assert.equal(limit.current, 3, 'slowly: one more after every few answers in a row');
});

test('answers to requests sent before a 429 do not raise the limit again', async () => {
  const limit = new InFlightLimit(4);
  const wave = await take(limit, 4);
  limit.throttled(wave[0] as Slot);
  for (let repeat = 0; repeat < RECOVERY_ANSWERS; repeat += 1) for (const slot of wave.slice(1)) limit.answered(slot);
  assert.equal(limit.current, 2);
});

test('an aborted wait gives up with the signal’s reason and takes no turn', async () => {
  const limit = new InFlightLimit(1);
  const [held] = await take(limit, 1);
  const stop = new AbortController();
  const waiting = limit.acquire(0, stop.signal);
  stop.abort(new Error('stopped'));
  await assert.rejects(waiting, /stopped/);
  held?.release();
  const [next] = await take(limit, 1);
  assert.ok(next, 'the turn went to the next asker');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError, LockBusyError, TerminalError, TransientError, errorKind } from '../../src/common/errors';
import { type RetryPolicy, withRetry } from '../../src/common/retry';

/** Delays are captured, never waited: the tests say which delays a policy asks for, not how long a test took. */
function recorder() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

function failing(errors: Error[], value = 'done') {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    attempt: async () => {
      const error = errors[calls];
      calls += 1;
      if (error !== undefined) throw error;
      return value;
    },
  };
}

const POLICY: RetryPolicy = { attempts: 4, baseDelayMs: 1_000, maxDelayMs: 8_000 };

test('only transient errors are retried: the kind alone decides', async () => {
  for (const error of [new TerminalError('bad SQL'), new InputError('startDate', 'bad date'), new Error('unmapped')]) {
    const { delays, sleep } = recorder();
    const source = failing([error]);
    await assert.rejects(withRetry(source.attempt, POLICY, { sleep }), (thrown) => thrown === error);
    assert.equal(source.calls, 1, `${errorKind(error)} is not retried`);
    assert.deepEqual(delays, []);
  }
  const { sleep } = recorder();
  const busy = failing([new LockBusyError('another run holds it')]);
  assert.equal(await withRetry(busy.attempt, POLICY, { sleep }), 'done', 'a busy lock is transient');
});

test('backoff grows exponentially with full jitter, capped at maxDelayMs', async () => {
  const { delays, sleep } = recorder();
  const source = failing([new TransientError('a'), new TransientError('b'), new TransientError('c')]);
  const random = Math.random;
  Math.random = () => 0.999_999;
  try {
    await withRetry(source.attempt, { attempts: 4, baseDelayMs: 1_000, maxDelayMs: 3_000 }, { sleep });
  } finally {
    Math.random = random;
  }
  assert.deepEqual(delays, [1_000, 2_000, 3_000]);
});

test('a server Retry-After is honoured up to the maximum delay', async () => {
  const { delays, sleep } = recorder();
  const source = failing([
    new TransientError('throttled', { retryAfterMs: 5_000 }),
    new TransientError('throttled', { retryAfterMs: 60_000 }),
  ]);
  await withRetry(source.attempt, POLICY, { sleep });
  assert.ok(delays[0] === 5_000 && delays[1] === 8_000, `delays ${delays.join(', ')}`);
});

test('a Retry-After longer than the stated cap is cut to it, and the retry event says so', async () => {
  const { delays, sleep } = recorder();
  const limits: string[] = [];
  const source = failing([
    new TransientError('throttled', { retryAfterMs: 3_600_000 }),
    new TransientError('throttled', { retryAfterMs: 20_000 }),
  ]);
  await withRetry(
    source.attempt,
    { ...POLICY, maxServerDelayMs: 60_000 },
    { sleep, onRetry: (event) => limits.push(event.limit) },
  );
  assert.deepEqual(delays, [60_000, 20_000], 'up to the cap, beyond the backoff’s maximum');
  assert.match(limits[0] ?? '', /^Retry-After 3600 s capped at 60 s; attempt 2 of 4$/);
  assert.equal(limits[1], 'attempt 3 of 4', 'a wait within the cap is not called capped');
});

test('running out of attempts throws a transient error naming the limit, with the last failure as cause', async () => {
  const { sleep } = recorder();
  const last = new TransientError('HTTP 503');
  const source = failing([new TransientError('HTTP 500'), new TransientError('HTTP 502'), last, last]);
  const error = await withRetry(source.attempt, POLICY, { sleep, what: 'GET /resource' }).catch((e: unknown) => e);
  assert.ok(error instanceof TransientError);
  assert.equal(error.message, 'GET /resource failed after 4 attempts (limit: 4 attempts): HTTP 503');
  assert.equal(error.cause, last);
});

test('a time budget stops retrying before the attempts run out, and the last attempt gets only what is left', async () => {
  let clock = 0;
  const remaining: (number | undefined)[] = [];
  const error = await withRetry(
    async ({ remainingMs }) => {
      remaining.push(remainingMs);
      clock += 40_000; // every attempt stalls for 40 s
      throw new TransientError('no data for 30 s (limit: idle timeout)');
    },
    { attempts: 10, baseDelayMs: 1_000, maxDelayMs: 1_000, budgetMs: 180_000 },
    { now: () => clock, sleep: async (ms) => void (clock += ms) },
  ).catch((e: unknown) => e as Error);
  assert.match(error.message, /gave up after \d+ s and \d+ attempts \(limit: 180 s in all\)/);
  assert.ok(remaining.length < 10, 'the budget ended it, not the attempts');
  assert.ok(clock <= 180_000 + 40_000, `about three minutes in all, not ${clock / 1000} s`);
  assert.ok((remaining.at(-1) ?? Infinity) < 180_000, 'later attempts see the budget shrink');
});

test('an abort stops the wait between attempts with the abort reason', async () => {
  const controller = new AbortController();
  const source = failing([new TransientError('HTTP 503'), new TransientError('HTTP 503')]);
  const reason = new Error('stopped by SIGINT');
  await assert.rejects(
    withRetry(source.attempt, POLICY, {
      signal: controller.signal,
      onRetry: () => controller.abort(reason),
    }),
    (thrown) => thrown === reason,
  );
  assert.equal(source.calls, 1);
});

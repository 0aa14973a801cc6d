import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { LockBusyError } from '../../src/common/errors';
import { type BlobLockTiming, BlobStageStore } from '../../src/stage/blob';
import { type Azurite, startAzurite } from '../support/azurite';
import { type CountingProxy, startCountingProxy } from '../support/counting-proxy';

const CONTAINER = 'stage';
/** Azurite's shortest lease, renewed often, so renewals happen within a test's second. */
const FAST: BlobLockTiming = { leaseSeconds: 15, renewMs: 200, pollMs: 50 };

/** As `within` in the local lock tests: a bound against a hang that also keeps the event loop alive. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lease renewals that went through the proxy in front of Azurite. */
function leaseRenewals(proxy: CountingProxy): number {
  return proxy.requests.filter((request) => request.headers['x-ms-lease-action'] === 'renew').length;
}

describe('Azure Blob stage lock (Azurite)', () => {
  let azurite: Azurite;
  let lockNumber = 0;
  /** Each test its own lock, so no test depends on how an earlier one left its lease. */
  const freshLock = () => `locks/bnt-hourly-traffic/2024-01-07_2024-01-14-${(lockNumber += 1)}`;
  const store = (timing: BlobLockTiming = FAST, connectionString = azurite.connectionString) =>
    BlobStageStore.withConnectionString(connectionString, CONTAINER, undefined, timing);
  const blobOf = (name: string) =>
    BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(CONTAINER).getBlobClient(name);

  before(async () => {
    azurite = await startAzurite();
  });
  after(async () => {
    await azurite.stop();
  });

  test('a second holder waits, is told why, then gets LockBusyError naming the lock', async () => {
    const name = freshLock();
    const first = await store().acquireLock(name, { waitMs: 0 });
    const waits: number[] = [];
    await assert.rejects(
      store().acquireLock(name, { waitMs: 300, onWait: (ms) => waits.push(ms) }),
      (error: unknown) => {
        assert.ok(error instanceof LockBusyError);
        assert.match(error.message, new RegExp(`^another run holds ${name}; waited \\d+(\\.\\d)? s$`));
        return true;
      },
    );
    assert.ok(waits.length >= 1);
    assert.equal(first.lost.aborted, false);
    await first.release();
  });

  test('the lock blob is created when missing, and two first runs racing for it get exactly one lock', async () => {
    const name = freshLock();
    const results = await Promise.allSettled([
      store().acquireLock(name, { waitMs: 0 }),
      store().acquireLock(name, { waitMs: 0 }),
      store().acquireLock(name, { waitMs: 0 }),
    ]);
    const held = results.filter((result) => result.status === 'fulfilled');
    const refused = results.filter((result) => result.status === 'rejected');
    assert.equal(held.length, 1);
    for (const result of refused) assert.ok(result.reason instanceof LockBusyError, String(result.reason));
    assert.equal((await blobOf(name).getProperties()).leaseState, 'leased');
    for (const result of held) await result.value.release();
  });

  test('release frees the lease for the next run; releasing twice is harmless', async () => {
    const name = freshLock();
    const first = await store().acquireLock(name, { waitMs: 0 });
    let waited = false;
    const second = store().acquireLock(name, { waitMs: 30_000, onWait: () => (waited = true) });
    while (!waited) await new Promise((resolve) => setTimeout(resolve, 10));
    await first.release();
    await first.release();
    const next = await second;
    assert.equal((await blobOf(name).getProperties()).leaseState, 'leased');
    await next.release();
    assert.equal((await blobOf(name).getProperties()).leaseState, 'available');
  });

  test('the holder renews its lease while it works, and stops renewing once released', async () => {
    // The wire shows what the adapter does without reaching into the SDK.
    const blob = new URL(azurite.blobEndpoint);
    const proxy = await startCountingProxy(blob.origin);
    const renewals = () => leaseRenewals(proxy);
    try {
      const connectionString = azurite.connectionString.replace(
        azurite.blobEndpoint,
        `${proxy.origin}${blob.pathname}`,
      );
      const name = freshLock();
      const lock = await store(FAST, connectionString).acquireLock(name, { waitMs: 0 });
      await within(
        (async () => {
          while (renewals() < 3) await new Promise((resolve) => setTimeout(resolve, 20));
        })(),
        10_000,
        'three renewals',
      );
      assert.equal(lock.lost.aborted, false);
      await assert.rejects(store().acquireLock(name, { waitMs: 0 }), LockBusyError);
      await lock.release();
      const afterRelease = renewals();
      await new Promise((resolve) => setTimeout(resolve, 4 * (FAST.renewMs ?? 0)));
      assert.equal(renewals(), afterRelease, 'no renewal after release');
    } finally {
      await proxy.close();
    }
  });

  test('a lease broken by another client aborts lost; release afterwards does not throw', async () => {
    const name = freshLock();
    const lock = await store().acquireLock(name, { waitMs: 0 });
    await blobOf(name).getBlobLeaseClient().breakLease(0);
    await within(once(lock.lost, 'abort'), 10_000, 'lost');
    assert.match(
      String((lock.lost.reason as Error).message),
      new RegExp(`^lost the lease on ${name} \\(renewal failed: `),
    );
    await lock.release();
    // The broken lease is free for the next run.
    await (await store().acquireLock(name, { waitMs: 0 })).release();
  });

  test('aborting the signal ends the wait with its reason', async () => {
    const name = freshLock();
    const first = await store().acquireLock(name, { waitMs: 0 });
    const stop = new AbortController();
    const reason = new Error('SIGINT received');
    await assert.rejects(
      store().acquireLock(name, { waitMs: 60_000, signal: stop.signal, onWait: () => stop.abort(reason) }),
      (error: unknown) => error === reason,
    );
    await first.release();
  });

  test('lease timings Azure would refuse are refused when the store is built', () => {
    assert.throws(() => store({ leaseSeconds: 10 }), /a blob lease of 10 s is not possible/);
    assert.throws(() => store({ leaseSeconds: 61 }), /a blob lease of 61 s is not possible/);
    assert.throws(() => store({ leaseSeconds: 15, renewMs: 15_000 }), /would let a 15 s lease expire/);
  });
});

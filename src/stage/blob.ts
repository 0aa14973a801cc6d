import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { TokenCredential } from '@azure/core-auth';
import {
  type BlobLeaseClient,
  type BlockBlobClient,
  type ContainerClient,
  BlobServiceClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type {
  LockHolder,
  LockOptions,
  StageLock,
  LocalFile,
  StageLocation,
  StageStore,
  TextSink,
} from '../pipeline/ports';
import { PipelineError, TerminalError, TransientError, httpStatusOf, messageOf } from '../common/errors';
import { holderRunning, thisHolder, waitForLock } from './local';

const UPLOAD_BUFFER_BYTES = 4 * 1024 * 1024;
const UPLOAD_CONCURRENCY = 4;
/** The most names one listing request returns (Blob Storage's own limit). */
export const LIST_PAGE_SIZE = 5_000;

/** How a run holds a lock on the Azure stage: a blob lease, renewed while the run works. */
export interface BlobLockTiming {
  /**
   * The lease's length in seconds, 15 to 60 (Azure's bounds). Default 30: a lease whose holder died is free again
   * within half a minute, with no one having to break it, and a rerun that waits it out still fits a stage step's
   * bounded worst case (test/functions/retry-budget.test.ts).
   */
  readonly leaseSeconds?: number;
  /** How often the holder renews. Default 10 s, so a lease survives one slow or failed-and-retried renewal. */
  readonly renewMs?: number;
  /** How often a waiting run asks again for a lease another run holds. Default 5 s. */
  readonly pollMs?: number;
}

export const DEFAULT_LEASE_SECONDS = 30;
export const DEFAULT_LEASE_RENEW_MS = 10_000;
const DEFAULT_BLOB_LOCK_POLL_MS = 5_000;

function checkedLockTiming(timing: BlobLockTiming): Required<BlobLockTiming> {
  const leaseSeconds = timing.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  const renewMs = timing.renewMs ?? DEFAULT_LEASE_RENEW_MS;
  const pollMs = timing.pollMs ?? DEFAULT_BLOB_LOCK_POLL_MS;
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 15 || leaseSeconds > 60) {
    throw new Error(`a blob lease of ${leaseSeconds} s is not possible: Azure takes whole seconds from 15 to 60`);
  }
  if (!(renewMs > 0 && renewMs < leaseSeconds * 1000)) {
    throw new Error(`renewing every ${renewMs} ms would let a ${leaseSeconds} s lease expire while it is held`);
  }
  if (!(pollMs > 0)) throw new Error(`a lock poll interval of ${pollMs} ms is not a positive time`);
  return { leaseSeconds, renewMs, pollMs };
}

const statusOf = httpStatusOf;

/**
 * The one place Blob Storage errors become kinds, once the SDK's own retries have given up: throttling,
 * server errors and network faults are transient; anything else (a missing permission, a bad name) is
 * terminal. The service's multi-line text is condensed to its code and first line.
 */
export function blobErrorWithKind(error: unknown, what: string): PipelineError {
  if (error instanceof PipelineError) return error;
  const status = statusOf(error);
  const firstLine = messageOf(error).split('\n', 1)[0] ?? '';
  const message = `${what} failed (${codeOf(error)}): ${firstLine}`;
  const transient = status === undefined || status === 408 || status === 429 || status >= 500;
  return transient ? new TransientError(message, { cause: error }) : new TerminalError(message, { cause: error });
}

/** The service's error code (`LeaseAlreadyPresent`), or the status: one word, never the multi-line service text. */
function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const status = statusOf(error);
  return status === undefined ? messageOf(error) : `HTTP ${status}`;
}

export interface BlobStageTarget {
  readonly accountName: string;
  readonly container: string;
  /** Blob service URL; only for emulators (Azurite) or sovereign clouds. Default https://<account>.blob.core.windows.net */
  readonly endpoint?: string | undefined;
}

/** Reads a connection string as the storage SDK does: throws the SDK's error when it cannot. */
export function readConnectionString(connectionString: string): void {
  BlobServiceClient.fromConnectionString(connectionString);
}

/**
 * Staged files in an Azure Blob Storage container (an ADLS Gen2 account in production, so Databricks can
 * read them over abfss). Authenticates with a token credential (managed identity in Azure) or, for Azurite
 * and development only, a connection string.
 */
export class BlobStageStore implements StageStore {
  readonly location: StageLocation;
  readonly description: string;
  readonly lockExpiryMs: number;
  private readonly container: ContainerClient;
  private readonly lockTiming: Required<BlobLockTiming>;
  private containerReady: Promise<unknown> | undefined;

  private constructor(container: ContainerClient, target: BlobStageTarget, lockTiming: BlobLockTiming = {}) {
    this.container = container;
    this.lockTiming = checkedLockTiming(lockTiming);
    this.lockExpiryMs = this.lockTiming.leaseSeconds * 1000;
    this.location = {
      kind: 'azure',
      accountName: target.accountName,
      container: target.container,
      ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    };
    this.description = `Azure container ${target.container} on account ${target.accountName}`;
  }

  static withCredential(
    target: BlobStageTarget,
    credential: TokenCredential,
    options?: StoragePipelineOptions,
    lockTiming?: BlobLockTiming,
  ): BlobStageStore {
    const endpoint = target.endpoint ?? `https://${target.accountName}.blob.core.windows.net`;
    const service = new BlobServiceClient(endpoint, credential, options);
    return new BlobStageStore(service.getContainerClient(target.container), target, lockTiming);
  }

  static withConnectionString(
    connectionString: string,
    container: string,
    options?: StoragePipelineOptions,
    lockTiming?: BlobLockTiming,
  ): BlobStageStore {
    const service = BlobServiceClient.fromConnectionString(connectionString, options);
    // A SAS connection string puts its signature in the URL's query; the endpoint is printed, so leave it out.
    const url = new URL(service.url);
    return new BlobStageStore(
      service.getContainerClient(container),
      {
        accountName: service.accountName,
        container,
        endpoint: `${url.origin}${url.pathname}`.replace(/\/$/, ''),
      },
      lockTiming,
    );
  }

  async createSink(path: string): Promise<TextSink> {
    await this.ensureContainer();
    const body = new PassThrough();
    const upload = this.container.getBlockBlobClient(path).uploadStream(body, UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY, {
      blobHTTPHeaders: { blobContentType: 'application/x-ndjson; charset=utf-8' },
    });
    // Held until close(); a failed upload surfaces there or on the next write.
    let failure: Error | undefined;
    upload.catch((error: unknown) => {
      failure = blobErrorWithKind(error, `uploading ${path}`);
      body.destroy();
    });
    return {
      async write(text) {
        if (failure) throw failure;
        if (!body.write(text)) {
          await new Promise<void>((resolve, reject) => {
            body.once('drain', resolve);
            upload.catch(reject);
          });
        }
      },
      async close() {
        body.end();
        await upload;
      },
      async abort(error) {
        body.destroy(error);
        await upload.catch(() => undefined);
      },
    };
  }

  async writeText(path: string, text: string): Promise<void> {
    await this.ensureContainer();
    await this.container.getBlockBlobClient(path).upload(text, Buffer.byteLength(text), {
      blobHTTPHeaders: { blobContentType: 'application/json; charset=utf-8' },
    });
  }

  async readText(path: string): Promise<string | undefined> {
    try {
      const buffer = await this.container.getBlobClient(path).downloadToBuffer();
      return buffer.toString('utf8');
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw blobErrorWithKind(error, `reading ${path}`);
    }
  }

  async remove(path: string): Promise<void> {
    await this.ensureContainer();
    await this.container.deleteBlob(path, { deleteSnapshots: 'include' }).catch((error: unknown) => {
      if (statusOf(error) !== 404) throw blobErrorWithKind(error, `deleting ${path}`);
    });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.ensureContainer();
    for await (const blob of this.container.listBlobsFlat({ prefix: `${prefix}/` })) await this.remove(blob.name);
  }

  /** Pages of 5,000 names, Blob Storage's largest: one request per 5,000 files. */
  async listFiles(prefix: string): Promise<string[]> {
    const names: string[] = [];
    try {
      const pages = this.container.listBlobsFlat({ prefix: `${prefix}/` }).byPage({ maxPageSize: LIST_PAGE_SIZE });
      for await (const page of pages) names.push(...page.segment.blobItems.map((blob) => blob.name));
    } catch (error) {
      // No container yet: nothing has been written, so there is nothing to list.
      if (statusOf(error) === 404) return [];
      throw blobErrorWithKind(error, `listing ${prefix}/`);
    }
    return names;
  }

  async localFile(path: string): Promise<LocalFile> {
    const directory = await mkdtemp(join(tmpdir(), 'bnt-stage-'));
    const file = join(directory, `${randomUUID()}.jsonl`);
    try {
      await this.container.getBlobClient(path).downloadToFile(file);
    } catch (error) {
      await rm(directory, { recursive: true, force: true });
      throw error;
    }
    return { path: file, release: () => rm(directory, { recursive: true, force: true }) };
  }

  /** Creating the container is idempotent; done once per store so a fresh account (or Azurite) just works. */
  private ensureContainer(): Promise<unknown> {
    this.containerReady ??= this.container.createIfNotExists().catch((error: unknown) => {
      this.containerReady = undefined;
      throw error;
    });
    return this.containerReady;
  }

  /**
   * A lease on the blob at `name` (created empty if missing). The lease expires by itself when its holder dies;
   * while held it is renewed in the background, and a renewal that fails aborts `lost`: by then another run may
   * take the lease, so the holder must stop. The SDK retries a renewal's transient failures before that. The
   * blob's metadata records the holder (PID, host) and its last renewal, for a waiting person.
   */
  async acquireLock(name: string, options: LockOptions): Promise<StageLock> {
    await this.ensureContainer();
    const blob = this.container.getBlockBlobClient(name);
    const lease = blob.getBlobLeaseClient();
    const { leaseSeconds, renewMs, pollMs } = this.lockTiming;
    let acquiredAt = 0;
    await waitForLock<true>(name, options, pollMs, async () => {
      for (let attempt = 0; ; attempt += 1) {
        const sentAt = Date.now();
        try {
          await lease.acquireLease(leaseSeconds, { abortSignal: options.signal });
          acquiredAt = sentAt;
          return { taken: true };
        } catch (error) {
          // LeaseAlreadyPresent, or a lease being broken: another run holds it.
          if (statusOf(error) === 409) return { holder: await leaseHolder(blob) };
          if (statusOf(error) !== 404 || attempt > 0) throw error;
        }
        await createEmptyBlob(blob, options.signal);
      }
    });
    const record = new HolderRecord(blob, lease.leaseId, leaseSeconds);
    await record.write(new Date(acquiredAt));
    return new RenewedLease(name, lease, leaseSeconds * 1000, renewMs, acquiredAt, record);
  }
}

/** The holder of a lease, in the lock blob's metadata (names are lower case: Azure folds them). */
class HolderRecord {
  constructor(
    private readonly blob: BlockBlobClient,
    private readonly leaseId: string,
    private readonly leaseSeconds: number,
  ) {}

  /** Best effort: a record that cannot be written costs a waiting person the details, never the lock. */
  async write(renewedAt: Date): Promise<void> {
    const { pid, host } = thisHolder();
    await this.blob
      .setMetadata(
        {
          holderpid: String(pid),
          holderhost: host,
          renewedat: renewedAt.toISOString(),
          leaseseconds: String(this.leaseSeconds),
        },
        { conditions: { leaseId: this.leaseId } },
      )
      .catch(() => undefined);
  }
}

/** Who holds the lease on `blob`, from its metadata; undefined when it cannot be read. */
async function leaseHolder(blob: BlockBlobClient): Promise<LockHolder | undefined> {
  const properties = await blob.getProperties().catch(() => undefined);
  const metadata = properties?.metadata ?? {};
  const pid = Number(metadata.holderpid);
  const host = metadata.holderhost;
  const renewedAt = Date.parse(metadata.renewedat ?? '');
  const leaseSeconds = Number(metadata.leaseseconds);
  const running = holderRunning(Number.isInteger(pid) ? pid : undefined, host);
  return {
    ...(Number.isInteger(pid) ? { pid } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(Number.isFinite(renewedAt) ? { renewedAt: new Date(renewedAt).toISOString() } : {}),
    ...(Number.isFinite(renewedAt) && leaseSeconds > 0
      ? { expiresAt: new Date(renewedAt + leaseSeconds * 1000).toISOString() }
      : {}),
    ...(running !== undefined ? { running } : {}),
  };
}

/** Creates the lock blob unless it exists; another run creating it (or holding a lease on it) first is no error. */
async function createEmptyBlob(blob: BlockBlobClient, signal: AbortSignal | undefined): Promise<void> {
  try {
    await blob.upload('', 0, { conditions: { ifNoneMatch: '*' }, abortSignal: signal });
  } catch (error) {
    const status = statusOf(error);
    if (status !== 409 && status !== 412) throw error;
  }
}

/** A held lease, renewed on a timer until released or lost. */
class RenewedLease implements StageLock {
  private readonly lostController = new AbortController();
  readonly lost = this.lostController.signal;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private renewal: Promise<void> | undefined;
  private released: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    private readonly lease: BlobLeaseClient,
    private readonly leaseMs: number,
    private readonly renewMs: number,
    /** When the request that last extended the lease was sent: the lease runs at least `leaseMs` from then. */
    private heldSince: number,
    private readonly record: HolderRecord,
  ) {
    this.scheduleRenewal();
  }

  release(): Promise<void> {
    this.released ??= this.stopAndRelease();
    return this.released;
  }

  private scheduleRenewal(): void {
    this.timer = setTimeout(() => {
      this.renewal = this.renew();
    }, this.renewMs);
    // A lock must not keep the process alive: a process that ends lets its lease expire.
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    try {
      // A renewal still pending when the lease runs out is no renewal: stop waiting for it then.
      const remainingMs = Math.max(this.heldSince + this.leaseMs - sentAt, 1_000);
      await this.lease.renewLease({ abortSignal: AbortSignal.timeout(remainingMs) });
      this.heldSince = sentAt;
      await this.record.write(new Date(sentAt));
      if (!this.stopped) this.scheduleRenewal();
    } catch (error) {
      if (this.stopped) return;
      this.stopped = true;
      this.lostController.abort(
        new Error(
          `lost the lease on ${this.name} (renewal failed: ${codeOf(error)}); another run may take it over, so this one stops`,
        ),
      );
    }
  }

  private async stopAndRelease(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.renewal;
    if (this.lost.aborted) return;
    try {
      await this.lease.releaseLease();
    } catch (error) {
      // Expired and taken by another run (409), or the blob is gone (404): nothing of ours is left to release.
      const status = statusOf(error);
      if (status !== 404 && status !== 409 && status !== 412) throw error;
    }
  }
}

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { TokenCredential } from '@azure/core-auth';
import { type ContainerClient, BlobServiceClient, type StoragePipelineOptions } from '@azure/storage-blob';
import type { LockOptions, StageLock, LocalFile, StageLocation, StageStore, TextSink } from '../pipeline/ports';

const UPLOAD_BUFFER_BYTES = 4 * 1024 * 1024;
const UPLOAD_CONCURRENCY = 4;

export interface BlobStageTarget {
  readonly accountName: string;
  readonly container: string;
  /** Blob service URL; only for emulators (Azurite) or sovereign clouds. Default https://<account>.blob.core.windows.net */
  readonly endpoint?: string | undefined;
}

/**
 * Staged files in an Azure Blob Storage container (an ADLS Gen2 account in production, so Databricks can
 * read them over abfss). Authenticates with a token credential (managed identity in Azure) or, for Azurite
 * and development only, a connection string.
 */
export class BlobStageStore implements StageStore {
  readonly location: StageLocation;
  readonly description: string;
  private readonly container: ContainerClient;
  private containerReady: Promise<unknown> | undefined;

  private constructor(container: ContainerClient, target: BlobStageTarget) {
    this.container = container;
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
  ): BlobStageStore {
    const endpoint = target.endpoint ?? `https://${target.accountName}.blob.core.windows.net`;
    const service = new BlobServiceClient(endpoint, credential, options);
    return new BlobStageStore(service.getContainerClient(target.container), target);
  }

  static withConnectionString(
    connectionString: string,
    container: string,
    options?: StoragePipelineOptions,
  ): BlobStageStore {
    const service = BlobServiceClient.fromConnectionString(connectionString, options);
    // A SAS connection string puts its signature in the URL's query; the endpoint is printed, so leave it out.
    const url = new URL(service.url);
    return new BlobStageStore(service.getContainerClient(container), {
      accountName: service.accountName,
      container,
      endpoint: `${url.origin}${url.pathname}`.replace(/\/$/, ''),
    });
  }

  async createSink(path: string): Promise<TextSink> {
    await this.ensureContainer();
    const body = new PassThrough();
    const upload = this.container.getBlockBlobClient(path).uploadStream(body, UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY, {
      blobHTTPHeaders: { blobContentType: 'application/x-ndjson; charset=utf-8' },
    });
    // Held until close(); a failed upload surfaces there or on the next write.
    let failure: unknown;
    upload.catch((error: unknown) => {
      failure = error;
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
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }

  async remove(path: string): Promise<void> {
    await this.ensureContainer();
    await this.container.deleteBlob(path, { deleteSnapshots: 'include' }).catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error;
    });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.ensureContainer();
    for await (const blob of this.container.listBlobsFlat({ prefix: `${prefix}/` })) await this.remove(blob.name);
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

  async acquireLock(_name: string, _options: LockOptions): Promise<StageLock> {
    throw new Error('not implemented yet');
  }
}

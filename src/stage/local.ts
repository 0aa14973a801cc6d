import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import type { LockOptions, StageLock, LocalFile, StageLocation, StageStore, TextSink } from '../pipeline/ports';

/** The embedded default: staged files in a directory on this machine (`<data-dir>` on the command line). */
export class LocalStageStore implements StageStore {
  readonly location: StageLocation;
  readonly description: string;
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.location = { kind: 'local', root: this.root };
    this.description = `local directory ${this.root}`;
  }

  /** The absolute file for a store path; refuses paths that would leave the root. */
  pathOf(path: string): string {
    const full = resolve(this.root, path);
    const inside = relative(this.root, full);
    if (inside.startsWith('..') || isAbsolute(inside)) throw new Error(`stage path "${path}" leaves ${this.root}`);
    return full;
  }

  async createSink(path: string): Promise<TextSink> {
    const file = this.pathOf(path);
    await mkdir(dirname(file), { recursive: true });
    const stream = createWriteStream(file, { encoding: 'utf8' });
    // Kept rather than thrown from an event: the next write or close reports it to the caller.
    let failure: Error | undefined;
    stream.on('error', (error) => {
      failure ??= error;
    });
    await once(stream, 'open');
    return {
      async write(text) {
        if (failure) throw failure;
        if (!stream.write(text)) await once(stream, 'drain');
      },
      async close() {
        if (failure) throw failure;
        stream.end();
        await finished(stream);
      },
      async abort() {
        stream.destroy();
      },
    };
  }

  /** Whole-file writes go through a temporary name and a rename, so readers never see half a file. */
  async writeText(path: string, text: string): Promise<void> {
    const file = this.pathOf(path);
    await mkdir(dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, text, 'utf8');
    await rename(temporary, file);
  }

  async readText(path: string): Promise<string | undefined> {
    try {
      return await readFile(this.pathOf(path), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async remove(path: string): Promise<void> {
    await rm(this.pathOf(path), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.pathOf(prefix), { recursive: true, force: true });
  }

  async localFile(path: string): Promise<LocalFile> {
    return { path: this.pathOf(path), release: async () => undefined };
  }

  async acquireLock(_name: string, _options: LockOptions): Promise<StageLock> {
    throw new Error('not implemented yet');
  }
}

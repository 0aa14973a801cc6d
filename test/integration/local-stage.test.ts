import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { LocalStageStore } from '../../src/stage/local';
import { temporaryDirectory } from '../support/fixtures';

describe('local stage writes', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  beforeEach(async () => {
    directory = await temporaryDirectory();
  });
  afterEach(() => directory.remove());

  test('concurrent writes of one file in one process all succeed; the file is one of them, whole', async () => {
    const stage = new LocalStageStore(directory.path);
    const path = 'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/_manifest.json';
    // Two overlapping backfill units write one manifest at once; each text is large enough to take a while.
    const texts = Array.from({ length: 8 }, (_, n) => `${JSON.stringify({ writer: n, pad: 'x'.repeat(200_000) })}\n`);
    await Promise.all(texts.map((text) => stage.writeText(path, text)));
    const written = await stage.readText(path);
    assert.ok(texts.includes(written ?? ''), 'the file is exactly one writer’s text');
    const left = await readdir(dirname(join(directory.path, path)));
    assert.deepEqual(left, ['_manifest.json'], 'no temporary file is left behind');
  });
});

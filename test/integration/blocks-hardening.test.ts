import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { BlockError, BlockReader, readBlock } from '../../src/blocks/reader';
import { BlocksFileError, LocalBlockStore } from '../../src/blocks/store';
import { main } from '../../src/cli/pipeline';
import { chooseTargets, openTargets } from '../../src/run/targets';
import { runInProcess } from '../support/cli';

async function rejection(action: () => Promise<unknown>): Promise<Error> {
  try {
    await action();
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected the call to reject');
}

describe('local blocks file: corrupt, unreadable and unsafe contents', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bnt-blocks-hardening-'));
    file = join(dir, 'blocks.json');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a corrupt file is a BlockError naming the file, never quoting it', async () => {
    await writeFile(file, '{"mtademo-socrata": {"type": "socrata-source", "document": {"appToken": SECRETTOKEN');
    const error = await rejection(() => new LocalBlockStore(dir).get('mtademo-socrata'));
    assert.ok(error instanceof BlocksFileError);
    assert.ok(error instanceof BlockError);
    assert.equal(error.file, file);
    assert.match(error.message, new RegExp(`^local file ${file.replaceAll('\\', '\\\\')} is not valid JSON`));
    assert.doesNotMatch(error.message, /SECRETTOKEN/);
  });

  it('a file of the wrong shape, or one that cannot be read, is a BlockError naming the file', async () => {
    await writeFile(file, '["SECRETTOKEN"]');
    const shape = await rejection(() => new LocalBlockStore(dir).list());
    assert.ok(shape instanceof BlocksFileError);
    assert.match(shape.message, /blocks\.json is not a blocks file/);
    assert.doesNotMatch(shape.message, /SECRETTOKEN/);

    await rm(file);
    await mkdir(file);
    const unreadable = await rejection(() => new LocalBlockStore(dir).get('x'));
    assert.ok(unreadable instanceof BlocksFileError);
    assert.match(unreadable.message, /blocks\.json cannot be read \(EISDIR\)/);
  });

  it('a put onto a corrupt file fails and leaves the file as it was', async () => {
    const corrupt = '{"other": {"type": "socrata-source", "document": {}}';
    await writeFile(file, corrupt);
    await assert.rejects(new LocalBlockStore(dir).put('mtademo-socrata', 'socrata-source', {}), BlocksFileError);
    assert.equal(await readFile(file, 'utf8'), corrupt);
  });

  it('a byte order mark from an editor is not a corruption', async () => {
    await writeFile(file, `\uFEFF${JSON.stringify({ s: { type: 'socrata-source', document: { appToken: 'abc' } } })}`);
    assert.deepEqual(await readBlock(new LocalBlockStore(dir), 's', 'socrata-source'), { appToken: 'abc' });
  });

  it('refuses to write a token with a control character, and writes nothing', async () => {
    const error = await rejection(() =>
      new LocalBlockStore(dir).put('mtademo-socrata', 'socrata-source', { appToken: 'SECRET\u0000X4' }),
    );
    assert.match(error.message, /^appToken: must be non-empty printable ASCII/);
    assert.doesNotMatch(error.message, /SECRET/);
    await assert.rejects(readFile(file), { code: 'ENOENT' });
  });

  it('refuses on read a token with a control character written by hand, never repeating it', async () => {
    await writeFile(
      file,
      JSON.stringify({ 'mtademo-socrata': { type: 'socrata-source', document: { appToken: 'SECRET\u0000X4' } } }),
    );
    const error = await rejection(() =>
      new BlockReader(new LocalBlockStore(dir)).readOptional('mtademo-socrata', 'socrata-source'),
    );
    assert.ok(error instanceof BlockError);
    assert.match(
      error.message,
      /block "mtademo-socrata" in local file .* is not a valid socrata-source block: appToken:/,
    );
    assert.doesNotMatch(error.message, /SECRET/);
  });

  it('a corrupt file fails the run wiring instead of a warning and a run without the token', async () => {
    await writeFile(file, 'not json SECRETTOKEN');
    const warnings: string[] = [];
    const error = await rejection(() =>
      openTargets(chooseTargets({ dataDir: dir }, {}, dir), {}, { progress: (message) => warnings.push(message) }),
    );
    assert.ok(error instanceof BlockError);
    assert.deepEqual(warnings, []);
  });

  it('a corrupt file fails `pipeline run` before any request, with one line naming the file', async () => {
    await writeFile(file, 'not json SECRETTOKEN');
    const result = await runInProcess(
      main,
      [
        'run',
        '--data-dir',
        dir,
        '--start-date',
        '2024-01-07',
        '--stop-date',
        '2024-01-14',
        // Nothing listens here: the run must stop before it would ask.
        '--source-url',
        'http://127.0.0.1:9',
      ],
      { cwd: dir },
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /blocks\.json is not valid JSON; fix or remove it/);
    assert.doesNotMatch(result.stderr, /SECRETTOKEN|page 1|retry/);
  });
});

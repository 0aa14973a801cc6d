/**
 * What a new user meets first, held to what the docs say: the documented Azurite command works with the versions
 * `npm ci` installs (run as written, on free ports), and `npm start` without Core Tools says what to install in one
 * line before it builds anything.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BlobStageStore } from '../../src/stage/blob';
import { temporaryDirectory } from '../support/fixtures';

const ROOT = join(__dirname, '..', '..');
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** The `npx azurite …` command a document shows, its continuation lines joined and the comment dropped. */
async function documentedAzurite(file: string): Promise<string[]> {
  const text = await readFile(join(ROOT, file), 'utf8');
  const match = /^npx azurite ((?:.*\\\n)*.*)$/m.exec(text);
  assert.ok(match, `${file} shows an npx azurite command`);
  const line = (match[1] ?? '').replace(/\\\n/g, ' ').replace(/#.*$/, '').replace(/&\s*$/, '');
  return line.trim().split(/\s+/);
}

describe('the documented Azurite command', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  let azurite: ChildProcess | undefined;
  before(async () => {
    directory = await temporaryDirectory();
  });
  after(async () => {
    if (azurite && azurite.exitCode === null) {
      const exited = once(azurite, 'exit');
      azurite.kill();
      await exited;
    }
    await directory.remove();
  });

  test('README and docs/functions.md show the same command, and it serves the azure stage as installed', async () => {
    const readme = await documentedAzurite('README.md');
    assert.deepEqual(await documentedAzurite('docs/functions.md'), readme);
    // As written, except its folder (this test's own) and free ports instead of 10000–10002.
    const args = readme.map((arg, i) => (readme[i - 1] === '--location' ? join(directory.path, 'azurite') : arg));
    const bin = join(ROOT, 'node_modules', '.bin', 'azurite');
    azurite = spawn(bin, [...args, '--blobPort', '0', '--queuePort', '0', '--tablePort', '0'], {
      cwd: directory.path,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const port = await new Promise<number>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const found = /Blob service is successfully listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (found) resolve(Number(found[1]));
      };
      azurite?.stdout?.on('data', onData);
      azurite?.stderr?.on('data', onData);
      azurite?.once('exit', (code) => reject(new Error(`azurite exited with ${code}: ${output}`)));
    });
    const endpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
    const stage = BlobStageStore.withConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${endpoint};`,
      'stage',
    );
    // What a run does on the azure stage: write, read back, take and release a lock.
    await stage.writeText('stage/check/_manifest.json', '{}\n');
    assert.equal(await stage.readText('stage/check/_manifest.json'), '{}\n');
    const lock = await stage.acquireLock('locks/check', { waitMs: 0 });
    await lock.release();
  });
});

describe('npm start without Core Tools', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  before(async () => {
    directory = await temporaryDirectory();
  });
  after(() => directory.remove());

  const check = (path: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'check-func.ts')], {
      cwd: ROOT,
      env: { PATH: path },
      encoding: 'utf8',
    });

  test('is checked first: no func on PATH is one line saying what to install, exit 1, before any build', async () => {
    const packageJson = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    assert.match(packageJson.scripts.prestart, /^node --import tsx src\/cli\/check-func\.ts && npm run build$/);
    const missing = check(directory.path);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    assert.match(
      missing.stderr,
      /^error: npm start needs func on PATH, and there is none: install Azure Functions Core Tools v4/,
    );
  });

  test('a func of version 4 passes the check; another version is named', async () => {
    const func = join(directory.path, 'func');
    for (const [version, status] of [
      ['4.0.7030', 0],
      ['3.0.3904', 1],
    ] as const) {
      await writeFile(func, `#!/bin/sh\necho ${version}\n`);
      await chmod(func, 0o755);
      const result = check(directory.path);
      assert.equal(result.status, status, result.stderr);
      if (status === 1)
        assert.match(result.stderr, new RegExp(`needs func v4, and this one is ${version.replace(/\./g, '\\.')}`));
    }
  });
});

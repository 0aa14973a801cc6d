/**
 * Loads the compiled app the way the Functions host does: every file that package.json's `main` names is
 * required, with the host's `@azure/functions-core` replaced by a stand-in that records each
 * `registerFunction(metadata, handler)` call: the exact metadata the host would read.
 *
 * Run as a script (`node --import tsx host-standin.ts <app root>`), it prints the registered metadata as JSON
 * on its last stdout line, so each test gets a fresh process with the app settings it chose.
 */
import { registrations } from './core-standin';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** The files package.json's `main` glob names; the host supports `dir/*.js`, which is what we use. */
export function mainFiles(appRoot: string): string[] {
  const main = (JSON.parse(readFileSync(path.join(appRoot, 'package.json'), 'utf8')) as { main: string }).main;
  const match = /^(.*)\/\*\.js$/.exec(main);
  if (!match?.[1]) throw new Error(`package.json main "${main}" is not of the form dir/*.js`);
  const directory = path.join(appRoot, match[1]);
  return readdirSync(directory)
    .filter((name) => name.endsWith('.js'))
    .sort()
    .map((name) => path.join(directory, name));
}

if (require.main === module) {
  // The host loads registration files with require(), in a CommonJS worker: so does this stand-in.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  for (const file of mainFiles(path.resolve(process.argv[2] ?? '.'))) require(file);
  process.stdout.write(`${JSON.stringify(registrations.map((registration) => registration.metadata))}\n`);
}

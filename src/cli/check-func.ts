import { spawnSync } from 'node:child_process';

/**
 * `npm start` runs the Functions host, `func`, from Azure Functions Core Tools, which is installed on its own (it can
 * never be a dependency). Checked first, so a missing one costs a line, not a full build and `func: not found`.
 */
const INSTALL =
  'install Azure Functions Core Tools v4 (https://learn.microsoft.com/azure/azure-functions/functions-run-local), or run the pipeline without it: npm run pipeline -- run';

export function checkFunc(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const found = spawnSync('func', ['--version'], { env, encoding: 'utf8', shell: process.platform === 'win32' });
  if (found.error || found.status !== 0) return `npm start needs func on PATH, and there is none: ${INSTALL}`;
  const version = found.stdout.trim();
  if (!/^4\./.test(version)) return `npm start needs func v4, and this one is ${version || 'of no known version'}: ${INSTALL}`;
  return undefined;
}

if (require.main === module) {
  const problem = checkFunc();
  if (problem) {
    process.stderr.write(`error: ${problem}\n`);
    process.exitCode = 1;
  }
}

import type { CliIo } from '../../src/cli/io';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command line's `main` in-process with captured output, as a person at a terminal would see it. */
export async function runInProcess<Deps>(
  main: (argv: readonly string[], io: CliIo, deps?: Deps) => Promise<number>,
  argv: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; now?: Date; deps?: Deps },
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: options.env ?? {},
    cwd: options.cwd,
    now: () => options.now ?? new Date('2024-01-15T12:00:00Z'),
  };
  const code = await main(argv, io, options.deps);
  return { code, stdout, stderr };
}

/** The JSON object on the last line of stdout (the `--json` contract). */
export function lastJsonLine(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
}

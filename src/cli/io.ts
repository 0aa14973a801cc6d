/** What a command needs from the process, injectable so tests run commands in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly now: () => Date;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  now: () => new Date(),
};

/** Exit codes: 0 success, 1 the run failed, 2 the command line was wrong (nothing was touched). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

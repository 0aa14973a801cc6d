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
  // `npm run` starts commands in the project folder; relative paths mean the folder the user ran npm in.
  cwd: process.env.INIT_CWD ?? process.cwd(),
  now: () => new Date(),
};

/** Exit codes: 0 success, 1 the run failed, 2 the command line was wrong (nothing was touched). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** How often a command checks that whoever started it is still there. */
const PARENT_CHECK_MS = 1_000;

/** How long a stopped run may take to abort its requests, release its lock and close its files. */
const STOP_GRACE_MS = 5_000;

/**
 * Runs a command as a process: SIGINT or SIGTERM aborts the run (requests in flight stop, locks are released,
 * files closed) and the process exits non-zero within a few seconds, however far the run got; a second
 * signal exits at once. A rerun converges, as after any failure.
 */
export function runAsCommand(run: (signal: AbortSignal) => Promise<number>): void {
  const controller = new AbortController();
  let exitCode: number | undefined;
  const stop = (signal: string, code: number) => {
    if (exitCode !== undefined) process.exit(exitCode);
    exitCode = code;
    process.stderr.write(`${signal}: stopping (at most ${STOP_GRACE_MS / 1000} s)\n`);
    controller.abort(new Error(`stopped by ${signal}`));
    setTimeout(() => process.exit(code), STOP_GRACE_MS).unref();
  };
  // Once the parent is gone so may be the pipes it read: a write to them must not crash the orderly stop.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  process.on('SIGINT', () => stop('SIGINT', 130));
  process.on('SIGTERM', () => stop('SIGTERM', 143));
  // `npm run` starts the command through a shell, and a shell may die of a signal without passing it on: when
  // the parent goes away, stop as if signalled, instead of running on unseen.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent && exitCode === undefined) stop('parent process gone', 143);
  }, PARENT_CHECK_MS).unref();
  run(controller.signal).then(
    (code) => {
      process.exitCode = exitCode ?? code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${String(error)}\n`);
      process.exitCode = exitCode ?? EXIT.failed;
    },
  );
}

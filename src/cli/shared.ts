import { Command, CommanderError } from 'commander';
import { InputError, describeError, errorKind } from '../common/errors';
import { type CliIo, EXIT } from './io';

/** A commander program that writes through `io` and throws instead of exiting, so tests run it in-process. */
export function newProgram(name: string, description: string, io: CliIo): Command {
  // Subcommands created with `.command()` afterwards inherit both settings.
  return new Command(name)
    .description(description)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}

/**
 * Parses and runs `argv`, turning the outcome into an exit code: 0 done, 2 the command line (or a
 * setting, or an input file) was wrong and nothing was touched, 1 anything else went wrong.
 */
export async function runProgram(
  program: Command,
  argv: readonly string[],
  io: CliIo,
  options: { onFailure?: (error: unknown) => void } = {},
): Promise<number> {
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message already. Help and version are "errors" with exit code 0.
      if (error.exitCode === 0) return EXIT.ok;
      options.onFailure?.(
        new InputError('command line', error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')),
      );
      return EXIT.usage;
    }
    options.onFailure?.(error);
    if (errorKind(error) === 'input') {
      io.stderr(`error: ${describeError(error)}\n`);
      return EXIT.usage;
    }
    io.stderr(`error: ${describeError(error)}\n`);
    return EXIT.failed;
  }
}

/** Pretty-printed JSON with a trailing newline, the form every JSON-printing command uses on stdout. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

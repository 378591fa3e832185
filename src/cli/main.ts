#!/usr/bin/env node
import { CommanderError } from 'commander';
import { EXIT } from './exit-codes.ts';
import { printJson, usageError } from './output.ts';
import { createProgram } from './program.ts';

// `jeex-db config | head`: a closed pipe is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const program = createProgram();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version exit 0; anything else commander rejects is a usage error.
    process.exitCode = error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    // Commander has written the message to stderr; a script that asked for --json still gets
    // its one document on stdout.
    if (error.exitCode !== 0 && process.argv.includes('--json')) {
      printJson({ ok: false, error: usageError(error.message.replace(/^error: /, '')).toJSON(), exitCode: EXIT.USAGE });
    }
  } else {
    process.stderr.write(`unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT.FAILURE;
  }
}

#!/usr/bin/env node
import { packageVersion } from '../index.ts';
import { Command, CommanderError } from 'commander';
import { configCommand } from './commands/config.ts';
import { downCommand } from './commands/down.ts';
import { upCommand } from './commands/up.ts';
import { serveCommand } from './commands/serve.ts';
import { restoreCommand } from './commands/restore.ts';
import { verifyCommand } from './commands/verify.ts';
import { backupCommand, backupsCommand } from './commands/backup.ts';
import { keysCommand } from './commands/keys.ts';
import { tlsCommand } from './commands/tls.ts';
import { urlCommand } from './commands/url.ts';
import { migrateCommand } from './commands/migrate.ts';
import { generateDownCommand } from './commands/generate-down.ts';
import { statusCommand } from './commands/status.ts';
import { rollbackCommand } from './commands/rollback.ts';
import { baselineCommand, markAppliedCommand } from './commands/adopt.ts';
import { planCommand } from './commands/plan.ts';
import { checkCommand } from './commands/check.ts';
import { diagnoseCommand } from './commands/diagnose.ts';
import { healthCommand } from './commands/health.ts';
import { rolesCommand } from './commands/roles.ts';
import { auditCommand } from './commands/audit.ts';
import { EXIT } from './exit-codes.ts';
import { printJson, usageError } from './output.ts';

const pkg = { version: packageVersion() };

// `jeex-db config | head`: a closed pipe is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const program = new Command('jeex-db')
  .description('PostgreSQL 18 for JEEX Idea: local cluster, migrations and operations')
  .version(pkg.version)
  .showHelpAfterError('(add --help for usage)')
  .exitOverride()
  .addCommand(upCommand())
  .addCommand(downCommand())
  .addCommand(serveCommand())
  .addCommand(backupCommand())
  .addCommand(backupsCommand())
  .addCommand(restoreCommand())
  .addCommand(verifyCommand())
  .addCommand(keysCommand())
  .addCommand(tlsCommand())
  .addCommand(configCommand())
  .addCommand(urlCommand())
  .addCommand(migrateCommand().addCommand(generateDownCommand()))
  .addCommand(statusCommand())
  .addCommand(planCommand())
  .addCommand(rollbackCommand())
  .addCommand(checkCommand())
  .addCommand(baselineCommand())
  .addCommand(markAppliedCommand())
  .addCommand(diagnoseCommand())
  .addCommand(healthCommand())
  .addCommand(rolesCommand())
  .addCommand(auditCommand());

const everyCommand = (command: Command): Command[] => [command, ...command.commands.flatMap(everyCommand)];
for (const command of everyCommand(program).slice(1)) command.exitOverride().showHelpAfterError('(add --help for usage)');

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

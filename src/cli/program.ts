import { Command } from 'commander';
import { packageVersion } from '../index.ts';
import { configCommand } from './commands/config.ts';
import { downCommand } from './commands/down.ts';
import { upCommand } from './commands/up.ts';
import { serveCommand } from './commands/serve.ts';
import { restoreCommand } from './commands/restore.ts';
import { promoteCommand, standbyCommand } from './commands/standby.ts';
import { verifyCommand } from './commands/verify.ts';
import { backupCommand, backupsCommand } from './commands/backup.ts';
import { keysCommand } from './commands/keys.ts';
import { tlsCommand } from './commands/tls.ts';
import { urlCommand } from './commands/url.ts';
import { generateDownCommand } from './commands/generate-down.ts';
import { roundTripCommand } from './commands/round-trip.ts';
import { migrateCommand } from './commands/migrate.ts';
import { statusCommand } from './commands/status.ts';
import { rollbackCommand } from './commands/rollback.ts';
import { baselineCommand, markAppliedCommand } from './commands/adopt.ts';
import { planCommand } from './commands/plan.ts';
import { checkCommand } from './commands/check.ts';
import { rebaseCommand } from './commands/rebase.ts';
import { diagnoseCommand } from './commands/diagnose.ts';
import { healthCommand } from './commands/health.ts';
import { rolesCommand } from './commands/roles.ts';
import { auditCommand } from './commands/audit.ts';
import { exportDataDirFlag } from './options.ts';

/**
 * The `jeex-db` program: every command with its options, nothing parsed or run. main.ts parses
 * `process.argv` with it; scripts/docs/cli.ts reads it to write docs/cli.md.
 *
 * @example
 * const program = buildProgram();
 * program.commands.map((command) => command.name()); // ['up', 'down', 'serve', ...]
 */
export function buildProgram(): Command {
  const program = new Command('jeex-db')
    .description('PostgreSQL 18 for JEEX Idea: local cluster, migrations and operations')
    .version(packageVersion())
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addCommand(upCommand())
    .addCommand(downCommand())
    .addCommand(serveCommand())
    .addCommand(backupCommand())
    .addCommand(backupsCommand())
    .addCommand(restoreCommand())
    .addCommand(verifyCommand())
    .addCommand(standbyCommand())
    .addCommand(promoteCommand())
    .addCommand(keysCommand())
    .addCommand(tlsCommand())
    .addCommand(configCommand())
    .addCommand(urlCommand())
    .addCommand(migrateCommand().addCommand(generateDownCommand()).addCommand(roundTripCommand()))
    .addCommand(statusCommand())
    .addCommand(planCommand())
    .addCommand(rollbackCommand())
    .addCommand(checkCommand())
    .addCommand(rebaseCommand())
    .addCommand(baselineCommand())
    .addCommand(markAppliedCommand())
    .addCommand(diagnoseCommand())
    .addCommand(healthCommand())
    .addCommand(rolesCommand())
    .addCommand(auditCommand())
    // --data-dir on the line wins over JEEX_DB_DATA_DIR for all this process reads, drizzle.config.ts too.
    .hook('preAction', (_program, actionCommand) => exportDataDirFlag(actionCommand));
  for (const command of everyCommand(program).slice(1)) command.exitOverride().showHelpAfterError('(add --help for usage)');
  return program;
}

/** The command and all its subcommands, depth first, itself first. */
export function everyCommand(command: Command): Command[] {
  return [command, ...command.commands.flatMap(everyCommand)];
}

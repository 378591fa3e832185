import { Command } from 'commander';
import { maskUrl } from '../../index.ts';
import { migrate, referenceFor, schemaIdentifier } from '../../migrate/index.ts';
import { dim, green, note, printJson, reportError, say } from '../output.ts';
import { runnerOptions, withMigrationClient, withRunnerOptions, type RunnerFlags } from '../migration-flags.ts';

interface MigrateFlags extends RunnerFlags {
  to?: string;
  singleTransaction?: boolean;
  allowOutOfOrder?: boolean;
}

/** `migrate`; main.ts adds its `generate-down` subcommand. */
export function migrateCommand(): Command {
  return withRunnerOptions(
    new Command('migrate')
      .description('apply pending migrations: validated first, under a lock, one transaction each')
      .option('--to <name>', 'stop after this migration')
      .option('--single-transaction', 'all pending migrations in one transaction (all or nothing)')
      .option('--allow-out-of-order', 'apply pending migrations older than the newest applied one (merged from a branch)'),
  ).action(async (flags: MigrateFlags) => {
    try {
      const result = await withMigrationClient(flags, 'migrate', async (sql, target) => {
        if (!flags.json) note(dim(`migrating ${maskUrl(target.url ?? '')} with ${target.migrationsDir}`));
        return migrate(sql, {
          ...runnerOptions(flags, target.migrationsDir),
          // A database with the schema but no ledger is refused; reference databases name the migration it matches.
          identifySchema: schemaIdentifier(referenceFor(target), target.migrationsDir),
          ...(flags.to ? { to: flags.to } : {}),
          ...(flags.singleTransaction ? { singleTransaction: true } : {}),
          ...(flags.allowOutOfOrder ? { allowOutOfOrder: true } : {}),
        });
      });
      if (flags.json) {
        printJson({ ok: true, ...result });
        return;
      }
      for (const warning of result.warnings) note(`warning: ${warning}`);
      if (result.adopted.length > 0) say(`adopted from drizzle-kit: ${result.adopted.join(', ')}`);
      if (result.upToDate) {
        say(`${green('✔')} up to date (${result.total} migrations)`);
        return;
      }
      for (const step of result.applied) {
        const extra = [
          step.transaction === 'none' ? 'outside a transaction' : step.transaction === 'single' ? 'single transaction' : '',
          step.retries ? `${step.retries} retries` : '',
          step.invalidIndexesDropped.length ? `dropped invalid ${step.invalidIndexesDropped.join(', ')}` : '',
        ].filter(Boolean);
        say(`${green('✔')} ${step.name} ${dim(`${step.durationMs} ms${extra.length ? `, ${extra.join(', ')}` : ''}`)}`);
      }
      if (result.restorePoint) say(dim(`restore point before these changes: "${result.restorePoint}"`));
    } catch (error) {
      reportError(error, Boolean(flags.json));
    }
  });
}

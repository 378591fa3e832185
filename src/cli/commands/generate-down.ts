import { Command } from 'commander';
import { generateDown, resolveMigrationTarget } from '../../migrate/index.ts';
import { drizzleConfigOption, migrationsDirOption } from '../options.ts';
import { bold, dim, green, jsonOption, note, printJson, reportError, say } from '../output.ts';

export function generateDownCommand(): Command {
  return new Command('generate-down')
    .description('draft NNNN_tag.down.sql by diffing the snapshots in reverse; review it and delete its "-- jeex:draft" line')
    .argument('<name>', 'the migration, e.g. 0003_add_scores (or just 0003)')
    .option('--force', 'replace an existing .down.sql')
    .addOption(migrationsDirOption())
    .addOption(drizzleConfigOption())
    .addOption(jsonOption())
    .action(async (name: string, _local: unknown, command: Command) => {
      // `migrate` defines --migrations-dir, --config and --json too and takes them wherever they
      // appear on the line: read both levels.
      const flags = command.optsWithGlobals<{ force?: boolean; migrationsDir?: string; config?: string; json?: boolean }>();
      try {
        const target = await resolveMigrationTarget(flags);
        const result = await generateDown(target.migrationsDir, name, { overwrite: Boolean(flags.force) });
        if (flags.json) {
          printJson({ ok: true, ...result });
          return;
        }
        say(`${green('✔')} drafted ${result.file}${result.custom ? ' (custom SQL: write the undo by hand)' : ''}`);
        for (const warning of result.warnings) note(`${bold('review:')} ${warning}`);
        note(dim('Read it, fix what needs fixing, delete the "-- jeex:draft" line, then commit it; rollback refuses drafts.'));
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
}

import { Command } from 'commander';
import { maskUrl } from '../../index.ts';
import { roundTrip } from '../../migrate/index.ts';
import { exitCodeFor } from '../exit-codes.ts';
import { withMigrationClient, withTargetOptions, type TargetFlags } from '../migration-flags.ts';
import { bold, dim, green, note, printJson, progressReporter, red, reportError, say, usageError } from '../output.ts';

interface RoundTripFlags extends TargetFlags {
  yes?: boolean;
}

/** `migrate round-trip`: main.ts adds it under `migrate`. Destructive, so it needs --yes. */
export function roundTripCommand(): Command {
  return withTargetOptions(
    new Command('round-trip')
      .description('on a scratch database: apply every migration, roll each back (newest first) and apply it again, comparing the catalog at every step (destructive: needs --yes)')
      .option('--yes', 'run it: it applies and rolls back every migration on the database given (an empty scratch database)'),
  ).action(async (_local: unknown, command: Command) => {
    // `migrate` defines --url, --migrations-dir, --config and --json too and takes them wherever
    // they appear on the line: read both levels.
    const flags = command.optsWithGlobals<RoundTripFlags>();
    try {
      if (!flags.yes) throw usageError('round-trip applies and rolls back every migration on the database given: pass --yes to run it (on a scratch database)');
      const result = await withMigrationClient(flags, 'round-trip', async (sql, target) => {
        if (!flags.json) note(dim(`round trip on ${maskUrl(target.url ?? '')} with ${target.migrationsDir}`));
        return roundTrip(sql, {
          migrationsDir: target.migrationsDir,
          onProgress: progressReporter(Boolean(flags.json)),
        });
      });
      if (!result.ok) process.exitCode = exitCodeFor('MIGRATION_ROUND_TRIP_FAILED');
      if (flags.json) {
        printJson({ ...result, exitCode: process.exitCode ?? 0 });
        return;
      }
      for (const failure of result.failures) {
        const what = failure.phase === 'down' ? 'rolling it back' : failure.phase === 'up-again' ? 'applying it again' : 'applying it';
        if (failure.error) {
          note(`${red('problem')} ${failure.migration}: ${what} failed [${failure.error.code}]: ${failure.error.message}`);
          if (failure.error.hint) note(`${bold('fix:')} ${failure.error.hint}`);
          continue;
        }
        note(`${red('problem')} ${failure.migration}: after ${what} the schema differs in ${failure.differences.length} object(s):`);
        const first = (line: string) => line.split('\n')[0] ?? '';
        for (const d of failure.differences) {
          note(`  ${d.change === 'left-over' ? '+' : d.change === 'missing' ? '-' : '~'} ${d.kind} ${d.object}: ${first(d.line)}`);
          if (d.expected) note(dim(`    expected: ${first(d.expected)}`));
        }
        note(
          `${bold('fix:')} ` +
            (failure.phase === 'down'
              ? `make ${failure.migration}.down.sql undo exactly what ${failure.migration}.sql does (+ is left over: drop it; - is missing: do not drop it, or create it again; ~ changed: put it back as it was).`
              : `${failure.migration}.sql makes a different schema after its down file ran: the down file leaves something behind that changes it.`),
        );
      }
      if (result.ok) say(`${green('✔')} round trip of ${result.migrations.length} migration(s): every down file restores the schema before it, every migration applies again to the same schema`);
    } catch (error) {
      reportError(error, Boolean(flags.json));
    }
  });
}

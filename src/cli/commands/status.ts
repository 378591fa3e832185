import { Command } from 'commander';
import { status, type MigrationStatus } from '../../migrate/index.ts';
import { EXIT } from '../exit-codes.ts';
import { exitCodeFor } from '../exit-codes.ts';
import { bold, dim, green, note, printJson, red, reportError, say } from '../output.ts';
import { withMigrationClient, withTargetOptions, type TargetFlags } from '../migration-flags.ts';

const marks: Record<MigrationStatus['state'], string> = {
  applied: '✔',
  pending: '·',
  changed: '✖',
  missing: '✖',
  failed: '!',
  interrupted: '!',
};

export function statusCommand(): Command {
  return withTargetOptions(
    new Command('status').description(`applied / pending / changed / missing / failed per migration; exit 0 when up to date, ${EXIT.MIGRATIONS_PENDING} when migrations are pending`),
  ).action(async (flags: TargetFlags) => {
    try {
      const result = await withMigrationClient(flags, 'status', (sql, target) => status(sql, { migrationsDir: target.migrationsDir }));
      const first = result.problems[0];
      process.exitCode = first ? exitCodeFor(first.code) : result.pending.length > 0 ? EXIT.MIGRATIONS_PENDING : EXIT.OK;
      if (flags.json) {
        printJson({ ok: result.upToDate, ...result, exitCode: process.exitCode });
        return;
      }
      const width = Math.max(...result.migrations.map((m) => m.name.length), 4);
      say(bold(`${'migration'.padEnd(width)}  state        applied at`));
      for (const m of result.migrations) {
        const state = `${m.state}${m.outOfOrder ? ' (out of order)' : ''}${m.adopt ? ' (drizzle-kit)' : ''}`;
        const line = `${marks[m.state]} ${m.name.padEnd(width)}  ${state.padEnd(12)} ${m.appliedAt ?? ''}`;
        say(m.state === 'applied' ? line : m.state === 'pending' ? line : red(line));
      }
      for (const problem of result.problems) {
        note(`${red('problem')} ${dim(`[${problem.code}]`)} ${problem.message}`);
        note(`${bold('fix:')} ${problem.hint}`);
      }
      if (result.upToDate) say(`${green('✔')} up to date`);
      else if (result.pending.length > 0) say(`${result.pending.length} pending: run \`jeex-db migrate\``);
    } catch (error) {
      reportError(error, Boolean(flags.json));
    }
  });
}

import { Command } from 'commander';
import { driftProblem, referenceFor, status, verifiedStatus, type MigrationStatus, type StatusResult } from '../../migrate/index.ts';
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

interface StatusFlags extends TargetFlags {
  verify?: boolean;
  referenceUrl?: string;
}

/**
 * The problems first (each has its own code), then pending (what to do next is `migrate`; an
 * interrupted migration leaves drift behind on purpose), then drift.
 */
function exitCode(result: StatusResult): number {
  const first = result.problems[0];
  if (first) return exitCodeFor(first.code);
  if (result.pending.length > 0) return EXIT.MIGRATIONS_PENDING;
  return result.drift.differences.length > 0 ? EXIT.MIGRATION_DRIFT : EXIT.OK;
}

export function statusCommand(): Command {
  return withTargetOptions(
    new Command('status')
      .description(
        `applied / pending / changed / missing / failed per migration, and the live schema compared with what they make; exit 0 when up to date, ${EXIT.MIGRATIONS_PENDING} when migrations are pending, else ${EXIT.MIGRATION_DRIFT} when the schema has drifted`,
      )
      .option('--verify', 'compare the schema with a scratch database migrated to the same point (needs CREATEDB, or --reference-url), not with the recorded one')
      .option('--reference-url <url>', 'an empty database to build the reference in (with --verify; it is emptied after use)'),
  ).action(async (flags: StatusFlags) => {
    try {
      const result = await withMigrationClient(flags, 'status', (sql, target) =>
        flags.verify || flags.referenceUrl
          ? verifiedStatus(sql, { migrationsDir: target.migrationsDir, reference: referenceFor(target, flags.referenceUrl) })
          : status(sql, { migrationsDir: target.migrationsDir }),
      );
      process.exitCode = exitCode(result);
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
      const drift = driftProblem(result.drift);
      for (const problem of [...result.problems, ...(drift ? [drift] : [])]) {
        note(`${red('problem')} ${dim(`[${problem.code}]`)} ${problem.message}`);
        note(`${bold('fix:')} ${problem.hint}`);
      }
      if (result.drift.note && !result.drift.unledgered) note(dim(`schema: ${result.drift.note}`));
      if (result.upToDate) say(`${green('✔')} up to date${result.drift.expected === 'none' ? '' : ` (schema as ${result.drift.expected === 'reference' ? 'a reference database' : 'recorded'})`}`);
      else if (result.pending.length > 0) say(`${result.pending.length} pending: run \`jeex-db migrate\``);
    } catch (error) {
      reportError(error, Boolean(flags.json));
    }
  });
}

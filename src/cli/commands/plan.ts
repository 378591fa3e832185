import { Command } from 'commander';
import { plan } from '../../migrate/index.ts';
import { exitCodeFor } from '../exit-codes.ts';
import { bold, dim, green, note, printJson, red, reportError, say } from '../output.ts';
import { runnerOptions, withMigrationClient, withRunnerOptions, type RunnerFlags } from '../migration-flags.ts';

interface PlanFlags extends RunnerFlags {
  to?: string;
  singleTransaction?: boolean;
  allowOutOfOrder?: boolean;
  lint?: boolean;
}

const seconds = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}min` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

export function planCommand(): Command {
  return withRunnerOptions(
    new Command('plan')
      .description('what `migrate` would run: statements, transaction grouping, timeouts, lint findings; changes nothing')
      .option('--to <name>', 'stop after this migration')
      .option('--single-transaction', 'plan all pending migrations in one transaction')
      .option('--allow-out-of-order', 'include pending migrations older than the newest applied one')
      .option('--no-lint', 'skip squawk'),
  ).action(async (flags: PlanFlags) => {
    try {
      const result = await withMigrationClient(flags, 'plan', (sql, target) => {
        const { onProgress: _progress, lockWaitMs: _lock, restorePoint: _restore, ...knobs } = runnerOptions(flags, target.migrationsDir);
        return plan(sql, {
          ...knobs,
          lint: flags.lint !== false,
          ...(flags.to ? { to: flags.to } : {}),
          ...(flags.singleTransaction ? { singleTransaction: true } : {}),
          ...(flags.allowOutOfOrder ? { allowOutOfOrder: true } : {}),
        });
      });
      const first = result.problems[0];
      if (first) process.exitCode = exitCodeFor(first.code);
      if (flags.json) {
        printJson({ ok: !first, ...result });
        return;
      }
      if (result.drift) {
        note(`warning: the database has drifted from what its applied migrations make (${result.drift.differences.length} difference(s); \`jeex-db status\` lists them):`);
        for (const d of result.drift.differences.slice(0, 10)) note(`  ${d.message}`);
      }
      if (result.adopt.length > 0) say(`would adopt from drizzle-kit: ${result.adopt.join(', ')}`);
      if (result.migrations.length === 0 && !first) say(`${green('✔')} nothing to run (${result.total} migrations)`);
      for (const m of result.migrations) {
        const where = m.grouping === 'none' ? 'outside a transaction, statement by statement' : m.grouping === 'single' ? 'in the run\'s single transaction' : m.grouping === 'mixed' ? red('refused: mixes both kinds') : 'in its own transaction';
        say(`${bold(m.name)} ${dim(`(${m.state}${m.outOfOrder ? ', out of order' : ''})`)} ${where}; lock_timeout ${seconds(m.timeouts.lockTimeoutMs)}, statement_timeout ${seconds(m.timeouts.statementTimeoutMs)}`);
        for (const s of m.statements) {
          const first = s.sql.split('\n').find((line) => line.trim() && !line.trim().startsWith('--')) ?? s.sql;
          say(`  ${dim(`${m.file}:${s.line}`)} ${first.trim().slice(0, 100)}${s.outsideTransaction ? dim(` (${s.outsideTransaction})`) : ''}`);
        }
        for (const finding of m.lint) {
          const text = `  lint ${finding.file}:${finding.line}:${finding.column} ${finding.rule}: ${finding.message}`;
          say(finding.suppressed ? dim(`${text} (accepted: ${finding.reason ?? ''})`) : red(text));
        }
      }
      for (const problem of result.problems) {
        note(`${red('problem')} ${dim(`[${problem.code}]`)} ${problem.message}`);
        note(`${bold('fix:')} ${problem.hint}`);
      }
    } catch (error) {
      reportError(error, Boolean(flags.json));
    }
  });
}

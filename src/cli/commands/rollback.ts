import { Command, InvalidArgumentError } from 'commander';
import { rollback } from '../../migrate/index.ts';
import { dim, green, note, printJson, reportError, say, usageError } from '../output.ts';
import { runnerOptions, withMigrationClient, withRunnerOptions, type RunnerFlags } from '../migration-flags.ts';

interface RollbackFlags extends RunnerFlags {
  steps?: number;
  to?: string;
}

export function rollbackCommand(): Command {
  return withRunnerOptions(
    new Command('rollback')
      .description('undo the newest migrations with their reviewed .down.sql files')
      .option('--steps <n>', 'how many of the newest applied migrations to undo (default 1)', (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
        return n;
      })
      .option('--to <name>', 'undo everything applied after this migration (it stays applied)'),
  ).action(async (flags: RollbackFlags) => {
    try {
      if (flags.steps !== undefined && flags.to) throw usageError('use --steps or --to, not both');
      const result = await withMigrationClient(flags, 'rollback', (sql, target) =>
        rollback(sql, { ...runnerOptions(flags, target.migrationsDir), ...(flags.steps ? { steps: flags.steps } : {}), ...(flags.to ? { to: flags.to } : {}) }),
      );
      if (flags.json) {
        printJson({ ok: true, ...result });
        return;
      }
      for (const warning of result.warnings) note(`warning: ${warning}`);
      if (result.rolledBack.length === 0) say('nothing to roll back');
      for (const step of result.rolledBack) say(`${green('✔')} rolled back ${step.name} ${dim(`${step.durationMs} ms`)}`);
      if (result.restorePoint) say(dim(`restore point before the rollback: "${result.restorePoint}"`));
    } catch (error) {
      reportError(error, Boolean(flags.json));
    }
  });
}

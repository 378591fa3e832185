import { Command } from 'commander';
import { baseline, markApplied, referenceFor } from '../../migrate/index.ts';
import { green, note, printJson, reportError, say, yellow } from '../output.ts';
import { runnerOptions, withMigrationClient, withRunnerOptions, type RunnerFlags } from '../migration-flags.ts';

function report(result: { marked: string[]; unchanged: string[]; renamed?: { from: string; to: string }[]; verified?: boolean; warnings?: string[] }, json: boolean): void {
  if (json) {
    printJson({ ok: true, ...result });
    return;
  }
  if (result.verified === true) say(`${green('✔')} the schema is what the migrations make (compared with a reference database)`);
  if (result.verified === false) note('warning: --force: recorded without comparing the schema with a reference database');
  for (const name of result.marked) say(`${green('✔')} recorded ${name} as applied (not run)`);
  for (const { from, to } of result.renamed ?? []) say(`${green('✔')} moved the record of ${from} to ${to} (the same file under its new name; not run)`);
  if (result.unchanged.length > 0) say(`already applied: ${result.unchanged.join(', ')}`);
  for (const warning of result.warnings ?? []) note(`${yellow('warning:')} ${warning}`);
}

/** `baseline`: adopt a database whose schema was made another way, after checking it is what the migrations make. */
export function baselineCommand(): Command {
  return withRunnerOptions(
    new Command('baseline')
      .description('record every migration (or up to --to) as applied without running it, once the schema is verified against a reference database: adopt an existing database')
      .option('--to <name>', 'the last migration the database already has')
      .option('--reference-url <url>', 'an empty database to build the reference in, when the role may not CREATE DATABASE (it is emptied after use)')
      .option('--force', 'record without comparing the schema with a reference database'),
  ).action(async (flags: RunnerFlags & { to?: string; referenceUrl?: string; force?: boolean }) => {
    try {
      const result = await withMigrationClient(flags, 'baseline', (sql, target) =>
        baseline(sql, {
          ...runnerOptions(flags, target.migrationsDir),
          reference: referenceFor(target, flags.referenceUrl),
          ...(flags.to ? { to: flags.to } : {}),
          ...(flags.force ? { force: true } : {}),
        }),
      );
      report(result, Boolean(flags.json));
    } catch (error) {
      reportError(error, Boolean(flags.json));
    }
  });
}

/** `mark-applied NAME...`: record migrations as applied, or accept an edited file's new checksum. */
export function markAppliedCommand(): Command {
  return withRunnerOptions(
    new Command('mark-applied')
      .description("record migrations as applied without running them (or accept an applied file's new checksum)")
      .argument('<names...>', 'migration names, e.g. 0003_add_scores')
      .option('--accept-changes', "record an applied file whose statements changed (not only comments or whitespace): only when the database already has the new statements' effect"),
  ).action(async (names: string[], flags: RunnerFlags & { acceptChanges?: boolean }) => {
    try {
      const result = await withMigrationClient(flags, 'mark-applied', (sql, target) =>
        markApplied(sql, { names, acceptChanges: Boolean(flags.acceptChanges) }, runnerOptions(flags, target.migrationsDir)),
      );
      report(result, Boolean(flags.json));
    } catch (error) {
      reportError(error, Boolean(flags.json));
    }
  });
}

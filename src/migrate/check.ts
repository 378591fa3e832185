import { JeexDbError } from '../core/errors.ts';
import { downFileProblems } from './down-files.ts';
import { schemaDrift } from './drift.ts';
import { lintScripts, type LintOptions, type LintResult } from './lint.ts';
import { normalizeStatement } from './merge-conflicts.ts';
import type { Problem } from './problems.ts';
import { runProblems } from './run-problems.ts';
import { defaultMigrationsDir } from './runner.ts';
import { snapshotSqlProblems } from './snapshot-sql.ts';
import { loadMigrations, type MigrationSource } from './source.ts';
import { directiveProblems } from './status.ts';

export interface CheckOptions {
  /** drizzle-kit's output folder. Default: this package's `drizzle/`. */
  migrationsDir?: string;
  /** The module exporting the Drizzle schema (`schema` in drizzle.config.ts). Default: this package's schema. */
  schemaModule?: string;
  /** Passed to squawk. */
  squawk?: Omit<LintOptions, 'timeouts'>;
  /** Let `.down.sql` drafts (`-- jeex:draft`) pass, for development; missing down files still fail. */
  allowDraftDown?: boolean;
}

export interface CheckResult {
  /** No problems: the gate passes. */
  ok: boolean;
  /** Everything wrong, each with its code and the steps to fix it. */
  problems: Problem[];
  /** The SQL `drizzle-kit generate` would write now (empty when schema and migrations agree). */
  drift: string[];
  /** squawk's findings for every migration (suppressed ones included). */
  lint: LintResult;
}

/**
 * After a merge the drift is another branch's migration that no snapshot records: generating
 * again would write a migration repeating it (the duplicate that fails on every database). So
 * while migrations collide, or when the drift is exactly an existing migration's change, the hint
 * is the collision's recipe, never `npm run db:generate`.
 */
function mergeDriftHint(source: MigrationSource, problems: Problem[], drift: string[]): string | undefined {
  const collision = problems.find((p) => p.collision);
  if (collision) {
    const command = collision.collision?.rebase ? `\`jeex-db rebase ${collision.collision.rebase}\`` : 'its recipe';
    return `Do not run \`npm run db:generate\`: migrations collide (MIGRATION_COLLISION), and this drift is a change whose snapshot the merge lost; generating would write a migration that repeats it. Resolve the collision first (${command}), then run \`jeex-db check\` again.`;
  }
  const wanted = new Set(drift.map(normalizeStatement));
  const owner = source.migrations.find((m) => m.up.statements.some((s) => wanted.has(normalizeStatement(s.sql))));
  if (!owner) return undefined;
  return (
    `Do not run \`npm run db:generate\`: the drift is the change ${owner.tag} already makes (its snapshot is missing or older than another branch's), and generating would repeat it. ` +
    `Run \`jeex-db rebase ${owner.tag}\`: it moves ${owner.up.displayPath}${owner.down ? ` and ${owner.down.displayPath}` : ''} on top and writes its snapshot. Then run \`jeex-db check\`.`
  );
}

const noLint = (): LintResult => ({ findings: [], unsuppressed: 0, unusedIgnores: [], migrations: [] });

/**
 * The CI gate, without a database: the migration files are consistent (no collisions, no journal
 * entry without its file, no file outside the journal, valid directives), the Drizzle schema and
 * the newest snapshot agree (generating again would produce nothing), nothing `migrate` or
 * `rollback` would refuse before running (mixed transaction modes, statements that must run on
 * their own sent in one query, new enum values used too early), every generated migration makes
 * what its snapshot records, every migration has a reviewed `.down.sql`, and squawk finds
 * nothing that the files do not accept with `-- jeex:lint-ignore RULE reason`. Findings are
 * returned, not thrown; the caller decides the exit code. Down scripts are not linted: undoing
 * is destructive by nature.
 *
 * @example
 * const result = await check({ migrationsDir: 'drizzle', schemaModule: 'src/schema/index.ts' });
 * if (!result.ok) for (const p of result.problems) console.error(`${p.code}: ${p.message}\n  ${p.hint}`);
 */
export async function check(options: CheckOptions = {}): Promise<CheckResult> {
  let source: MigrationSource;
  try {
    source = await loadMigrations(options.migrationsDir ?? defaultMigrationsDir);
  } catch (error) {
    // A journal with merge-conflict markers is a finding like any other; a missing folder is not.
    if (error instanceof JeexDbError && error.code === 'MIGRATION_COLLISION') {
      return { ok: false, problems: [{ code: error.code, message: error.message, hint: error.hint ?? '' }], drift: [], lint: noLint() };
    }
    throw error;
  }
  const problems: Problem[] = [...source.problems, ...directiveProblems(source, ['up', 'down'])];

  const drift = await schemaDrift(source, options.schemaModule);
  if (!drift) {
    problems.push({
      code: 'SCHEMA_DRIFT',
      message: `no snapshot in ${source.dir}/meta to compare the schema with`,
      hint: 'Run `npm run db:generate` (drizzle-kit writes a snapshot with every migration), and commit what it writes.',
    });
  } else if (drift.statements.length > 0) {
    const what = drift.ambiguous ? 'differs from' : `would need ${drift.statements.length} more statement(s) beyond`;
    problems.push({
      code: 'SCHEMA_DRIFT',
      message: `the Drizzle schema ${what} the committed migrations (newest snapshot ${drift.snapshotFile}):\n${drift.statements.map((s) => `  ${s}`).join('\n')}`,
      hint:
        mergeDriftHint(source, problems, drift.statements) ??
        (drift.ambiguous
          ? 'Run `npm run db:generate` and answer its rename questions, review the migration it writes and commit it (or undo the schema change).'
          : 'Run `npm run db:generate`, review the migration it writes and commit it (or undo the schema change).'),
    });
  }

  problems.push(...runProblems(source.migrations, {}, 'up'), ...runProblems(source.migrations, {}, 'down'));
  problems.push(...(await snapshotSqlProblems(source)));

  const lint = await lintScripts(source.migrations.map((m) => ({ migration: m.tag, script: m.up })), options.squawk ?? {});
  for (const finding of lint.findings.filter((f) => !f.suppressed)) {
    problems.push({
      code: 'MIGRATION_LINT',
      migration: finding.migration,
      message: `${finding.file}:${finding.line}:${finding.column} ${finding.rule}: ${finding.message}`,
      hint:
        `${finding.help ? `${finding.help} ` : ''}Change the SQL if the migration is not applied anywhere yet. If it is deliberate, ` +
        `accept it with a line "-- jeex:lint-ignore ${finding.rule} <why it is safe>" in ${finding.file} ` +
        `(the edit changes the file's checksum: where it is already applied, accept that with \`jeex-db mark-applied ${finding.migration}\`).`,
    });
  }
  // Last: the exit code is the first problem's, and a missing down file is the least urgent.
  problems.push(...downFileProblems(source, { allowDraft: options.allowDraftDown ?? false }));
  return { ok: problems.length === 0, problems, drift: drift?.statements ?? [], lint };
}

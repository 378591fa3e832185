import type { Sql } from 'postgres';
import { timeoutsFor } from './execute.ts';
import { lintScripts, type LintFinding, type LintOptions, type LintResult } from './lint.ts';
import type { Problem } from './problems.ts';
import { recordedDrift, liveObjects, unledgeredProblem, type DriftReport } from './live-drift-status.ts';
import { runProblems } from './run-problems.ts';
import { appliedTags, defaultMigrationsDir, inspect, selectUpTo, timeouts, type MigrateOptions } from './runner.ts';
import { loadMigrations } from './source.ts';
import type { MigrationStateName } from './status.ts';

export interface PlanOptions extends Pick<MigrateOptions, 'migrationsDir' | 'to' | 'singleTransaction' | 'allowOutOfOrder' | 'ddlLockTimeoutMs' | 'statementTimeoutMs' | 'retries'> {
  /** Lint the pending migrations with squawk (default true). */
  lint?: boolean;
  /** Passed to squawk (the timeouts come from the options above). */
  squawk?: Omit<LintOptions, 'timeouts'>;
}

export interface PlannedStatement {
  /** 0-based index within the file. */
  index: number;
  /** 1-based line and column of the statement in the file. */
  line: number;
  column: number;
  sql: string;
  /** Why it runs on its own outside a transaction, when it does. */
  outsideTransaction?: string;
}

export interface PlannedMigration {
  name: string;
  file: string;
  /** `pending`, or `failed` / `interrupted` for one an earlier run did not finish. */
  state: MigrationStateName;
  /** Older than the newest applied migration (merged from another branch). */
  outOfOrder: boolean;
  /**
   * `transaction`: its own transaction; `none`: statement by statement outside one; `single`: in
   * the one transaction of `--single-transaction`; `mixed`: refused (see the problems).
   */
  grouping: 'transaction' | 'none' | 'single' | 'mixed';
  /** What it runs with: the file's directives, else the options, else the defaults. */
  timeouts: { lockTimeoutMs: number; statementTimeoutMs: number };
  statements: PlannedStatement[];
  lint: LintFinding[];
}

export interface PlanResult {
  /** What `migrate` with the same options would run, in order. */
  migrations: PlannedMigration[];
  /** Applied by `drizzle-kit migrate`: `migrate` records them in its ledger without running them. */
  adopt: string[];
  /** Why `migrate` would refuse to run (nothing would run while there are any). */
  problems: Problem[];
  /** squawk's findings for the pending migrations (empty with `lint: false`). */
  lint: LintResult;
  /** Nothing pending and no problems. */
  upToDate: boolean;
  /** Migrations in the folder. */
  total: number;
  /** When the database has drifted from what its applied migrations make: `migrate` warns and runs. */
  drift?: DriftReport;
}

/**
 * What `migrate` would do, without doing any of it: the pending migrations in run order, how
 * each is grouped into transactions, its timeouts, its statements and squawk's findings, and the
 * problems `migrate` would refuse with. Read-only: takes no lock and creates nothing (not even the
 * ledger), so it is safe against production.
 *
 * @example
 * const sql = postgres(url, { max: 2 });
 * const result = await plan(sql, { migrationsDir: 'drizzle' });
 * for (const m of result.migrations) console.log(m.name, m.grouping, m.statements.length);
 */
export async function plan(sql: Sql, options: PlanOptions = {}): Promise<PlanResult> {
  const source = await loadMigrations(options.migrationsDir ?? defaultMigrationsDir);
  const { snapshot } = await inspect(sql, source, options);
  const pending = selectUpTo(snapshot.pending, options.to, source);
  const drift = await recordedDrift(sql, appliedTags(snapshot), await liveObjects(sql));
  const unledgered = unledgeredProblem(drift);
  const problems = [...snapshot.problems, ...(unledgered ? [unledgered] : []), ...runProblems(pending, options, 'up')];
  const base = timeouts(options);
  const lint =
    options.lint === false
      ? { findings: [], unsuppressed: 0, unusedIgnores: [], migrations: [] }
      : await lintScripts(
          pending.map((m) => ({ migration: m.tag, script: m.up })),
          { ...options.squawk, timeouts: base },
        );
  const migrations = pending.map((migration): PlannedMigration => {
    const script = migration.up;
    const status = snapshot.statuses.find((s) => s.name === migration.tag);
    const effective = timeoutsFor(script, base);
    return {
      name: migration.tag,
      file: script.displayPath,
      state: status?.state ?? 'pending',
      outOfOrder: status?.outOfOrder ?? false,
      grouping: script.mode !== 'transaction' ? script.mode : options.singleTransaction ? 'single' : 'transaction',
      timeouts: { lockTimeoutMs: effective.lockTimeoutMs, statementTimeoutMs: effective.statementTimeoutMs },
      statements: script.statements.map((statement) => {
        const reason = script.classifications[statement.index]?.reason;
        return {
          index: statement.index,
          line: statement.line,
          column: statement.column,
          sql: statement.sql,
          ...(script.classifications[statement.index]?.nonTransactional && reason ? { outsideTransaction: reason } : {}),
        };
      }),
      lint: lint.findings.filter((f) => f.migration === migration.tag),
    };
  });
  return {
    migrations,
    adopt: snapshot.statuses.filter((s) => s.adopt && s.state === 'applied').map((s) => s.name),
    problems,
    lint,
    upToDate: pending.length === 0 && problems.length === 0,
    total: source.migrations.length,
    ...(drift.differences.length > 0 ? { drift } : {}),
  };
}

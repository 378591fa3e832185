import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from 'postgres';
import { JeexDbError } from '../core/errors.ts';
import { translateDbError } from '../db/translate-error.ts';
import { runAllInOneTransaction, runInTransaction, runOutsideTransaction, type StepResult } from './apply.ts';
import type { Timeouts } from './execute.ts';
import { insertLedgerRow, ledgerExists, readDrizzleTable, readLedger, recordInDrizzle, renameInLedger, type LedgerEntry } from './ledger.ts';
import type { CatalogObject } from './catalog.ts';
import { recordedDrift, liveObjects, unledgeredProblem, type DriftReport } from './live-drift-status.ts';
import { carryDrift } from './live-drift.ts';
import { throwProblems, type Problem } from './problems.ts';
import { runProblems } from './run-problems.ts';
import { readRecordedSchema, recordSchema } from './schema-state.ts';
import { openSession, type MigrationSession } from './session.ts';
import { loadMigrations, type Migration, type MigrationSource } from './source.ts';
import { reviewAppliedEdits } from './edit-review.ts';
import type { ScriptEdit } from './script-changes.ts';
import { compareWithDatabase, type MigrationStatus, type Snapshot } from './status.ts';

/** The package's own migrations (drizzle-kit's output), from src/migrate or dist/migrate alike. */
export const defaultMigrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'drizzle');

/**
 * A migration waiting for a table lock makes every later query on that table wait behind it, so
 * one try waits only 1 s (the longest a writer stalls) and patience comes from tries instead: 16
 * tries with full-jitter backoff from 0.5 s doubling to 10 s, about 1.2 min of trying in all
 * (at most 2.2 min, see `longestLockWaitMs`). A 5 s wait x 4 tries stalled writers 5 s four
 * times against a 40 s reader and still gave up (issue 17).
 */
export const DEFAULT_TIMEOUTS: Timeouts = { lockTimeoutMs: 1_000, statementTimeoutMs: 15 * 60_000, retries: 15, backoffMs: 500, maxBackoffMs: 10_000 };
/** How long a runner waits for another one to finish (replicas deploying together). */
export const DEFAULT_LOCK_WAIT_MS = 5 * 60_000;

export interface RunnerOptions {
  /** drizzle-kit's output folder. Default: this package's `drizzle/`. */
  migrationsDir?: string;
  /** Wait this long for the migration lock; 0 fails at once naming the holder. */
  lockWaitMs?: number;
  /**
   * lock_timeout of each try of a migration statement (a file's `-- jeex:lock-timeout` wins).
   * Queries on the table queue behind a waiting migration, so this is how long writers may
   * stall: default 1 s.
   */
  ddlLockTimeoutMs?: number;
  /** statement_timeout for migration statements (a file's `-- jeex:statement-timeout` wins). */
  statementTimeoutMs?: number;
  /** Lock timeouts retried per migration (with full-jitter backoff) before it fails. Default 15. */
  retries?: number;
  /** Create a named restore point before changing anything (default true; skipped with a warning when not permitted). */
  restorePoint?: boolean;
  /** Record the schema after the run, for drift checks (default true; a scratch reference database needs none). */
  recordSchema?: boolean;
  onProgress?: (message: string) => void;
}

export interface MigrateOptions extends RunnerOptions {
  /** Stop after this migration (inclusive). */
  to?: string;
  /** All pending migrations in one transaction: all or nothing. */
  singleTransaction?: boolean;
  /** Apply pending migrations older than the newest applied one (merged from another branch). */
  allowOutOfOrder?: boolean;
  /**
   * For a database with objects but no recorded migration (refused, MIGRATION_UNLEDGERED): name
   * the migration its schema matches, for the hint (see `schemaIdentifier`, which builds
   * reference databases). Without it the hint says how to find out.
   */
  identifySchema?: (live: CatalogObject[]) => Promise<{ tag?: string; differences?: number } | undefined>;
}

export interface MigrateResult {
  applied: StepResult[];
  /** Where the database differed from what its applied migrations make, before the run (a warning each). */
  drift?: DriftReport;
  /** Migrations found applied by `drizzle-kit migrate` and recorded in our ledger without running. */
  adopted: string[];
  restorePoint?: string;
  warnings: string[];
  /** Nothing was pending. */
  upToDate: boolean;
  /** Migrations in the folder. */
  total: number;
}

/** The run's timeouts: the defaults, overridden by flags (a file's directives win over both, see `timeoutsFor`). */
export function timeouts(options: RunnerOptions): Timeouts {
  return {
    ...DEFAULT_TIMEOUTS,
    ...(options.ddlLockTimeoutMs !== undefined ? { lockTimeoutMs: options.ddlLockTimeoutMs } : {}),
    ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
  };
}

async function createRestorePoint(session: MigrationSession, label: string, warnings: string[]): Promise<string | undefined> {
  const name = `jeex-db ${label}`.slice(0, 63);
  try {
    await session.work`SELECT pg_create_restore_point(${name})`;
    return name;
  } catch (error) {
    const reason = translateDbError(error);
    warnings.push(
      `no restore point "${name}": ${reason.message.split('.')[0]} (the role needs EXECUTE on pg_create_restore_point and wal_level replica; \`jeex-db up\` grants it to the migrator)`,
    );
    return undefined;
  }
}

/** Record migrations that `drizzle-kit migrate` applied, and put missing drizzle rows back. */
async function reconcile(session: MigrationSession, source: MigrationSource, snapshot: Snapshot, ledger: Map<string, LedgerEntry>): Promise<string[]> {
  const adopted: string[] = [];
  for (const status of snapshot.statuses.filter((s) => s.adopt && s.state === 'applied')) {
    await insertLedgerRow(session.work, {
      name: status.name,
      sha256: status.appliedSha256 ?? '',
      direction: 'up',
      status: 'applied',
      startedAt: new Date(),
      finishedAt: new Date(),
      note: 'adopted: applied by drizzle-kit migrate',
      script: source.migrations.find((m) => m.tag === status.name && m.up.sha256 === status.appliedSha256)?.up.text ?? null,
    });
    adopted.push(status.name);
  }
  for (const migration of source.migrations) {
    if (ledger.get(migration.tag)?.state === 'applied') await recordInDrizzle(session.work, migration.up.sha256, migration.when);
  }
  return adopted;
}

/** Read the ledger and drizzle-orm's table (creating nothing) and compare them with the files. Read-only. */
export async function inspect(sql: Sql, source: MigrationSource, options: { allowOutOfOrder?: boolean }): Promise<{ snapshot: Snapshot; ledger: Map<string, LedgerEntry> }> {
  const exists = await ledgerExists(sql);
  const ledger = exists.ledger ? await readLedger(sql) : new Map<string, LedgerEntry>();
  const drizzleRows = exists.drizzle ? await readDrizzleTable(sql) : [];
  return { snapshot: compareWithDatabase(source, ledger, drizzleRows, options), ledger };
}

/** The migrations applied now (by our ledger or drizzle-kit's), in the folder's order. */
export function appliedTags(snapshot: Snapshot): string[] {
  return snapshot.statuses.filter((s) => s.state === 'applied' || s.state === 'changed').map((s) => s.name);
}

/** The live catalog and how it compares with the recorded schema, before a run changes anything. */
interface Before {
  live: CatalogObject[];
  applied: string[];
  drift: DriftReport;
}

async function before(session: MigrationSession, snapshot: Snapshot, warnings: string[]): Promise<Before> {
  const live = await liveObjects(session.work);
  const applied = appliedTags(snapshot);
  const drift = await recordedDrift(session.work, applied, live);
  if (drift.differences.length > 0) {
    warnings.push(
      `the database has drifted from what its applied migrations make (${drift.differences.length} difference(s), \`jeex-db status\` lists them): ${drift.differences
        .slice(0, 5)
        .map((d) => d.message)
        .join('; ')}${drift.differences.length > 5 ? '; ...' : ''}`,
    );
  }
  return { live, applied, drift };
}

/**
 * Record the schema the migrations now make (schema-state.ts): the live catalog, with the drift
 * found before the run carried over (a hand-made change stays a difference). Skipped when nothing
 * ran and a record for this point exists. A failure to record is a warning, never the run's.
 */
async function recordAfter(session: MigrationSession, source: MigrationSource, prior: Before, event: string, changed: boolean, warnings: string[]): Promise<void> {
  try {
    const { snapshot } = await inspect(session.work, source, { allowOutOfOrder: true });
    const applied = appliedTags(snapshot);
    const record = await readRecordedSchema(session.work);
    if (!changed && record && prior.drift.expected === 'recorded') return;
    const live = await liveObjects(session.work);
    const objects = record && prior.drift.expected === 'recorded' ? carryDrift(record.objects, prior.live, live) : live;
    await recordSchema(session.work, { applied, event, objects });
    if (prior.drift.expected === 'none' && prior.applied.length > 0) {
      warnings.push('recorded the schema as it is now (there was no record for it before): `jeex-db status --verify` compares it with a reference database');
    }
  } catch (error) {
    warnings.push(`the schema was not recorded (\`jeex-db status\` cannot tell drift until the next run): ${translateDbError(error).message}`);
  }
}

/** The pending migrations up to `to` (inclusive); INVALID_CONFIG for an unknown name. */
export function selectUpTo(pending: Migration[], to: string | undefined, source: MigrationSource): Migration[] {
  if (!to) return pending;
  if (!source.migrations.some((m) => m.tag === to)) {
    throw new JeexDbError('INVALID_CONFIG', `--to ${to}: there is no such migration`, {
      hint: `Known migrations: ${source.migrations.map((m) => m.tag).join(', ')}.`,
    });
  }
  const limit = source.migrations.find((m) => m.tag === to)?.idx ?? Number.POSITIVE_INFINITY;
  return pending.filter((m) => m.idx <= limit);
}

/**
 * Apply pending migrations: under the migration lock, one transaction each (or all in one with
 * `singleTransaction`), statements that cannot run in a transaction one by one outside it, every
 * statement with lock_timeout and statement_timeout, recorded in the ledger and in drizzle-orm's
 * table. Everything is validated before anything runs.
 *
 * @example
 * const sql = postgres(url, { max: 2 });
 * const result = await migrate(sql, { migrationsDir: 'drizzle' });
 */
export async function migrate(sql: Sql, options: MigrateOptions = {}): Promise<MigrateResult> {
  const progress = options.onProgress ?? (() => {});
  const source = await loadMigrations(options.migrationsDir ?? defaultMigrationsDir);
  const session = await openSession(sql, options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, progress);
  try {
    const { snapshot, ledger } = await inspect(session.work, source, options);
    const pending = selectUpTo(snapshot.pending, options.to, source);
    const warnings: string[] = [...snapshot.warnings];
    const prior = await before(session, snapshot, warnings);
    const unledgered = unledgeredProblem(prior.drift, prior.drift.unledgered ? await options.identifySchema?.(prior.live) : undefined);
    throwProblems([...snapshot.problems, ...(unledgered ? [unledgered] : []), ...runProblems(pending, options, 'up')]);
    const adopted = await reconcile(session, source, snapshot, ledger);
    if (adopted.length > 0) progress(`adopted ${adopted.length} migration(s) applied by drizzle-kit migrate`);
    const drift = prior.drift.differences.length > 0 ? { drift: prior.drift } : {};
    if (pending.length === 0) {
      if (options.recordSchema !== false) await recordAfter(session, source, prior, 'migrate', adopted.length > 0, warnings);
      return { applied: [], adopted, warnings, upToDate: true, total: source.migrations.length, ...drift };
    }

    const restorePoint = options.restorePoint === false ? undefined : await createRestorePoint(session, `before ${pending[0]?.tag ?? ''}`, warnings);
    const context = { session, timeouts: timeouts(options), progress, ...(restorePoint ? { restorePoint } : {}) };
    const applied: StepResult[] = [];
    if (options.singleTransaction) {
      progress(`applying ${pending.map((m) => m.tag).join(', ')} in one transaction`);
      applied.push(...(await runAllInOneTransaction(pending, 'up', { ...context, resuming: false })));
    } else {
      for (const migration of pending) {
        const state = snapshot.statuses.find((s) => s.name === migration.tag)?.state;
        progress(`applying ${migration.tag}${migration.up.mode === 'none' ? ' (outside a transaction)' : ''}${state === 'interrupted' ? ' (resuming an interrupted run)' : ''}`);
        const resuming = state === 'interrupted' || state === 'failed';
        const step = migration.up.mode === 'none' ? await runOutsideTransaction(migration, 'up', { ...context, resuming }) : await runInTransaction(migration, 'up', { ...context, resuming });
        progress(`applied ${migration.tag} in ${step.durationMs} ms`);
        applied.push(step);
      }
    }
    if (options.recordSchema !== false) await recordAfter(session, source, prior, 'migrate', true, warnings);
    return { applied, adopted, warnings, upToDate: false, total: source.migrations.length, ...drift, ...(restorePoint ? { restorePoint } : {}) };
  } finally {
    await session.close();
  }
}

export interface RollbackOptions extends RunnerOptions {
  /** Roll back this many of the most recently applied migrations (default 1). */
  steps?: number;
  /** Roll back everything applied after this migration (it stays applied). */
  to?: string;
}

export interface RollbackResult {
  rolledBack: StepResult[];
  restorePoint?: string;
  warnings: string[];
}

/**
 * Undo the most recent migrations with their reviewed `.down.sql` files, newest first, under the
 * same lock, transactions, timeouts and ledger as `migrate`.
 */
export async function rollback(sql: Sql, options: RollbackOptions = {}): Promise<RollbackResult> {
  const progress = options.onProgress ?? (() => {});
  // Checked here, not only by the CLI: steps -1 would reach applied.slice(0, -1) and roll back all but the oldest.
  if (options.steps !== undefined && (!Number.isInteger(options.steps) || options.steps < 1)) {
    throw new JeexDbError('INVALID_CONFIG', `steps ${options.steps}: expected a whole number >= 1`, { hint: 'Pass steps: 1 to undo the newest migration. Nothing was rolled back.' });
  }
  if (options.steps !== undefined && options.to) {
    throw new JeexDbError('INVALID_CONFIG', 'steps and to were both given', { hint: 'Pass one of them. Nothing was rolled back.' });
  }
  const source = await loadMigrations(options.migrationsDir ?? defaultMigrationsDir);
  const session = await openSession(sql, options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, progress);
  try {
    const { snapshot } = await inspect(session.work, source, { allowOutOfOrder: true });
    throwProblems(snapshot.problems.filter((p) => p.code !== 'MIGRATION_OUT_OF_ORDER'));
    const applied = source.migrations.filter((m) => snapshot.statuses.find((s) => s.name === m.tag)?.state === 'applied').reverse();
    let targets: Migration[];
    if (options.to) {
      const keep = applied.find((m) => m.tag === options.to);
      if (!keep) {
        throw new JeexDbError('INVALID_CONFIG', `--to ${options.to}: it is not an applied migration`, {
          hint: `Applied: ${applied.map((m) => m.tag).join(', ') || 'none'}.`,
        });
      }
      targets = applied.filter((m) => m.idx > keep.idx);
    } else targets = applied.slice(0, options.steps ?? 1);
    if (targets.length === 0) return { rolledBack: [], warnings: [] };
    for (const migration of targets) {
      if (!migration.down) {
        throw new JeexDbError('MIGRATION_NO_DOWN', `${migration.tag} has no down migration (${migration.up.displayPath.replace(/\.sql$/, '.down.sql')})`, {
          hint: `Draft one with \`jeex-db migrate generate-down ${migration.tag}\`, review it, delete its "-- jeex:draft" line and commit it. Nothing was rolled back.`,
        });
      }
      if (migration.down.statements.length === 0) {
        throw new JeexDbError('MIGRATION_NO_DOWN', `${migration.down.displayPath} has no statements, only comments`, {
          hint: 'Write the SQL that undoes the migration (the draft lists what the up file did). Nothing was rolled back.',
        });
      }
      if (migration.down.draft) {
        throw new JeexDbError('MIGRATION_NO_DOWN', `${migration.down.displayPath} is an unreviewed draft`, {
          hint: 'Read it (irreversible steps are marked WARNING), fix what needs fixing, delete its "-- jeex:draft" line and commit it. Nothing was rolled back.',
        });
      }
    }
    throwProblems(runProblems(targets, {}, 'down'));
    const warnings: string[] = [];
    const prior = await before(session, snapshot, warnings);
    const restorePoint = options.restorePoint === false ? undefined : await createRestorePoint(session, `before rollback of ${targets[0]?.tag ?? ''}`, warnings);
    const rolledBack: StepResult[] = [];
    for (const migration of targets) {
      progress(`rolling back ${migration.tag}`);
      const context = { session, timeouts: timeouts(options), progress, resuming: false, ...(restorePoint ? { restorePoint } : {}) };
      rolledBack.push(migration.down?.mode === 'none' ? await runOutsideTransaction(migration, 'down', context) : await runInTransaction(migration, 'down', context));
    }
    if (options.recordSchema !== false) await recordAfter(session, source, prior, 'rollback', true, warnings);
    return { rolledBack, warnings, ...(restorePoint ? { restorePoint } : {}) };
  } finally {
    await session.close();
  }
}

export interface StatusResult {
  migrations: MigrationStatus[];
  pending: string[];
  problems: Problem[];
  /** E.g. a same-parent collision that `allowOutOfOrder` lets through. */
  warnings: string[];
  /** The live schema compared with what the applied migrations make (not a problem: see `driftProblem`). */
  drift: DriftReport;
  /** Nothing pending, no problem, no drift. */
  upToDate: boolean;
}

/**
 * Applied / pending / changed / missing / failed per migration, and the live schema compared with
 * the one recorded after the last run (`drift`). Read-only: no lock, creates nothing.
 */
export async function status(sql: Sql, options: { migrationsDir?: string; allowOutOfOrder?: boolean } = {}): Promise<StatusResult> {
  const source = await loadMigrations(options.migrationsDir ?? defaultMigrationsDir);
  const { snapshot } = await inspect(sql, source, options);
  const drift = await recordedDrift(sql, appliedTags(snapshot), await liveObjects(sql));
  const unledgered = unledgeredProblem(drift);
  const problems = [...snapshot.problems, ...(unledgered ? [unledgered] : [])];
  return {
    migrations: snapshot.statuses,
    pending: snapshot.pending.map((m) => m.tag),
    problems,
    warnings: snapshot.warnings,
    drift,
    upToDate: snapshot.pending.length === 0 && problems.length === 0 && drift.differences.length === 0,
  };
}

/**
 * For a service's startup: throw unless every migration is applied and nothing is wrong.
 *
 * @example
 * await assertUpToDate(sql); // throws JeexDbError MIGRATIONS_PENDING, MIGRATION_CHECKSUM_MISMATCH, ...
 */
export async function assertUpToDate(sql: Sql, options: { migrationsDir?: string } = {}): Promise<void> {
  const result = await status(sql, options);
  throwProblems(result.problems);
  if (result.pending.length > 0) {
    throw new JeexDbError('MIGRATIONS_PENDING', `the database is missing ${result.pending.length} migration(s): ${result.pending.join(', ')}`, {
      hint: 'Apply them with `jeex-db migrate` (or `jeex-db up` locally) before starting the service.',
      context: { pending: result.pending },
    });
  }
}

/**
 * Record migrations as applied without running them: `names`, or with `upTo` every migration up
 * to it (a baseline for a database whose schema was made another way). For an applied migration
 * whose file changed, record the new checksum (the edit was accepted as harmless).
 */
export async function markApplied(
  sql: Sql,
  selection: { names?: string[]; upTo?: string; /** Accept edited statements of applied files (else refused). */ acceptChanges?: boolean },
  options: RunnerOptions = {},
): Promise<{ marked: string[]; unchanged: string[]; renamed: { from: string; to: string }[]; warnings: string[]; edits: ScriptEdit[] }> {
  const progress = options.onProgress ?? (() => {});
  const source = await loadMigrations(options.migrationsDir ?? defaultMigrationsDir);
  const session = await openSession(sql, options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, progress);
  try {
    const { snapshot } = await inspect(session.work, source, { allowOutOfOrder: true });
    throwProblems(source.problems);
    const warnings: string[] = [];
    const prior = await before(session, snapshot, warnings);
    let chosen: Migration[];
    if (selection.names) {
      chosen = selection.names.map((name) => {
        const migration = source.migrations.find((m) => m.tag === name);
        if (!migration) throw new JeexDbError('INVALID_CONFIG', `no migration named ${name}`, { hint: `Known: ${source.migrations.map((m) => m.tag).join(', ')}.` });
        return migration;
      });
    } else chosen = selectUpTo(source.migrations, selection.upTo, source);
    const marked: string[] = [];
    const unchanged: string[] = [];
    const renamed: { from: string; to: string }[] = [];
    const edited = chosen.filter((m) => snapshot.statuses.find((s) => s.name === m.tag)?.state === 'changed');
    const review = await reviewAppliedEdits(session.work, edited, { acceptChanges: Boolean(selection.acceptChanges) });
    await session.work.unsafe('BEGIN');
    try {
      for (const migration of chosen) {
        const state = snapshot.statuses.find((s) => s.name === migration.tag)?.state;
        if (state === 'applied') {
          unchanged.push(migration.tag);
          continue;
        }
        // Applied here under its old name (the same file): move that record instead of adding one.
        const old = state === 'changed' ? undefined : snapshot.statuses.find((s) => s.state === 'missing' && s.appliedSha256 === migration.up.sha256 && !s.name.startsWith('('));
        if (old) {
          await renameInLedger(session.work, old.name, { name: migration.tag, sha256: migration.up.sha256, when: migration.when });
          await recordInDrizzle(session.work, migration.up.sha256, migration.when);
          renamed.push({ from: old.name, to: migration.tag });
          continue;
        }
        await insertLedgerRow(session.work, {
          name: migration.tag,
          sha256: migration.up.sha256,
          direction: 'up',
          status: 'applied',
          startedAt: new Date(),
          finishedAt: new Date(),
          note: state === 'changed' ? 'checksum accepted by mark-applied (file edited after it was applied)' : 'marked applied without running',
          script: migration.up.text,
        });
        await recordInDrizzle(session.work, migration.up.sha256, migration.when);
        if (state === 'changed') await session.work`UPDATE drizzle.__drizzle_migrations SET hash = ${migration.up.sha256} WHERE created_at = ${migration.when}`;
        marked.push(migration.tag);
      }
      await session.work.unsafe('COMMIT');
    } catch (error) {
      await session.work.unsafe('ROLLBACK').catch(() => undefined);
      throw translateDbError(error);
    }
    // A baseline records what the database has (`baseline` verified it, or was forced); mark-applied carries any drift over.
    const basis = selection.names ? prior : { ...prior, applied: [], drift: { ...prior.drift, expected: 'none' as const } };
    if (options.recordSchema !== false) await recordAfter(session, source, basis, selection.names ? 'mark-applied' : 'baseline', true, warnings);
    return { marked, unchanged, renamed, warnings: [...review.warnings, ...warnings], edits: review.edits };
  } finally {
    await session.close();
  }
}

export { loadMigrations };
export type { MigrationStatus, Problem, StepResult };

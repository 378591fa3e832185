import type { ReservedSql } from 'postgres';
import { JeexDbError } from '../core/errors.ts';
import { translateDbError } from '../db/translate-error.ts';
import type { Statement } from './statements.ts';
import { errorLocation, excerpt, lineColumn } from './statements.ts';
import type { Migration, MigrationScript } from './source.ts';
import { backoffDelay } from '../core/backoff.ts';
import { lockTimeoutHint } from './lock-wait.ts';
import { adviseOnFailure } from './failure-advice.ts';

export interface Timeouts {
  /** How long one try waits for a table lock: also how long writers queued behind it stall. */
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** How often a lock timeout is retried (with backoff) before the migration fails. */
  retries: number;
  /** Cap of the first backoff; doubled each retry up to `maxBackoffMs`, then full jitter. */
  backoffMs: number;
  /** The longest cap of a backoff. */
  maxBackoffMs: number;
}

export interface Blocker {
  pid: number;
  state: string | null;
  applicationName: string | null;
  user: string | null;
  query: string | null;
  transactionSeconds: number | null;
}


/** The timeouts a script runs with: its directives, else the run's. */
export function timeoutsFor(script: MigrationScript, base: Timeouts): Timeouts {
  return {
    ...base,
    lockTimeoutMs: script.directives.lockTimeoutMs ?? base.lockTimeoutMs,
    statementTimeoutMs: script.directives.statementTimeoutMs ?? base.statementTimeoutMs,
  };
}

export function timeoutSql(t: Timeouts, scope: 'LOCAL' | 'SESSION'): string {
  return `SET ${scope} lock_timeout = '${t.lockTimeoutMs}ms'; SET ${scope} statement_timeout = '${t.statementTimeoutMs}ms'`;
}

/**
 * Watch, from the lock connection, which sessions block the work connection while `run` runs,
 * so a lock timeout can name them (after the timeout they are no longer waited on).
 */
export async function watchBlockers<T>(monitor: ReservedSql, workPid: number, run: () => Promise<T>): Promise<{ value?: T; error?: unknown; blockers: Blocker[] }> {
  let blockers: Blocker[] = [];
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      const rows = await findBlockers(monitor, workPid);
      if (rows.length > 0) blockers = rows;
    } catch {
      // Monitoring is best effort; the migration's own outcome is what counts.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void poll(), 100);
  try {
    return { value: await run(), blockers };
  } catch (error) {
    await poll();
    return { error, blockers };
  } finally {
    clearInterval(timer);
  }
}

export async function findBlockers(sql: ReservedSql, pid: number): Promise<Blocker[]> {
  return sql<Blocker[]>`
    SELECT pid, state, application_name AS "applicationName", usename AS "user", left(query, 300) AS query,
           round(extract(epoch FROM now() - xact_start))::int AS "transactionSeconds"
    FROM pg_stat_activity WHERE pid = ANY(pg_blocking_pids(${pid}))`;
}

export const isLockTimeout = (error: unknown) => translateDbError(error).code === 'LOCK_TIMEOUT';

/**
 * The wait before retry `attempt` (0 first) of a lock timeout: "full jitter", anywhere from 0 to
 * `backoffMs` doubled each time (at most `maxBackoffMs`). Replicas or pipelines that hit the same
 * blocker together then retry at scattered moments, not in lock-step; and between tries the
 * writers that queued behind the migration drain.
 */
export function backoff(attempt: number, t: Timeouts, random: () => number = Math.random): number {
  return backoffDelay(attempt, { initialMs: t.backoffMs, maxMs: t.maxBackoffMs, spread: [0, 1], random });
}

/**
 * The error for a failed statement: file, statement, line and column, the excerpt, SQLSTATE,
 * constraint and hint, and for a lock timeout the sessions that held the lock.
 */
export function migrationFailure(
  migration: Migration,
  script: MigrationScript,
  statement: Statement | undefined,
  error: unknown,
  extra: { blockers?: Blocker[]; attempts?: number; /** The lock_timeout each try had. */ lockTimeoutMs: number; cleanedUp?: string[]; direction: 'up' | 'down'; transaction: string },
): JeexDbError {
  const cause = translateDbError(error);
  const position = Number((error as { position?: unknown } | null)?.position ?? 0) || undefined;
  const where = statement ? (position ? errorLocation(script.text, statement, position) : (blockLine(script.text, statement, error) ?? errorLocation(script.text, statement))) : undefined;
  const at = where ? `${script.displayPath}:${where.line}:${where.column}` : script.displayPath;
  const which = statement ? ` (statement ${statement.index + 1} of ${script.statements.length})` : '';
  const blockers = extra.blockers ?? [];
  const blockedBy =
    blockers.length > 0
      ? `; blocked by ${blockers.map((b) => `pid ${b.pid} (${b.state ?? '?'}, ${b.applicationName || 'no application_name'}, in a transaction for ${b.transactionSeconds ?? '?'}s: ${(b.query ?? '').replace(/\s+/g, ' ').slice(0, 120)})`).join(', ')}`
      : '';
  const undone =
    extra.transaction === 'none'
      ? 'it ran outside a transaction: statements before this one stay applied, and the next run resumes it'
      : extra.transaction === 'single'
        ? 'the whole run (--single-transaction) was rolled back; nothing was applied'
        : 'it was rolled back completely; nothing after it ran';
  const verb = extra.direction === 'up' ? 'migration' : 'rollback of';
  // Data failures (NOT NULL over nulls, a type that does not convert, duplicates under a unique index) get a DBA's recipe.
  const advice = adviseOnFailure(error, statement);
  const found = advice?.found ? `; ${advice.found}` : '';
  const dropped = extra.cleanedUp?.length ? ` The INVALID index${extra.cleanedUp.length > 1 ? 'es' : ''} the failed build left (${extra.cleanedUp.join(', ')}) ${extra.cleanedUp.length > 1 ? 'were' : 'was'} dropped, so the next run builds it again.` : '';
  const message = `${verb} ${migration.tag} failed at ${at}${which}: ${cause.message}${cause.sqlState ? ` [SQLSTATE ${cause.sqlState}]` : ''}${found}${blockedBy}. ${capitalise(undone)}.${dropped}`;
  const hint =
    cause.code === 'LOCK_TIMEOUT'
      ? lockTimeoutHint(blockers, extra.attempts ?? 1, extra.lockTimeoutMs)
      : cause.code === 'STATEMENT_TIMEOUT'
        ? 'The statement ran longer than statement_timeout: raise it with --statement-timeout or a "-- jeex:statement-timeout 30min" line in the file, or split the work into batches.'
        : (advice?.hint ?? cause.hint ?? `Fix the statement in ${script.displayPath} (or the data it conflicts with) and run again.`);
  return new JeexDbError('MIGRATION_FAILED', message, {
    hint,
    ...(cause.sqlState ? { sqlState: cause.sqlState } : {}),
    ...(cause.constraint ? { constraint: cause.constraint } : {}),
    ...(cause.table ? { table: cause.table } : {}),
    cause,
    context: {
      migration: migration.tag,
      direction: extra.direction,
      file: script.displayPath,
      ...(statement ? { statement: statement.index + 1, statements: script.statements.length } : {}),
      ...(where ? { line: where.line, column: where.column, excerpt: excerpt(script.text, where.line, where.column) } : {}),
      errorCode: cause.code,
      ...(blockers.length > 0 ? { blockers } : {}),
      ...(extra.cleanedUp?.length ? { invalidIndexesDropped: extra.cleanedUp } : {}),
      ...(extra.attempts ? { attempts: extra.attempts } : {}),
      ...advice?.context,
    },
  });
}

/**
 * For an error inside a DO block, PostgreSQL gives no position but says where in the block:
 * `PL/pgSQL function inline_code_block line 7 at SQL statement`. Line 1 of the block is the
 * text right after its opening dollar quote.
 */
function blockLine(text: string, statement: Statement, error: unknown): { line: number; column: number } | undefined {
  const where = (error as { where?: unknown } | null)?.where;
  const context = typeof where === 'string' ? where : '';
  const inBlock = /inline_code_block line (\d+)/.exec(context);
  const quote = /\$[A-Za-z_]*\$/.exec(statement.sql);
  if (!inBlock || !quote) return undefined;
  const line = lineColumn(text, statement.offset + quote.index + quote[0].length).line + Number(inBlock[1]) - 1;
  const column = (text.split('\n')[line - 1]?.search(/\S/) ?? 0) + 1;
  return { line, column: Math.max(1, column) };
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** An INVALID index left by a failed or killed CREATE INDEX CONCURRENTLY, dropped if present. */
export async function dropInvalidIndex(work: ReservedSql, index: { name: string; schema?: string }): Promise<string | undefined> {
  const [row] = await work<{ qualified: string }[]>`
    SELECT format('%I.%I', n.nspname, c.relname) AS qualified
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relname = ${index.name} AND NOT i.indisvalid
      AND (${index.schema ?? null}::text IS NULL OR n.nspname = ${index.schema ?? null})
      AND (${index.schema ?? null}::text IS NOT NULL OR n.nspname = ANY(current_schemas(false)))
    LIMIT 1`;
  if (!row) return undefined;
  await work.unsafe(`DROP INDEX CONCURRENTLY IF EXISTS ${row.qualified}`).simple();
  return row.qualified;
}

/** Whether a valid index of that name already exists (a resumed run's build had finished). */
export async function validIndexExists(work: ReservedSql, index: { name: string; schema?: string }): Promise<boolean> {
  const [row] = await work<{ found: boolean }[]>`
    SELECT EXISTS (
      SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = ${index.name} AND i.indisvalid
        AND (${index.schema ?? null}::text IS NULL OR n.nspname = ${index.schema ?? null})
        AND (${index.schema ?? null}::text IS NOT NULL OR n.nspname = ANY(current_schemas(false)))) AS found`;
  return row?.found ?? false;
}

export async function runStatement(work: ReservedSql, statement: Statement): Promise<void> {
  await work.unsafe(statement.sql).simple();
}

import type { ReservedSql } from 'postgres';
import { JeexDbError } from '../core/errors.ts';
import { sleep } from '../core/sleep.ts';
import { backoffDelay } from '../core/backoff.ts';

/** Session advisory-lock key for "a runner is migrating this database" ('JEEXMIGR'). */
export const MIGRATION_LOCK_KEY = 0x4a4545584d494752n;

export interface LockHolder {
  pid: number;
  applicationName: string;
  user: string;
  clientAddr: string | null;
  /** ISO time the holder connected; null when pg_stat_activity hides it from us. */
  since: string | null;
  state: string | null;
}

/** Who holds the migration lock right now (pg_locks stores a bigint key as classid/objid). */
export async function lockHolder(sql: ReservedSql): Promise<LockHolder | undefined> {
  const high = Number(MIGRATION_LOCK_KEY >> 32n);
  const low = Number(MIGRATION_LOCK_KEY & 0xffffffffn);
  const [row] = await sql<LockHolder[]>`
    SELECT a.pid, coalesce(a.application_name, '') AS "applicationName", coalesce(a.usename, '') AS "user",
           host(a.client_addr) AS "clientAddr", to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since, a.state
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ${high}::oid AND l.objid = ${low}::oid AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    LIMIT 1`;
  return row;
}

/**
 * Take the session-level migration lock on a dedicated connection, waiting up to `timeoutMs`
 * (0: fail at once). Fails with MIGRATION_LOCKED naming the holder.
 */
export async function acquireMigrationLock(sql: ReservedSql, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let tries = 0; ; tries++) {
    const [row] = await sql<{ locked: boolean }[]>`SELECT pg_try_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint) AS locked`;
    if (row?.locked) return;
    if (Date.now() >= deadline) break;
    await sleep(Math.min(backoffDelay(tries, { initialMs: 50, maxMs: 1000 }), deadline - Date.now()));
  }
  const holder = await lockHolder(sql);
  const who = holder
    ? `pid ${holder.pid} (application_name "${holder.applicationName}", user ${holder.user}${holder.clientAddr ? ` from ${holder.clientAddr}` : ''}${holder.since ? `, connected since ${holder.since}` : ''})`
    : 'another session (it let go just now)';
  throw new JeexDbError('MIGRATION_LOCKED', `another migration runner holds the migration lock: ${who}`, {
    hint: holder
      ? `Wait for it to finish, or pass --lock-timeout 5min to wait. If that process is gone but its session is stuck, end it: SELECT pg_terminate_backend(${holder.pid});`
      : 'Run again.',
    context: { holder: holder ?? null, waitedMs: timeoutMs },
  });
}

export async function releaseMigrationLock(sql: ReservedSql): Promise<void> {
  await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
}

import type { Sql } from 'postgres';

/**
 * What earlier health checks on the same client saw of a standby, so that a later one can tell
 * how long a state has lasted. A single check cannot: once the WAL receiver has exited,
 * pg_stat_wal_receiver has no row left that says since when.
 */
export interface ReplicationMemory {
  /** When a check first saw the WAL receiver not streaming (ms, the checks' clock); cleared when it streams. */
  notStreamingSince?: number;
  /** The last check that saw everything received replayed (ms): replay cannot be further behind than since then. */
  caughtUpAt?: number;
}

// Keyed by the client: checkHealth called again and again with one `sql` (serve's /health, an
// alert loop, an app's endpoint) remembers; a client that is gone takes its memory with it.
const memories = new WeakMap<Sql, ReplicationMemory>();

/**
 * The memory of `sql`'s earlier checks (created empty on first use).
 *
 * @example
 * const memory = replicationMemory(ctx.sql);
 * memory.notStreamingSince ??= ctx.now().getTime();
 */
export function replicationMemory(sql: Sql): ReplicationMemory {
  let memory = memories.get(sql);
  if (!memory) {
    memory = {};
    memories.set(sql, memory);
  }
  return memory;
}

/** Forget a standby's past (the server is a primary now, or another server answers). */
export function forgetReplication(sql: Sql): void {
  memories.delete(sql);
}

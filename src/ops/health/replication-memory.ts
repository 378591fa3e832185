import type { Sql } from 'postgres';

/**
 * What earlier health checks on the same client saw of a standby, so that a later one can tell
 * how long a state has lasted. A single check cannot: once the WAL receiver has exited,
 * pg_stat_wal_receiver has no row left that says since when.
 */
export interface ReplicationMemory {
  /** On a standby: when a check first saw the WAL receiver not streaming (ms, the checks' clock); cleared when it streams. */
  notStreamingSince?: number;
  /** On a standby: the last check that saw everything received replayed (ms): replay cannot be further behind than since then. */
  caughtUpAt?: number;
  /**
   * On a primary, per standby: its replay position while behind, and when a check first saw it
   * there (`since`, and `reply`, the standby's reply_time then, server clock). pg_stat_replication.replay_lag
   * keeps the lag of the last replayed WAL while replay is stuck; a position that a later reply
   * still reports while WAL waits has been behind at least since then.
   */
  replay?: Map<string, { lsn: string; since: number; reply: number | null }>;
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

/** Forget what was seen of the other role: a standby's receiver on a primary (promoted), a primary's standbys on a standby. */
export function forgetRole(sql: Sql, role: 'primary' | 'standby'): void {
  const memory = memories.get(sql);
  if (!memory) return;
  if (role === 'primary') {
    delete memory.notStreamingSince;
    delete memory.caughtUpAt;
  } else delete memory.replay;
}

import type { TransactionSql } from 'postgres';
import { boundedRead, sqlStateOf } from './bounded.ts';
import { archiveFailing, archiverStats } from '../backup/archiver.ts';
import { cacheHit } from './judge.ts';
import { measure, round, type CheckContext, type CheckSpec, type Entry } from './measure.ts';
import { judgeWindow, statementCounters, type StatementJudgement } from './statement-window.ts';
import {
  blockStats,
  clientConnections,
  databaseSize,
  idleInTransaction,
  oldestFrozenXid,
  oldestTransaction,
  statStatementsSchema,
  type SessionRow,
} from './queries.ts';

const PG = 'postgresql';
/** Transaction IDs wrap around at 2^31; PostgreSQL stops accepting writes just before. */
const WRAPAROUND = 2 ** 31;

const read = <T>(ctx: CheckContext, what: string, fn: (tx: TransactionSql) => Promise<T>) => boundedRead(ctx.sql, ctx.timeoutMs, what, fn);
const entry = (key: string, ctx: CheckContext, m: Parameters<typeof measure>[1]): Entry => ({ key, check: measure(ctx.now, m) });
const who = (s: SessionRow) => `pid ${s.pid} (${[s.user && `user ${s.user}`, s.database && `database ${s.database}`, s.applicationName && `application ${s.applicationName}`].filter(Boolean).join(', ')})`;

export const connectionsCheck: CheckSpec = {
  what: 'connections',
  key: `${PG}:connections`,
  componentType: PG,
  run: async (ctx) => {
    const used = await read(ctx, 'counting connections', (tx) => clientConnections(tx));
    const max = ctx.facts.maxConnections;
    const { connectionsWarnPercent: warn, connectionsFailPercent: fail } = ctx.thresholds;
    const percent = (used / max) * 100;
    const output = `${used} of max_connections ${max} in use (${round(percent, 1)}%): new connections will soon be refused; put clients behind PgBouncer, lower the app pools' max, close idle sessions, or raise max_connections (restart)`;
    const asCount = (p: number | undefined) => (p === undefined ? undefined : Math.ceil((p / 100) * max));
    return [
      entry(`${PG}:connections`, ctx, { value: used, unit: '{connection}', limits: { warn: asCount(warn), fail: asCount(fail) }, componentType: PG, output }),
      entry(`${PG}:connectionUsage`, ctx, { value: round(percent, 2), exact: percent, unit: '%', limits: { warn, fail }, componentType: PG, output }),
    ];
  },
};

export const transactionsCheck: CheckSpec = {
  what: 'the longest transaction and the sessions idle in transaction',
  key: `${PG}:transactionAge`,
  componentType: PG,
  run: async (ctx) => {
    if (!ctx.facts.readAllStats) {
      // pg_stat_activity shows other roles' sessions with NULL xact_start and state: passing would be a lie.
      const output = `unavailable: this role is not a member of pg_read_all_stats, so pg_stat_activity hides the transactions and states of other roles' sessions; run the health check as a member of pg_monitor (GRANT pg_monitor TO <role>)`;
      return [`${PG}:transactionAge`, `${PG}:idleInTransaction`, `${PG}:idleInTransactionAge`].map((key) => entry(key, ctx, { value: null, status: 'warn', componentType: PG, output }));
    }
    const { oldest, idle } = await read(ctx, 'reading pg_stat_activity', async (tx) => ({
      oldest: await oldestTransaction(tx, ctx.scope),
      idle: await idleInTransaction(tx, ctx.scope),
    }));
    const t = ctx.thresholds;
    const age = oldest ? round(oldest.ageSeconds, 1) : 0;
    const idleAge = idle.longest ? round(idle.longest.ageSeconds, 1) : 0;
    const terminate = (s: SessionRow) => `end it with SELECT pg_terminate_backend(${s.pid}) if it is stuck`;
    return [
      entry(`${PG}:transactionAge`, ctx, {
        value: age,
        unit: 's',
        limits: { warn: t.transactionAgeWarnSeconds, fail: t.transactionAgeFailSeconds },
        componentType: PG,
        ...(oldest && {
          output: `a transaction has been open for ${age} s, ${who(oldest)}, state ${oldest.state ?? 'unknown'}: it holds back vacuum and may hold locks; ${terminate(oldest)}, and fix the code that keeps it open`,
        }),
      }),
      entry(`${PG}:idleInTransaction`, ctx, {
        value: idle.count,
        unit: '{session}',
        limits: { warn: t.idleInTransactionWarn, fail: t.idleInTransactionFail },
        componentType: PG,
        output: `${idle.count} session(s) idle in transaction: each holds its locks and a connection while doing nothing; find them with SELECT pid, application_name, query FROM pg_stat_activity WHERE state LIKE 'idle in transaction%', and set idle_in_transaction_session_timeout`,
      }),
      entry(`${PG}:idleInTransactionAge`, ctx, {
        value: idleAge,
        unit: 's',
        limits: { warn: t.idleInTransactionWarnSeconds, fail: t.idleInTransactionFailSeconds },
        componentType: PG,
        ...(idle.longest && {
          output: `${who(idle.longest)} has been idle in transaction for ${idleAge} s: ${terminate(idle.longest)}; the application must commit or roll back (idle_in_transaction_session_timeout ends such sessions)`,
        }),
      }),
    ];
  },
};

export const cacheHitCheck: CheckSpec = {
  what: 'the cache hit ratio',
  key: `${PG}:cacheHitRatio`,
  componentType: PG,
  run: async (ctx) => {
    const stats = await read(ctx, 'reading pg_stat_database', (tx) => blockStats(tx, ctx.scope));
    const minBlocks = ctx.thresholds.cacheHitMinBlocks ?? 0;
    const { ratio, enough } = cacheHit(stats.hit, stats.read, minBlocks);
    const since = stats.statsReset ? ` since ${stats.statsReset.toISOString()}` : '';
    if (!enough) {
      ctx.note(`${PG}:cacheHitRatio: only ${stats.hit + stats.read} block accesses${since} (fewer than cacheHitMinBlocks ${minBlocks}): too few to judge the cache, so it passes`);
    }
    const value = ratio === null ? null : round(ratio, 4);
    const { cacheHitWarnRatio: warn, cacheHitFailRatio: fail } = ctx.thresholds;
    return [
      entry(`${PG}:cacheHitRatio`, ctx, {
        value,
        ...(ratio === null ? {} : { exact: ratio }),
        unit: '1',
        ...(enough ? {} : { status: 'pass' as const }),
        limits: { warn, fail },
        lowerIsWorse: true,
        componentType: PG,
        componentId: ctx.scope === 'server' ? 'all databases' : ctx.facts.database,
        output: `${round((ratio ?? 0) * 100, 2)}% of ${stats.hit + stats.read} block reads${since} were found in shared_buffers: the working set does not fit in memory; raise shared_buffers (and the machine's RAM) or find the queries that scan (pg_stat_statements ORDER BY shared_blks_read DESC)`,
      }),
    ];
  },
};

export const wraparoundCheck: CheckSpec = {
  what: 'the transaction ID age',
  key: `${PG}:transactionIdAge`,
  componentType: PG,
  run: async (ctx) => {
    const oldest = await read(ctx, 'reading pg_database', (tx) => oldestFrozenXid(tx));
    const percent = (oldest.age / WRAPAROUND) * 100;
    const { xidAgeWarnPercent: warn, xidAgeFailPercent: fail } = ctx.thresholds;
    const asXids = (p: number | undefined) => (p === undefined ? undefined : Math.ceil((p / 100) * WRAPAROUND));
    const output = `database ${oldest.database} is ${oldest.age} transaction IDs old (${round(percent, 2)}% of the 2^31 wraparound limit; PostgreSQL stops writes near 100%): run VACUUM (FREEZE, VERBOSE) in it and find what keeps autovacuum from freezing (long transactions, prepared transactions, stale replication slots)`;
    return [
      entry(`${PG}:transactionIdAge`, ctx, { value: oldest.age, unit: '{transaction}', limits: { warn: asXids(warn), fail: asXids(fail) }, componentType: PG, componentId: oldest.database, output }),
      entry(`${PG}:wraparound`, ctx, { value: Number(percent.toPrecision(4)), exact: percent, unit: '%', limits: { warn, fail }, componentType: PG, componentId: oldest.database, output }),
    ];
  },
};

/** `pg_is_in_recovery()`: true on a standby (standby-checks.ts and primary-checks.ts judge replication). */
export const recoveryCheck: CheckSpec = {
  what: 'the recovery state',
  key: `${PG}:recovery`,
  componentType: PG,
  run: (ctx) => Promise.resolve([entry(`${PG}:recovery`, ctx, { value: ctx.facts.inRecovery, componentType: PG })]),
};

export const databaseSizeCheck: CheckSpec = {
  what: 'the database size',
  key: `${PG}:databaseSize`,
  componentType: PG,
  run: async (ctx) => {
    const bytes = await read(ctx, 'measuring the database', (tx) => databaseSize(tx));
    const { databaseSizeWarnBytes: warn, databaseSizeFailBytes: fail } = ctx.thresholds;
    return [
      entry(`${PG}:databaseSize`, ctx, {
        value: bytes,
        unit: 'By',
        limits: { warn, fail },
        componentType: PG,
        componentId: ctx.facts.database,
        output: `database ${ctx.facts.database} takes ${round(bytes / 2 ** 30, 2)} GiB: check the disk's free space, delete or archive old rows (exports, agent executions), and look for bloat (pg_stat_user_tables n_dead_tup)`,
      }),
    ];
  },
};

const ENABLE_STATEMENTS =
  "add pg_stat_statements to shared_preload_libraries (restart the server) and run CREATE EXTENSION pg_stat_statements in this database as a superuser (ops/postgresql.conf and `jeex-db up` do both)";

export const slowStatementsCheck: CheckSpec = {
  what: 'slow statements (pg_stat_statements)',
  key: `${PG}:slowStatements`,
  componentType: PG,
  run: async (ctx) => {
    const thresholdMs = ctx.thresholds.slowStatementMs ?? 500;
    const key = `${PG}:slowStatements`;
    const unavailable = (why: string): Entry[] => [
      entry(key, ctx, { value: null, status: 'warn', componentType: PG, componentId: ctx.facts.database, output: `pg_stat_statements ${why}, so slow statements cannot be found: ${ENABLE_STATEMENTS}` }),
    ];
    const windowMs = (ctx.thresholds.slowStatementWindowSeconds ?? 300) * 1000;
    let found: StatementJudgement;
    try {
      const rows = await read(ctx, 'reading pg_stat_statements', async (tx) => {
        const schema = await statStatementsSchema(tx);
        return schema === undefined ? undefined : statementCounters(tx, schema, ctx.scope);
      });
      if (!rows) return unavailable(`is not installed in database ${ctx.facts.database}`);
      found = judgeWindow(ctx.sql, rows, ctx.now().getTime(), windowMs, thresholdMs);
    } catch (error) {
      // "must be loaded via shared_preload_libraries"
      if (sqlStateOf(error) === '55000') return unavailable('is installed but not loaded');
      if (sqlStateOf(error) === '42501') {
        return [
          entry(key, ctx, { value: null, status: 'warn', componentType: PG, output: 'this role may not read pg_stat_statements: run the health check as a member of pg_monitor (GRANT pg_monitor TO <role>)' }),
        ];
      }
      throw error;
    }
    const list = found.slowest
      .map((s) => `${round(s.meanMs, 1)} ms mean over ${s.calls} call(s): ${s.query === '<insufficient privilege>' ? `queryid ${s.queryid ?? '?'} (grant pg_read_all_stats to see the text)` : s.query}`)
      .join('; ');
    const judged =
      found.basis.kind === 'window'
        ? `the calls of the last ${found.basis.seconds} s (slowStatementWindowSeconds ${windowMs / 1000})`
        : 'the means since the last SELECT pg_stat_statements_reset() (no earlier check on this connection to take the difference of; serve and an alert loop judge the last slowStatementWindowSeconds)';
    ctx.note(`${key}: judged ${judged}`);
    const { slowStatementsWarn: warn, slowStatementsFail: fail } = ctx.thresholds;
    return [
      entry(key, ctx, {
        value: found.count,
        unit: '{statement}',
        limits: { warn, fail },
        componentType: PG,
        componentId: ctx.scope === 'server' ? 'all databases' : ctx.facts.database,
        output: `${found.count} statement(s) took more than ${thresholdMs} ms on average over ${judged}: ${list}. EXPLAIN (ANALYZE, BUFFERS) them and add indexes or rewrite`,
      }),
    ];
  },
};

export const archiveCheck: CheckSpec = {
  what: 'WAL archiving (pg_stat_archiver)',
  key: `${PG}:archiveFailures`,
  componentType: PG,
  run: async (ctx) => {
    const row = await read(ctx, 'reading pg_stat_archiver', (tx) => archiverStats(tx));
    const failing = archiveFailing(row);
    return [
      entry(`${PG}:archiveFailures`, ctx, {
        value: row.failedCount,
        unit: '{failure}',
        status: failing ? 'fail' : 'pass',
        componentType: PG,
        output: `archiving (archive_library or archive_command) failed for WAL ${row.lastFailedWal ?? '?'} at ${row.lastFailedTime?.toISOString() ?? '?'}${row.lastArchivedTime ? `, last success ${row.lastArchivedTime.toISOString()}` : ', never succeeded'}: WAL piles up in pg_wal until the disk is full, and point-in-time recovery has a gap; read the server log for the archiver's error (basic_archive: a different file already under that name, or a directory it cannot write) and fix the archive target`,
      }),
    ];
  },
};

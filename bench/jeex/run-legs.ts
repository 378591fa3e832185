/**
 * One leg = one client stack driving the JEEX mix for a fixed time, with the CPU of every
 * process sampled around the measured window and the busiest statements from
 * pg_stat_statements.
 */
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Sql } from 'postgres';
import { createDb, type Database } from '../../src/db/create-db.ts';
import * as schema from '../../src/schema/index.ts';
import { cpuBetween, sampleCpu, type CpuPids, type CpuSample } from './cpu.ts';
import { LEG_LABELS, cpuFigures, type LegFigures, type LegName, type Mode, type StatementFigures } from './leg.ts';
import { driveNode, type DriveResult } from './node-leg.ts';
import { runPgbench, type PgbenchBinary, type PgbenchResult } from './pgbench.ts';
import type { PgbenchScript } from './pgbench-script.ts';
import { summarise } from './stats.ts';
import type { OperationName, WorkloadData } from './workload.ts';

export interface LegContext {
  /** Superuser on the JEEX database: CHECKPOINT and pg_stat_statements. */
  admin: Sql;
  pids: CpuPids;
  data: WorkloadData;
  urls: { pgbouncer: string; direct: string };
  clients: number;
  warmupS: number;
  durationS: number;
  seed: number;
}

/** A clean start for each leg: no checkpoint debt from the previous one, fresh statement counters. */
async function prepareLeg(admin: Sql): Promise<void> {
  await admin`CHECKPOINT`;
  await admin`SELECT pg_stat_statements_reset()`;
}

async function busiestStatements(admin: Sql): Promise<StatementFigures[]> {
  const rows = await admin<{ query: string; calls: string; mean: number; total: number }[]>`
    SELECT query, calls::text, mean_exec_time AS mean, total_exec_time AS total
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'
    ORDER BY total_exec_time DESC LIMIT 12`;
  return rows.map((r) => ({ query: r.query.replace(/\s+/g, ' ').slice(0, 160), calls: Number(r.calls), meanMs: r.mean, totalMs: r.total }));
}

function operations(perOperation: Map<OperationName, Float64Array>): LegFigures['operations'] {
  const out: LegFigures['operations'] = {};
  for (const [name, values] of perOperation) {
    const s = summarise(values);
    out[name] = { count: s.count, p50: s.p50, p95: s.p95, p99: s.p99 };
  }
  return out;
}

function lagFigures(lags: Float64Array | undefined): LegFigures['lagMs'] {
  if (!lags) return undefined;
  const s = summarise(lags);
  return { p50: s.p50, p99: s.p99, max: s.max };
}

interface NodeClient {
  db: Database;
  clientConnections: number;
  protocol: string;
  close: () => Promise<void>;
}

/** The three Node stacks: the package over PgBouncer and direct, and Drizzle's node-postgres over PgBouncer. */
export type NodeLegName = Exclude<LegName, 'pgbench' | 'pgbenchPrepared'>;

export function nodeClient(leg: NodeLegName, context: LegContext): NodeClient {
  const { clients, urls } = context;
  if (leg === 'nodePg') {
    const pool = new pg.Pool({ connectionString: urls.pgbouncer, max: clients, application_name: 'bench jeex node-postgres' });
    // The query functions are typed for the postgres.js driver; the query builder is the same.
    const db = drizzleNodePg(pool, { schema }) as unknown as Database;
    return { db, clientConnections: clients, protocol: 'extended, unnamed statements (node-postgres)', close: () => pool.end() };
  }
  const viaPgbouncer = leg === 'app';
  const client = createDb(
    { url: viaPgbouncer ? urls.pgbouncer : urls.direct, max: clients, pooler: viaPgbouncer ? 'pgbouncer' : 'none', acquireTimeout: 30_000, maxQueue: 10_000, applicationName: `bench jeex ${leg}` },
    {},
  );
  return {
    db: client.db,
    clientConnections: clients,
    protocol: client.config.prepare ? 'extended, prepare: true (postgres.js)' : 'extended, prepare: false (postgres.js)',
    close: () => client.close(),
  };
}

export async function runNodeLeg(leg: NodeLegName, mode: Mode, context: LegContext, rate?: number): Promise<LegFigures> {
  await prepareLeg(context.admin);
  const client = nodeClient(leg, context);
  let before: CpuSample | undefined;
  let result: DriveResult;
  let after: CpuSample;
  try {
    result = await driveNode(
      client.db,
      context.data,
      { clients: context.clients, warmupS: context.warmupS, durationS: context.durationS, seed: context.seed, ...(rate ? { rate } : {}) },
      async () => {
        before = await sampleCpu(context.pids);
      },
    );
    // Before closing: the leg's connections (and their backends) are still there.
    after = await sampleCpu(context.pids);
  } finally {
    await client.close();
  }
  const statements = await busiestStatements(context.admin);
  const cpu = cpuBetween(before ?? after, after, { node: true, pgbench: false });
  return {
    leg,
    label: LEG_LABELS[leg],
    mode,
    clients: context.clients,
    clientConnections: client.clientConnections,
    protocol: client.protocol,
    durationS: result.elapsedS,
    ...(rate ? { offeredTps: rate } : {}),
    transactions: result.transactions,
    errors: result.errors,
    tps: result.transactions / result.elapsedS,
    latencyMs: summarise(result.latencies),
    ...(result.lags ? { lagMs: lagFigures(result.lags) } : {}),
    operations: operations(result.perOperation),
    ...cpuFigures(cpu, result.transactions, result.elapsedS),
    statements,
    errorSamples: result.errorSamples,
  };
}

export async function runPgbenchLeg(
  protocol: 'extended' | 'prepared',
  mode: Mode,
  context: LegContext,
  binary: PgbenchBinary,
  scripts: PgbenchScript[],
  dir: string,
  rate?: number,
): Promise<LegFigures> {
  await prepareLeg(context.admin);
  const common = { binary, url: context.urls.direct, scripts, dir, clients: context.clients, seed: context.seed, protocol, ...(rate ? { rate } : {}) };
  const leg = protocol === 'prepared' ? 'pgbenchPrepared' : 'pgbench';
  // Warm-up: a run of its own, not logged (pgbench cannot leave out its first seconds).
  if (context.warmupS > 0) await runPgbench({ ...common, durationS: context.warmupS, log: false });
  await context.admin`SELECT pg_stat_statements_reset()`;
  const before = await sampleCpu(context.pids);
  const result: PgbenchResult = await runPgbench({ ...common, durationS: context.durationS, log: true });
  const after = await sampleCpu(context.pids);
  const statements = await busiestStatements(context.admin);
  // Node only waited for pgbench here: its few milliseconds are left out of the leg.
  const cpu = cpuBetween(before, after, { node: false, pgbench: true });
  const transactions = result.latencies.length || result.transactions;
  return {
    leg,
    label: LEG_LABELS[leg],
    mode,
    clients: context.clients,
    clientConnections: context.clients,
    protocol: protocol === 'prepared' ? 'extended, named statements prepared once per connection (pgbench -M prepared)' : 'extended, unnamed statements (pgbench -M extended)',
    durationS: context.durationS,
    ...(rate ? { offeredTps: rate } : {}),
    transactions,
    errors: result.failed + result.abortedClients + (result.exitCode === 0 ? 0 : result.abortedClients ? 0 : 1),
    tps: result.tps,
    latencyMs: summarise(result.latencies),
    ...(result.lags ? { lagMs: lagFigures(result.lags) } : {}),
    operations: operations(result.perOperation),
    ...cpuFigures(cpu, transactions, context.durationS),
    statements,
    errorSamples: result.errorSamples,
  };
}

/** What one leg of the JEEX bench measured: the shape shared by the Node and pgbench legs. */
import { cpus } from 'node:os';
import type { CpuUsed } from './cpu.ts';
import type { LatencySummary } from './stats.ts';
import type { OperationName } from './workload.ts';

export type LegName = 'app' | 'direct' | 'pgbench' | 'pgbenchPrepared' | 'nodePg';

export const LEG_LABELS: Record<LegName, string> = {
  app: '1 app: Drizzle + postgres.js -> PgBouncer',
  direct: '2 Drizzle + postgres.js -> PostgreSQL',
  pgbench: '3 pgbench -M extended -> PostgreSQL',
  pgbenchPrepared: '3p pgbench -M prepared -> PostgreSQL',
  nodePg: '4 Drizzle + node-postgres -> PgBouncer',
};

export type Mode = 'capacity' | 'paced';

export interface CpuFigures {
  node: number;
  /** The part of `node` spent in the kernel (socket system calls). */
  nodeKernel: number;
  pgbench: number;
  pgbouncer: number;
  postgres: number;
  total: number;
}

export interface StatementFigures {
  query: string;
  calls: number;
  meanMs: number;
  totalMs: number;
}

export interface LegFigures {
  leg: LegName;
  label: string;
  mode: Mode;
  clients: number;
  /** Connections the clients' pool may open (the app's pool; pgbench: one per client). */
  clientConnections: number;
  /** How it talks to PostgreSQL, e.g. `extended protocol, unnamed statements`. */
  protocol: string;
  durationS: number;
  /** Paced legs: the rate the schedule offered (transactions/s, Poisson arrivals). */
  offeredTps?: number;
  transactions: number;
  errors: number;
  tps: number;
  /**
   * Milliseconds per transaction (one JEEX operation). Capacity: from start to end. Paced: from
   * the scheduled start (so a late start counts, as pgbench -R reports it).
   */
  latencyMs: LatencySummary;
  /** Paced legs: how late transactions started after their scheduled time. */
  lagMs?: { p50: number; p99: number; max: number };
  operations: Partial<Record<OperationName, { count: number; p50: number; p95: number; p99: number }>>;
  /** CPU seconds during the measured window, and per 1000 transactions. */
  cpuSeconds: CpuFigures;
  cpuPer1000: CpuFigures;
  /**
   * CPU that other processes took from the same cores during the measured window (the machine's
   * busy time from /proc/stat minus the leg's processes): seconds, and percent of all cores.
   * Above a few percent the leg's figures are skewed by other work.
   */
  otherCpu: { seconds: number; percentOfMachine: number };
  /** With --rounds N: what each round of this leg measured; the leg's figures are its median round. */
  rounds?: { tps: number; p95: number; p99: number; errors: number; otherCpuPercent: number }[];
  /** The busiest statements of the leg (pg_stat_statements, by total time). */
  statements?: StatementFigures[];
  errorSamples: string[];
  /** The leg could not run (e.g. no pgbench): why, and what to do. */
  unavailable?: string;
}

export function cpuFigures(
  cpu: CpuUsed,
  transactions: number,
  durationS: number,
): { cpuSeconds: CpuFigures; cpuPer1000: CpuFigures; otherCpu: LegFigures['otherCpu'] } {
  const total = cpu.node + cpu.pgbench + cpu.pgbouncer + cpu.postgres;
  const seconds = { node: cpu.node, nodeKernel: cpu.nodeKernel, pgbench: cpu.pgbench, pgbouncer: cpu.pgbouncer, postgres: cpu.postgres, total };
  const per = (v: number) => (transactions > 0 ? (v / transactions) * 1000 : Number.NaN);
  // The share of other work is taken over the window the samples span (a loaded machine makes
  // it longer than the leg), so it cannot exceed the machine.
  const machineSeconds = (cpu.windowS > 0 ? cpu.windowS : durationS) * cpus().length;
  return {
    cpuSeconds: seconds,
    cpuPer1000: { node: per(cpu.node), nodeKernel: per(cpu.nodeKernel), pgbench: per(cpu.pgbench), pgbouncer: per(cpu.pgbouncer), postgres: per(cpu.postgres), total: per(total) },
    otherCpu: { seconds: cpu.other, percentOfMachine: machineSeconds > 0 ? (cpu.other / machineSeconds) * 100 : Number.NaN },
  };
}

export function unavailableLeg(leg: LegName, mode: Mode, clients: number, reason: string): LegFigures {
  const nan = Number.NaN;
  const cpu = { node: nan, nodeKernel: nan, pgbench: nan, pgbouncer: nan, postgres: nan, total: nan };
  return {
    leg,
    label: LEG_LABELS[leg],
    mode,
    clients,
    clientConnections: clients,
    protocol: '',
    durationS: 0,
    transactions: 0,
    errors: 0,
    tps: nan,
    latencyMs: { count: 0, mean: nan, p50: nan, p95: nan, p99: nan, max: nan },
    operations: {},
    cpuSeconds: cpu,
    cpuPer1000: cpu,
    otherCpu: { seconds: nan, percentOfMachine: nan },
    errorSamples: [],
    unavailable: reason,
  };
}

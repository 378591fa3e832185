/** Ratios, targets and the terminal table of the JEEX bench. */
import type { LegFigures, LegName } from './leg.ts';

export interface Target {
  target: string;
  /** How the value was measured (which leg, which mode). */
  measured: string;
  value: number;
  pass: boolean;
}

/**
 * Capacity tps ratios. The targets compare each leg with pgbench on the protocol that leg uses:
 * app (1) / pgbench -M extended (3), direct (2) / pgbench -M prepared (3p); the crossed ones are
 * reported too.
 */
export interface Ratios {
  appToPgbench: number;
  directToPgbenchPrepared: number;
  appToNodePg: number;
  directToPgbench: number;
  appToPgbenchPrepared: number;
}

export function ratios(capacity: Record<LegName, LegFigures>): Ratios {
  return {
    appToPgbench: capacity.app.tps / capacity.pgbench.tps,
    directToPgbenchPrepared: capacity.direct.tps / capacity.pgbenchPrepared.tps,
    appToNodePg: capacity.app.tps / capacity.nodePg.tps,
    directToPgbench: capacity.direct.tps / capacity.pgbench.tps,
    appToPgbenchPrepared: capacity.app.tps / capacity.pgbenchPrepared.tps,
  };
}

export function targets(capacity: Record<LegName, LegFigures>, paced: Partial<Record<LegName, LegFigures>>, r: Ratios): Record<string, Target> {
  const legs = [...Object.values(capacity), ...Object.values(paced)];
  const errors = legs.reduce((sum, leg) => sum + leg.errors, 0);
  const unavailable = legs.filter((leg) => leg.unavailable).length;
  const p95 = paced.app?.latencyMs.p95 ?? Number.NaN;
  const p99 = paced.app?.latencyMs.p99 ?? Number.NaN;
  const rate = `paced at ${paced.app?.offeredTps?.toFixed(0) ?? '?'} tx/s, latency from the scheduled start`;
  return {
    appP95: { target: 'app (1) p95 < 5 ms', measured: rate, value: p95, pass: p95 < 5 },
    appP99: { target: 'app (1) p99 < 20 ms', measured: rate, value: p99, pass: p99 < 20 },
    appVsPgbench: { target: 'app (1) >= 60% of pgbench -M extended (3)', measured: 'capacity tps', value: r.appToPgbench, pass: r.appToPgbench >= 0.6 },
    directVsPgbench: {
      target: 'direct (2) >= 85% of pgbench -M prepared (3p)',
      measured: 'capacity tps',
      value: r.directToPgbenchPrepared,
      pass: r.directToPgbenchPrepared >= 0.85,
    },
    appVsNodePg: { target: 'app (1) ahead of node-postgres (4)', measured: 'capacity tps', value: r.appToNodePg, pass: r.appToNodePg > 1 },
    errors: { target: 'zero errors in every leg', measured: 'all legs', value: errors, pass: errors === 0 && unavailable === 0 },
  };
}

const f = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

/**
 * One line per leg: throughput, latency (ms), errors, CPU seconds per 1000 transactions, and the
 * share of the machine other processes used meanwhile (noise); paced legs add their start lag.
 */
export function legTable(legs: LegFigures[]): string[] {
  const paced = legs.some((leg) => leg.mode === 'paced');
  const header =
    `${'leg'.padEnd(42)} ${'tps'.padStart(6)} ${'p50'.padStart(6)} ${'p95'.padStart(6)} ${'p99'.padStart(7)} ${'max'.padStart(7)}${paced ? ` ${'lag p99'.padStart(7)}` : ''} ${'err'.padStart(3)}` +
    ` | CPU s/1000 tx: ${'node'.padStart(5)} ${'pgbouncer'.padStart(9)} ${'postgres'.padStart(8)} ${'pgbench'.padStart(7)} ${'total'.padStart(6)} | ${'other'.padStart(5)}`;
  const rows = legs.map((leg) => {
    if (leg.unavailable) return `${leg.label.padEnd(42)} not run: ${leg.unavailable}`;
    const c = leg.cpuPer1000;
    const l = leg.latencyMs;
    return (
      `${leg.label.padEnd(42)} ${f(leg.tps, 0).padStart(6)} ${f(l.p50, 2).padStart(6)} ${f(l.p95, 2).padStart(6)} ${f(l.p99, 2).padStart(7)} ${f(l.max, 1).padStart(7)}` +
      `${paced ? ` ${f(leg.lagMs?.p99 ?? Number.NaN, 2).padStart(7)}` : ''} ${String(leg.errors).padStart(3)}` +
      ` | ${''.padStart(14)} ${f(c.node, 2).padStart(5)} ${f(c.pgbouncer, 2).padStart(9)} ${f(c.postgres, 2).padStart(8)} ${f(c.pgbench, 2).padStart(7)} ${f(c.total, 2).padStart(6)}` +
      ` | ${`${f(leg.otherCpu.percentOfMachine, 0)}%`.padStart(5)}${leg.rounds && leg.rounds.length > 1 ? `  rounds tps ${leg.rounds.map((r) => f(r.tps, 0)).join('/')}` : ''}`
    );
  });
  return [header, ...rows];
}

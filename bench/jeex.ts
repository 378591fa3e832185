/**
 * The JEEX workload side by side on one PostgreSQL 18 (issue #8): the package's Drizzle queries
 * over postgres.js through PgBouncer (1, what the application does), the same straight to
 * PostgreSQL (2), the same SQL from pgbench straight to PostgreSQL (3, the ceiling), and the same
 * queries through Drizzle's node-postgres driver over PgBouncer (4). Each leg runs first as fast
 * as its clients can (capacity: the throughput ratios), then paced at one fixed rate for all legs
 * (the latency targets).
 *
 * pgbench runs twice at capacity, once per protocol, so that each Node leg is compared with the
 * ceiling of the protocol it can use: through PgBouncer 1.18 no client may keep named prepared
 * statements, so legs 1 and 4 send unnamed ones, like `pgbench -M extended` (3); straight to
 * PostgreSQL the package prepares, like `pgbench -M prepared` (3p).
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type postgres from 'postgres';
import { connect } from '../src/db/connect.ts';
import { benchCipher } from './sealed-users.ts';
import { poolerAdmin } from '../src/ops/pooler/admin.ts';
import { poolerFiles, poolerPid } from '../src/ops/pooler/process.ts';
import { buildUrl, readLocalState, type LocalSecrets } from '../src/local/state.ts';
import { localLayout } from '../src/local/layout.ts';
import { LOCAL_DATABASE } from '../src/local/files.ts';
import { freePort } from '../src/platform/port.ts';
import { down, up } from '../src/stack/up.ts';
import { reachableDir } from './dirs.ts';
import { unavailableLeg, type LegFigures, type LegName, type Mode } from './jeex/leg.ts';
import { buildPgbenchScripts } from './jeex/pgbench-script.ts';
import { findPgbench } from './jeex/pgbench.ts';
import { legTable, ratios, targets, type Ratios, type Target } from './jeex/report.ts';
import { runNodeLeg, runPgbenchLeg, type LegContext } from './jeex/run-legs.ts';
import type { JeexScale } from './jeex/scale.ts';
import { SEED, seedJeex, type SeedFigures } from './jeex/seed.ts';
import { OPERATIONS } from './jeex/workload.ts';

export interface JeexBenchOptions {
  clients: number;
  durationS: number;
  /**
   * Paced legs run at `load` x the capacity of the slowest leg (default 0.5), the same rate for
   * every leg, so that each runs at half or less of what it can do (normal load) ...
   */
  load: number;
  /** ... or at this many transactions per second. */
  rate?: number;
  scale: JeexScale;
  /**
   * Each leg runs this many times (default 1), the legs taking turns in an order that rotates
   * every round, so that drift (the tables the writes grow, other work on the machine) falls on
   * every leg alike; a leg reports its median round.
   */
  rounds: number;
  /** false: every connection in plain TCP (`--no-tls`, to measure what TLS costs); default TLS 1.3 as `up` sets it. */
  tls?: boolean;
  /** PgBouncer's default_pool_size for the run (`--pool-size`, set on its console); default: what `up` derives. */
  poolSize?: number;
  /** Run only these legs (profiling one stack); the ratios and targets of a missing leg are not met. */
  legs?: LegName[];
}

export interface JeexFigures {
  options: JeexBenchOptions & { warmupS: number; seed: number };
  versions: { postgres: string; pgbouncer: string; pgbouncerPool: number; pgbench?: string; node: string };
  /** The machine's 1-minute load average when the legs started and ended: other work skews every figure. */
  load: { before: number; after: number };
  seed: SeedFigures;
  workload: { name: string; weight: number; describe: string; statements: number }[];
  /** The pgbench scripts, made from the statements the query functions sent. */
  pgbenchScripts: Record<string, string>;
  howMeasured: string[];
  capacity: Record<LegName, LegFigures>;
  paced: Partial<Record<LegName, LegFigures>>;
  pacedRate: { tps: number; from: string };
  ratios: Ratios;
  targets: Record<string, Target>;
}

const CAPACITY_ORDER: LegName[] = ['pgbench', 'pgbenchPrepared', 'app', 'direct', 'nodePg'];
const PACED_ORDER: LegName[] = ['pgbench', 'app', 'direct', 'nodePg'];

export async function benchJeex(options: JeexBenchOptions, log: (line: string) => void): Promise<JeexFigures> {
  const root = await reachableDir('jeex-bench-jeex-');
  const dataDir = join(root, 'db');
  const scriptsDir = join(root, 'pgbench');
  await mkdir(scriptsDir);
  let admin: postgres.Sql | undefined;
  try {
    const port = await freePort();
    log(`starting PostgreSQL 18 and PgBouncer in ${dataDir}`);
    const result = await up({ dataDir, port, memoryBytes: 4 * 2 ** 30, pooler: true, ...(options.tls === false ? { tls: { enabled: false } } : {}) });
    if (!result.pooler.port) throw new Error(`the jeex bench needs PgBouncer: ${result.pooler.reason ?? result.pooler.status} (apt-get install pgbouncer)`);
    const state = readLocalState(localLayout(dataDir));
    const secrets = JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8')) as LocalSecrets;
    const consoleUrl = buildUrl({ user: secrets.pooler?.user ?? '', password: secrets.pooler?.password ?? '', host: '127.0.0.1', port: result.pooler.port ?? 0, database: 'pgbouncer', ...(state?.tls ? { tls: state.tls } : {}) });
    // (the local PgBouncer accepts TLS 1.3 only, like the server)
    const poolerConsole = poolerAdmin(consoleUrl);
    if (options.poolSize !== undefined) await poolerConsole.unsafe(`SET default_pool_size = ${options.poolSize}`).simple();
    const config = await poolerConsole.unsafe<{ key: string; value: string }[]>('SHOW CONFIG').simple();
    await poolerConsole.end({ timeout: 1 });
    const pgbouncerPool = Number(config.find((r) => r.key === 'default_pool_size')?.value ?? Number.NaN);
    const pgbouncerPid = await poolerPid(poolerFiles(localLayout(dataDir).pgbouncerDir));
    if (!result.pid || !pgbouncerPid) throw new Error('cannot find the postmaster or PgBouncer process to measure their CPU');
    log(`PostgreSQL ${result.serverVersion} on ${port}, PgBouncer ${result.pooler.version ?? ''} on ${result.pooler.port} (pool ${pgbouncerPool})`);

    const superuser = new URL(result.urls.superuser ?? '');
    superuser.pathname = `/${LOCAL_DATABASE}`;
    admin = connect(superuser.toString(), { max: 1, onnotice: () => {} });
    log(`seeding scale ${options.scale.name} (seed ${SEED})`);
    const seeded = await seedJeex(admin, options.scale, secrets.app.user, log, benchCipher(dataDir));
    log(`seeded in ${(seeded.figures.durationMs / 1000).toFixed(1)} s, database ${(seeded.figures.databaseBytes / 2 ** 20).toFixed(0)} MiB`);
    const data = { keys: seeded.keys, payloads: seeded.payloads };
    const directUrl = result.urls.appDirect ?? '';
    const scripts = await buildPgbenchScripts(directUrl, data);
    const pgbench = await findPgbench();
    if ('missing' in pgbench) log(`pgbench legs skipped: ${pgbench.missing}`);
    else log(`pgbench: ${pgbench.version} (${pgbench.path})`);

    const warmupS = Math.min(5, Math.max(0.5, options.durationS * 0.2));
    const context: LegContext = {
      admin,
      pids: { postmaster: result.pid, pgbouncer: pgbouncerPid },
      data,
      urls: { pgbouncer: result.urls.app, direct: directUrl },
      clients: options.clients,
      warmupS,
      durationS: options.durationS,
      seed: SEED,
    };
    const runLeg = async (leg: LegName, mode: Mode, rate?: number): Promise<LegFigures> => {
      log(`${mode} ${leg}: ${options.clients} clients, ${options.durationS} s${rate ? ` at ${rate} tx/s` : ''} after ${warmupS} s of warm-up`);
      if (leg !== 'pgbench' && leg !== 'pgbenchPrepared') return runNodeLeg(leg, mode, context, rate);
      if ('missing' in pgbench) return unavailableLeg(leg, mode, options.clients, pgbench.missing);
      return runPgbenchLeg(leg === 'pgbench' ? 'extended' : 'prepared', mode, context, pgbench, scripts, scriptsDir, rate);
    };
    const loadBefore = loadavg()[0] ?? Number.NaN;
    log(`load average before the legs: ${loadBefore.toFixed(2)}`);
    const chosen = (order: LegName[]) => order.filter((leg) => !options.legs || options.legs.includes(leg));
    const capacity = await inRounds(chosen(CAPACITY_ORDER), options.rounds, (leg) => runLeg(leg, 'capacity'), (leg) => leg.tps);
    for (const leg of CAPACITY_ORDER) capacity[leg] ??= unavailableLeg(leg, 'capacity', options.clients, 'not chosen (--legs)');
    // The slowest leg sets the pace: at half of pgbench's capacity the app path would be near or
    // past its own, and its latency would measure queueing at saturation, not normal load.
    const ran = Object.values(capacity).filter((leg) => !leg.unavailable && leg.tps > 0);
    if (ran.length === 0) throw new Error(`no leg completed a transaction at capacity: ${Object.values(capacity).map((leg) => `${leg.label}: ${leg.unavailable ?? leg.errorSamples.join('; ')}`).join(' | ')}`);
    const slowest = ran.reduce((a, b) => (b.tps < a.tps ? b : a));
    const rate = Math.max(1, Math.round(options.rate ?? slowest.tps * options.load));
    const from = options.rate ? '--rate' : `${options.load} x the capacity of the slowest leg, ${slowest.label} (${slowest.tps.toFixed(0)} tx/s)`;
    const paced: Partial<Record<LegName, LegFigures>> = await inRounds(chosen(PACED_ORDER), options.rounds, (leg) => runLeg(leg, 'paced', rate), (leg) => -leg.latencyMs.p95);

    const r = ratios(capacity);
    const loadAfter = loadavg()[0] ?? Number.NaN;
    return {
      options: { ...options, warmupS, seed: SEED },
      versions: {
        postgres: result.serverVersion,
        pgbouncer: result.pooler.version ?? '',
        pgbouncerPool,
        ...('missing' in pgbench ? {} : { pgbench: pgbench.version }),
        node: process.version,
      },
      load: { before: loadBefore, after: loadAfter },
      seed: seeded.figures,
      workload: OPERATIONS.map((o) => ({ name: o.name, weight: o.weight, describe: o.describe, statements: scripts.find((s) => s.operation === o.name)?.statements ?? 0 })),
      pgbenchScripts: Object.fromEntries(scripts.map((s) => [s.operation, s.text])),
      howMeasured: HOW_MEASURED(options.clients, warmupS),
      capacity,
      paced,
      pacedRate: { tps: rate, from },
      ratios: r,
      targets: targets(capacity, paced, r),
    };
  } finally {
    await admin?.end({ timeout: 2 }).catch(() => undefined);
    await down({ dataDir }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * Run every leg `rounds` times, round r starting at the r-th leg of `order` (so no leg is always
 * first or last), and keep for each leg its median round by `rank` (higher is better), with every
 * round's figures in `rounds`.
 */
async function inRounds(
  order: LegName[],
  rounds: number,
  run: (leg: LegName) => Promise<LegFigures>,
  rank: (leg: LegFigures) => number,
): Promise<Record<LegName, LegFigures>> {
  const runs = new Map<LegName, LegFigures[]>(order.map((leg) => [leg, []]));
  for (let round = 0; round < rounds; round++) {
    const turn = [...order.slice(round % order.length), ...order.slice(0, round % order.length)];
    for (const leg of turn) runs.get(leg)?.push(await run(leg));
  }
  const out = {} as Record<LegName, LegFigures>;
  for (const [leg, figures] of runs) {
    const ranked = [...figures].sort((a, b) => (rank(b) || 0) - (rank(a) || 0));
    // The middle round; of an even number, the worse of the two middle ones.
    const median = ranked[Math.floor(ranked.length / 2)] as LegFigures;
    out[leg] =
      rounds > 1
        ? {
            ...median,
            rounds: figures.map((f) => ({ tps: f.tps, p95: f.latencyMs.p95, p99: f.latencyMs.p99, errors: f.errors, otherCpuPercent: f.otherCpu.percentOfMachine })),
            // Errors of every round count, not only the median's.
            errors: figures.reduce((sum, f) => sum + f.errors, 0),
          }
        : median;
  }
  return out;
}

const HOW_MEASURED = (clients: number, warmupS: number) => [
  `every leg: ${clients} clients, the same weighted mix and seeded draws, after ${warmupS} s of warm-up; a transaction = one JEEX operation`,
  'capacity: closed loop (each client sends its next operation as soon as the last one ends); its tps give the ratios. Its latencies are queueing at saturation, not a target',
  'paced: open loop, Poisson arrivals at one rate for every leg, half the capacity of the slowest leg unless --load/--rate say otherwise (pgbench -R; the Node legs the same schedule); latency counts from the scheduled start, as pgbench -R reports it. The p95/p99 targets apply here',
  'rounds (--rounds N): every leg runs N times, the order rotating each round; a leg reports its median round (capacity by tps, paced by p95) and lists every round; errors add up over all rounds',
  'other: the share of all cores that processes outside the leg used during it (/proc/stat busy time minus the leg\'s processes); above a few percent, other work skewed the leg',
  'CPU: /proc utime+stime of PgBouncer and of the postmaster with all its children (exited ones through cutime), process.cpuUsage() for Node, pgbench through our cutime; per 1000 transactions',
  'pgbench: -j 2, scripts made from the statements the query functions send, keys and payloads by subselect on bench.* in the same statement; 3 = -M extended (unnamed statements, what legs 1 and 4 must send through PgBouncer 1.18), 3p = -M prepared (what leg 2 does)',
];

export const jeexPassed = (f: JeexFigures) => Object.values(f.targets).every((t) => t.pass);

export function describeJeex(f: JeexFigures): string[] {
  const s = f.seed;
  const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : '-');
  return [
    `JEEX workload: PostgreSQL ${f.versions.postgres}, PgBouncer ${f.versions.pgbouncer} (pool ${f.versions.pgbouncerPool}), Node ${f.versions.node}${f.versions.pgbench ? `, ${f.versions.pgbench}` : ''}`,
    `data (scale ${f.options.scale.name}): ${s.users} users, ${s.projects} projects, ${s.documentVersions} document versions (${(s.documentBytes / 2 ** 20).toFixed(0)} MiB markdown), ${s.agentExecutions} agent executions, ${s.exports} exports; ${(s.databaseBytes / 2 ** 20).toFixed(0)} MiB, seeded in ${(s.durationMs / 1000).toFixed(0)} s`,
    `mix: ${f.workload.map((o) => `${o.name} ${o.weight}%`).join(', ')}`,
    `machine load average (1 min): ${f.load.before.toFixed(2)} when the legs started, ${f.load.after.toFixed(2)} at the end (the bench's own processes count too)`,
    `capacity (closed loop, ${f.options.clients} clients, ${f.options.durationS} s each${f.options.rounds > 1 ? `, median of ${f.options.rounds} rounds` : ''}; ms latencies are queueing at saturation):`,
    ...legTable(CAPACITY_ORDER.map((leg) => f.capacity[leg])).map((line) => `  ${line}`),
    `paced at ${f.pacedRate.tps} tx/s (${f.pacedRate.from}; Poisson arrivals; ms from the scheduled start):`,
    ...legTable(PACED_ORDER.flatMap((leg) => f.paced[leg] ?? [])).map((line) => `  ${line}`),
    `ratios (capacity tps): 1/3 ${pct(f.ratios.appToPgbench)}, 2/3p ${pct(f.ratios.directToPgbenchPrepared)}, 1/4 ${pct(f.ratios.appToNodePg)}; ` +
      `also 2/3 ${pct(f.ratios.directToPgbench)}, 1/3p ${pct(f.ratios.appToPgbenchPrepared)}`,
    ...Object.values(f.targets).map((t) => `${t.pass ? 'PASS' : 'FAIL'} ${t.target}: ${Number.isInteger(t.value) ? t.value : t.value.toFixed(t.value < 10 ? 2 : 1)} (${t.measured})`),
  ];
}

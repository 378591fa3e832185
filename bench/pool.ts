/**
 * Pooling under load (REQ-004, PERF-002): the JEEX workload from many more clients than server
 * connections, through PgBouncer and then straight to PostgreSQL with the same number of server
 * connections, plus a PostgreSQL restart under load.
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { connect } from '../src/db/connect.ts';
import { createDb, type JeexDb } from '../src/db/create-db.ts';
import { uuidv7 } from '../src/core/uuid.ts';
import { appendDocumentVersion, getLatestDocuments } from '../src/db/queries/document-versions.ts';
import { finishAgentExecution, startAgentExecution } from '../src/db/queries/agent-executions.ts';
import { getProject } from '../src/db/queries/projects.ts';
import { localLayout } from '../src/local/layout.ts';
import type { LocalSecrets } from '../src/local/state.ts';
import { poolerAdmin, showStats } from '../src/ops/pooler/admin.ts';
import { findBinaries } from '../src/cluster/binaries.ts';
import { serverOsUser } from '../src/platform/os-user.ts';
import { startServer, stopServer } from '../src/cluster/pg-ctl.ts';
import { freePort } from '../src/platform/port.ts';
import { down, up } from '../src/stack/up.ts';
import { benchCipher, insertSealedUsers } from './sealed-users.ts';
import { seededRandom } from './random.ts';

export interface PoolBenchOptions {
  clients: number;
  /** Seconds per run. */
  durationS: number;
  /**
   * The steady runs' request rate as a fraction of the capacity measured first (default 0.5):
   * the latency targets are about normal load, the capacity run shows the ceiling.
   */
  load: number;
  /** A fixed request rate (req/s) for the steady runs instead of `load` x capacity. */
  rate?: number;
}

export interface RunFigures {
  label: string;
  clients: number;
  /** Requests per second the clients tried to send (paced runs), or undefined (as fast as possible). */
  offeredPerSecond?: number;
  /** Connections the application's pool may open. */
  appPoolMax: number;
  /** Server connections doing the work (PgBouncer's pool, or the app's pool when direct). */
  serverConnections: number;
  operations: number;
  failures: number;
  opsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** Waiting for a connection: in the app's pool (histogram) plus, behind PgBouncer, in its queue. */
  acquisitionMs: { appMean: number; appP99AtMost: number; poolerMean?: number; mean: number };
  /** CPU the benchmark's own process (the application) used, in % of one core. */
  nodeCpuPercent: number;
  /** Event-loop delay of the application process: how late its timers ran (beyond the 5 ms sampling interval). */
  eventLoopDelayMs: { mean: number; p99: number; max: number };
  errorSamples: string[];
}

export interface RestartFigures {
  clients: number;
  /** How long PostgreSQL was down: fast shutdown and start (pg_ctl). */
  serverDownMs: number;
  /** Requests that failed because the server went away. */
  failed: number;
  succeeded: number;
  /** From the restart command to the last failed request. */
  lastFailureAfterMs: number;
  /** From the server being up again to the first request that started after that and succeeded. */
  firstSuccessAfterUpMs: number;
  /** From the restart command until a whole second ran at 80% of the rate before it. */
  backToSpeedMs: number;
  errorSamples: string[];
}

export interface PoolFigures {
  options: PoolBenchOptions;
  pgbouncerPool: number;
  /** As fast as the clients can go: the ceiling of each path. */
  capacity: { viaPgbouncer: RunFigures; direct: RunFigures };
  /** Paced at the same rate on both paths. */
  viaPgbouncer: RunFigures;
  direct: RunFigures;
  /** viaPgbouncer / direct: throughput at capacity, latency at the steady rate. */
  overhead: { throughputRatio: number; p50Ratio: number; p99Ratio: number };
  restart: RestartFigures;
  targets: Record<string, { target: string; value: number; pass: boolean }>;
}

const LOOP_SAMPLE_MS = 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;

interface Seeded {
  projects: { id: string; owner: string }[];
}

async function seed(superuserUrl: string): Promise<Seeded> {
  const sql = connect(superuserUrl, { max: 1, onnotice: () => {} });
  try {
    const users = Array.from({ length: 1000 }, (_, i) => ({ email: `user${i + 1}@bench.example`, name: `User ${i + 1}` }));
    const ids = await insertSealedUsers(sql, benchCipher(), users);
    await sql`
      INSERT INTO projects (name, created_by, status)
      SELECT 'Project of user ' || u.n, u.id, 'in_progress' FROM unnest(${ids}::uuid[]) WITH ORDINALITY AS u(id, n), generate_series(1, 2)`;
    await sql`
      INSERT INTO document_versions (project_id, document_type, version, content, created_by)
      SELECT p.id, t.type, v, repeat('Lorem ipsum dolor sit amet. ', 80), p.created_by
      FROM projects p, unnest(enum_range(NULL::document_type)) AS t(type), generate_series(1, 2) v`;
    await sql`ANALYZE`;
    const projects = await sql<{ id: string; owner: string }[]>`SELECT id, created_by AS owner FROM projects`;
    return { projects };
  } finally {
    await sql.end();
  }
}

/** One JEEX request: 60% read a project with its latest documents, 25% append a version, 15% an agent run. */
async function request(client: JeexDb, project: { id: string; owner: string }, random: () => number): Promise<void> {
  const roll = random();
  if (roll < 0.6) {
    await getProject(client.db, project.id);
    await getLatestDocuments(client.db, project.id);
  } else if (roll < 0.85) {
    await appendDocumentVersion(client.db, { projectId: project.id, documentType: 'specs', content: 'An edit. '.repeat(100), createdBy: project.owner });
  } else {
    const run = await startAgentExecution(client.db, { projectId: project.id, agentType: 'architect', correlationId: uuidv7(), inputData: { step: 2 } });
    await finishAgentExecution(client.db, run.id, { status: 'completed', outputData: { ok: true } });
  }
}

function histogram(exporter: InMemoryMetricExporter, name: string): { count: number; sum: number; p99AtMost: number } {
  const points = exporter
    .getMetrics()
    .flatMap((r) => r.scopeMetrics)
    .flatMap((s) => s.metrics)
    .filter((m): m is HistogramMetricData => m.descriptor.name === name)
    .flatMap((m) => m.dataPoints);
  const last = points.at(-1);
  if (!last) return { count: 0, sum: 0, p99AtMost: Number.NaN };
  const { boundaries, counts } = last.value.buckets;
  const total = last.value.count;
  let seen = 0;
  let p99 = Number.POSITIVE_INFINITY;
  for (const [i, c] of counts.entries()) {
    seen += c;
    if (seen >= total * 0.99) {
      p99 = boundaries[i] ?? Number.POSITIVE_INFINITY;
      break;
    }
  }
  return { count: total, sum: last.value.sum ?? 0, p99AtMost: p99 };
}

async function runLoad(
  label: string,
  url: string,
  options: { clients: number; durationS: number; rate?: number; appPoolMax: number; serverConnections: number; pooler: 'pgbouncer' | 'none'; poolerAdminUrl?: string },
  seeded: Seeded,
): Promise<RunFigures> {
  // A meter provider of its own per run, so the histograms hold this run only.
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  const client = createDb({ url, max: options.appPoolMax, pooler: options.pooler, acquireTimeout: 30_000, maxQueue: 10_000, applicationName: `bench ${label}` }, {});
  const admin = options.poolerAdminUrl ? poolerAdmin(options.poolerAdminUrl) : undefined;
  const statsBefore = admin ? (await showStats(admin)).find((r) => r.database === 'jeex') : undefined;
  const latencies: number[] = [];
  const errors: string[] = [];
  let failures = 0;
  const deadline = performance.now() + options.durationS * 1000;
  const started = performance.now();
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
  loopDelay.enable();
  const cpuBefore = process.cpuUsage();
  // Paced: each client sends one request every `interval` ms from a random phase (an open
  // workload: a late request does not push the next ones back, and a missed slot is not made
  // up in a burst). Unpaced: back to back.
  const interval = options.rate ? (options.clients / options.rate) * 1000 : 0;
  await Promise.all(
    Array.from({ length: options.clients }, async (_, worker) => {
      const random = seededRandom(worker + 1);
      // Evenly spread phases: the clients together send a steady stream, not bursts.
      let next = started + (worker / options.clients) * interval;
      while (performance.now() < deadline) {
        if (interval > 0) {
          const wait = next - performance.now();
          if (wait > 0) await sleep(wait);
          if (performance.now() >= deadline) break;
          next = Math.max(next + interval, performance.now());
        }
        const project = seeded.projects[Math.floor(random() * seeded.projects.length)] ?? seeded.projects[0];
        const t0 = performance.now();
        try {
          if (project) await request(client, project, random);
          latencies.push(performance.now() - t0);
        } catch (error) {
          failures++;
          if (errors.length < 5) errors.push((error as Error).message.slice(0, 200));
        }
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  loopDelay.disable();
  const statsAfter = admin ? (await showStats(admin)).find((r) => r.database === 'jeex') : undefined;
  await admin?.end({ timeout: 1 });
  await reader.forceFlush();
  const wait = histogram(exporter, 'db.client.connection.wait_time');
  await client.close();
  await provider.shutdown();
  metrics.disable();

  const sorted = latencies.sort((a, b) => a - b);
  const appMean = wait.count > 0 ? (wait.sum / wait.count) * 1000 : 0;
  const poolerMean =
    statsBefore && statsAfter && statsAfter.total_xact_count > statsBefore.total_xact_count
      ? (statsAfter.total_wait_time - statsBefore.total_wait_time) / 1000 / (statsAfter.total_xact_count - statsBefore.total_xact_count)
      : undefined;
  return {
    label,
    clients: options.clients,
    ...(options.rate ? { offeredPerSecond: options.rate } : {}),
    appPoolMax: options.appPoolMax,
    serverConnections: options.serverConnections,
    operations: sorted.length,
    failures,
    opsPerSecond: sorted.length / elapsedS,
    latencyMs: { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN },
    acquisitionMs: { appMean, appP99AtMost: wait.p99AtMost * 1000, ...(poolerMean !== undefined ? { poolerMean } : {}), mean: appMean + (poolerMean ?? 0) },
    nodeCpuPercent: ((cpu.user + cpu.system) / 1e6 / elapsedS) * 100,
    eventLoopDelayMs: {
      mean: Math.max(0, loopDelay.mean / 1e6 - LOOP_SAMPLE_MS),
      p99: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_SAMPLE_MS),
      max: Math.max(0, loopDelay.max / 1e6 - LOOP_SAMPLE_MS),
    },
    errorSamples: errors,
  };
}

/**
 * Restart PostgreSQL (fast shutdown, then start) while clients keep sending paced requests
 * through PgBouncer. A failed request is not retried by the bench: the figures show what the
 * application sees.
 */
async function restartUnderLoad(url: string, dataDir: string, clients: number, rate: number, seeded: Seeded, port: number): Promise<RestartFigures> {
  const client = createDb({ url, max: clients, pooler: 'pgbouncer', acquireTimeout: 30_000, applicationName: 'bench restart' }, {});
  const layout = localLayout(dataDir);
  const bin = await findBinaries();
  const as = await serverOsUser();
  const perSecond = new Map<number, number>();
  const errors: string[] = [];
  let failed = 0;
  let succeeded = 0;
  let restartAt = 0;
  let upAt = 0;
  let lastFailureAt = 0;
  let firstSuccessAfterUp = Number.NaN;
  const started = performance.now();
  const deadline = started + 15_000;
  const restart = (async () => {
    await sleep(5_000);
    restartAt = performance.now();
    await stopServer(bin, layout, as, 'fast');
    await startServer(bin, layout, { timeoutSeconds: 30, host: '127.0.0.1', port }, as);
    upAt = performance.now();
  })();
  const interval = (clients / rate) * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, worker) => {
      const random = seededRandom(1000 + worker);
      let next = started + (worker / clients) * interval;
      while (performance.now() < deadline) {
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        next = Math.max(next + interval, performance.now());
        const project = seeded.projects[Math.floor(random() * seeded.projects.length)];
        const t0 = performance.now();
        try {
          if (project) await request(client, project, random);
          succeeded++;
          const now = performance.now();
          const second = Math.floor((now - started) / 1000);
          perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
          if (upAt && t0 >= upAt && Number.isNaN(firstSuccessAfterUp)) firstSuccessAfterUp = now - upAt;
        } catch (error) {
          failed++;
          lastFailureAt = performance.now();
          if (errors.length < 5) errors.push((error as Error).message.slice(0, 200));
        }
      }
    }),
  );
  await restart;
  await client.close();
  const restartSecond = Math.floor((restartAt - started) / 1000);
  const before = [...perSecond].filter(([s]) => s >= 1 && s < restartSecond).map(([, n]) => n);
  const baseline = before.reduce((a, b) => a + b, 0) / Math.max(1, before.length);
  const lastSecond = Math.floor((deadline - started) / 1000) - 1;
  let back: number | undefined;
  for (let second = restartSecond + 1; second <= lastSecond; second++) {
    if ((perSecond.get(second) ?? 0) >= baseline * 0.8) {
      back = second;
      break;
    }
  }
  const distinct = [...new Set(errors)];
  return {
    clients,
    serverDownMs: upAt - restartAt,
    failed,
    succeeded,
    lastFailureAfterMs: failed > 0 ? lastFailureAt - restartAt : 0,
    firstSuccessAfterUpMs: firstSuccessAfterUp,
    // The first whole second after the restart began that ran at 80% of the rate before it.
    backToSpeedMs: back === undefined ? Number.NaN : (back + 1) * 1000 - (restartAt - started),
    errorSamples: distinct,
  };
}

export async function benchPool(options: PoolBenchOptions, log: (line: string) => void): Promise<PoolFigures> {
  const root = await mkdtemp(join(tmpdir(), 'jeex-bench-pool-'));
  await chmod(root, 0o755);
  const dataDir = join(root, 'db');
  try {
    const port = await freePort();
    const result = await up({ dataDir, port, memoryBytes: 2 * 2 ** 30, pooler: true });
    if (!result.pooler.port) throw new Error(`the pool bench needs PgBouncer: ${result.pooler.reason ?? result.pooler.status}`);
    const secrets = JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8')) as LocalSecrets;
    const poolerAdminUrl = `postgres://${secrets.pooler?.user ?? ''}:${encodeURIComponent(secrets.pooler?.password ?? '')}@127.0.0.1:${result.pooler.port}/pgbouncer`;
    const admin = poolerAdmin(poolerAdminUrl);
    const config = await admin.unsafe<{ key: string; value: string }[]>('SHOW CONFIG').simple();
    await admin.end({ timeout: 1 });
    const pgbouncerPool = Number(config.find((r) => r.key === 'default_pool_size')?.value ?? 20);
    log(`PostgreSQL ${result.serverVersion} on ${port}, PgBouncer ${result.pooler.version ?? ''} on ${result.pooler.port} (pool ${pgbouncerPool})`);
    const seeded = await seed(result.urls.superuser?.replace(/\/postgres(\?|$)/, '/jeex$1') ?? '');
    log(`seeded 1000 users, ${seeded.projects.length} projects, ${seeded.projects.length * 8} document versions`);

    const base = { clients: options.clients, durationS: options.durationS };
    const viaPooler = { appPoolMax: options.clients, serverConnections: pgbouncerPool, pooler: 'pgbouncer' as const, poolerAdminUrl };
    const straight = { appPoolMax: pgbouncerPool, serverConnections: pgbouncerPool, pooler: 'none' as const };
    log(`capacity: ${options.clients} clients as fast as they can through PgBouncer, then straight to PostgreSQL on ${pgbouncerPool} connections (${options.durationS} s each)`);
    const capacity = {
      viaPgbouncer: await runLoad('pgbouncer', result.urls.app, { ...base, ...viaPooler }, seeded),
      direct: await runLoad('direct', result.urls.appDirect ?? '', { ...base, ...straight }, seeded),
    };
    const rate = Math.round(options.rate ?? capacity.viaPgbouncer.opsPerSecond * options.load);
    log(`steady: ${options.clients} clients sending ${rate} req/s together${options.rate ? '' : ` (${options.load} x the capacity through PgBouncer)`}, through PgBouncer, then straight`);
    const viaPgbouncer = await runLoad('pgbouncer', result.urls.app, { ...base, rate, ...viaPooler }, seeded);
    const direct = await runLoad('direct', result.urls.appDirect ?? '', { ...base, rate, ...straight }, seeded);
    log(`restarting PostgreSQL under load (50 clients, ${rate} req/s through PgBouncer)`);
    const restart = await restartUnderLoad(result.urls.app, dataDir, 50, rate, seeded, port);

    const acquisition = viaPgbouncer.acquisitionMs.mean;
    const failureRate = viaPgbouncer.failures / Math.max(1, viaPgbouncer.operations + viaPgbouncer.failures);
    return {
      options,
      pgbouncerPool,
      capacity,
      viaPgbouncer,
      direct,
      overhead: {
        throughputRatio: capacity.viaPgbouncer.opsPerSecond / capacity.direct.opsPerSecond,
        p50Ratio: viaPgbouncer.latencyMs.p50 / direct.latencyMs.p50,
        p99Ratio: viaPgbouncer.latencyMs.p99 / direct.latencyMs.p99,
      },
      restart,
      targets: {
        failures: { target: '0 failures through PgBouncer', value: viaPgbouncer.failures, pass: viaPgbouncer.failures === 0 },
        failureRate: { target: '< 5% failures (PERF-002)', value: failureRate, pass: failureRate < 0.05 },
        acquisitionMean: { target: 'mean acquisition < 1 ms', value: acquisition, pass: acquisition < 1 },
        p99: { target: 'p99 latency < 20 ms', value: viaPgbouncer.latencyMs.p99, pass: viaPgbouncer.latencyMs.p99 < 20 },
      },
    };
  } finally {
    await down({ dataDir }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

export const poolPassed = (f: PoolFigures) => Object.values(f.targets).every((t) => t.pass);

export function describePool(f: PoolFigures): string[] {
  const row = (r: RunFigures) =>
    `${r.label.padEnd(10)} ${String(r.clients).padStart(4)} clients on ${String(r.serverConnections).padStart(3)} server conns: ${r.opsPerSecond.toFixed(0).padStart(6)} req/s` +
    `${r.offeredPerSecond ? ` (target ${r.offeredPerSecond})` : ''}, ` +
    `p50 ${r.latencyMs.p50.toFixed(2)} p95 ${r.latencyMs.p95.toFixed(2)} p99 ${r.latencyMs.p99.toFixed(2)} max ${r.latencyMs.max.toFixed(1)} ms, ` +
    `acquisition mean ${r.acquisitionMs.mean.toFixed(3)} ms (app ${r.acquisitionMs.appMean.toFixed(3)}, p99 <= ${r.acquisitionMs.appP99AtMost} ms${r.acquisitionMs.poolerMean !== undefined ? `, PgBouncer ${r.acquisitionMs.poolerMean.toFixed(3)}` : ''}), failures ${r.failures}; node CPU ${r.nodeCpuPercent.toFixed(0)}%, event-loop delay mean ${r.eventLoopDelayMs.mean.toFixed(1)} p99 ${r.eventLoopDelayMs.p99.toFixed(1)} ms`;
  const r = f.restart;
  return [
    'capacity (as fast as possible):',
    `  ${row(f.capacity.viaPgbouncer)}`,
    `  ${row(f.capacity.direct)}`,
    'steady load (the targets):',
    `  ${row(f.viaPgbouncer)}`,
    `  ${row(f.direct)}`,
    `PgBouncer vs direct: throughput at capacity x${f.overhead.throughputRatio.toFixed(2)}; steady p50 x${f.overhead.p50Ratio.toFixed(2)}, p99 x${f.overhead.p99Ratio.toFixed(2)}`,
    `restart under load: PostgreSQL down ${r.serverDownMs.toFixed(0)} ms; ${r.failed} requests failed, ${r.succeeded} succeeded; last failure ${r.lastFailureAfterMs.toFixed(0)} ms after the restart began; ` +
      `first success ${r.firstSuccessAfterUpMs.toFixed(0)} ms after the server was up; back to 80% speed ${r.backToSpeedMs.toFixed(0)} ms after the restart began`,
    ...(r.errorSamples.length > 0 ? [`  errors seen: ${r.errorSamples.join(' | ')}`] : []),
    ...Object.values(f.targets).map((t) => `${t.pass ? 'PASS' : 'FAIL'} ${t.target}: ${Number.isInteger(t.value) ? t.value : t.value.toFixed(3)}`),
  ];
}

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findBinaries } from '../../src/cluster/binaries.ts';
import { startServer, stopServer } from '../../src/cluster/pg-ctl.ts';
import { localLayout } from '../../src/local/layout.ts';
import { processAlive } from '../../src/platform/process-alive.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { alertmanagerMissing, startAlertmanager, type RunningAlertmanager } from '../helpers/alertmanager.ts';
import { CLI, ROOT, expectExit, localEnv, reachableTempDir, runCli } from '../helpers/cli.ts';
import { freeClusterPort } from '../helpers/ports.ts';
import { prometheusMissing, promtoolCheckMetrics, startPrometheus, type RunningPrometheus } from '../helpers/prometheus.ts';
import { requirePooler, skipOrFail } from '../helpers/skip.ts';

// The whole alerting path with the real peers: a local stack (PostgreSQL 18 + PgBouncer) from
// `jeex-db up`, `jeex-db serve --prometheus` delivering to a real Alertmanager 0.25, which
// notifies a webhook receiver of ours (send_resolved), and a real Prometheus 2.42 scraping
// serve's /metrics. PgBouncer is killed, PostgreSQL is stopped, and Alertmanager is down for a
// minute in between; each must reach Alertmanager's receiver as firing and then as resolved.

const CLUSTER_TIMEOUT = 120_000;
const INTERVAL_S = 2;

interface Notification {
  receivedAt: number;
  status: 'firing' | 'resolved';
  alerts: { status: 'firing' | 'resolved'; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string }[];
}

/** What Alertmanager's webhook_config POSTs to us: every notification, in order. */
async function startReceiver(): Promise<{ url: string; notifications: Notification[]; close(): Promise<void> }> {
  const notifications: Notification[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      notifications.push({ ...(JSON.parse(body) as Omit<Notification, 'receivedAt'>), receivedAt: Date.now() });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    notifications,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, describeState: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${describeState()}`);
    await sleep(100);
  }
}

describe('alerts reach a real Alertmanager, metrics a real Prometheus', () => {
  let root: string;
  let dataDir: string;
  let port: number;
  let poolerPort: number;
  let serve: ChildProcessWithoutNullStreams | undefined;
  let serveUrl: string;
  let serveStderr = '';
  let alertmanager: RunningAlertmanager | undefined;
  let prometheus: RunningPrometheus | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  const figures: Record<string, number> = {};

  const layout = () => localLayout(dataDir);
  const poolerPid = async () => {
    const pid = Number.parseInt(await readFile(join(dataDir, 'pgbouncer', 'pgbouncer.pid'), 'utf8').catch(() => ''), 10);
    return Number.isInteger(pid) && processAlive(pid) ? pid : undefined;
  };
  /** The receiver's notifications for `alert` with `status`, received after `since`. */
  const notified = (alert: string, status: 'firing' | 'resolved', since: number) =>
    receiver?.notifications.find((n) => n.receivedAt >= since && n.alerts.some((a) => a.labels.alertname === alert && a.status === status));
  const state = () => `serve stderr (last 3000):\n${serveStderr.slice(-3000)}\nnotifications: ${JSON.stringify(receiver?.notifications.map((n) => ({ at: n.receivedAt, alerts: n.alerts.map((a) => `${a.labels.alertname}:${a.status}`) })))}`;

  /** Why this file cannot run here (checked again by each test, which skips or, in CI, fails). */
  const missing = () => prometheusMissing() ?? alertmanagerMissing() ?? (inject('testServer').pooler ? undefined : 'no PgBouncer');
  beforeAll(async () => {
    if (missing()) return;
    root = await reachableTempDir('jeex-cli-alertmanager-');
    dataDir = join(root, 'db');
    port = await freeClusterPort();
    poolerPort = port + 1000;
    expectExit(await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--detach', '--json', '--memory', '512MiB', '--cpus', '2']), 0);

    receiver = await startReceiver();
    alertmanager = await startAlertmanager({ webhookUrl: receiver.url, groupWait: '1s', groupInterval: '1s', repeatInterval: '1h' });

    serve = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--port', '0', '--json', '--prometheus', '--no-migrations', '--alert-interval', String(INTERVAL_S), '--alertmanager-url', alertmanager.url], {
      env: localEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    serve.stderr.setEncoding('utf8').on('data', (chunk: string) => (serveStderr += chunk));
    let stdout = '';
    serveUrl = await new Promise<string>((resolve, reject) => {
      serve?.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        try {
          resolve((JSON.parse(stdout) as { url: string }).url);
        } catch {
          // not the whole document yet
        }
      });
      serve?.on('close', (code) => reject(new Error(`serve exited ${code}:\n${stdout}\n${serveStderr}`)));
    });
    prometheus = await startPrometheus({ targets: [new URL(serveUrl).host], scrapeIntervalSeconds: 1 });
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    serve?.kill('SIGTERM');
    await prometheus?.stop();
    await alertmanager?.stop();
    await receiver?.close();
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
    if (Object.keys(figures).length > 0) console.log(`alerting figures (ms): ${JSON.stringify(figures)}`);
  }, CLUSTER_TIMEOUT);

  const ready = (ctx: Parameters<typeof skipOrFail>[0]) => {
    requirePooler(ctx, inject('testServer'));
    const reason = missing();
    if (reason) skipOrFail(ctx, reason);
  };

  it('Prometheus scrapes /metrics; promtool check metrics passes', async (ctx) => {
    ready(ctx);
    const text = await (await fetch(`${serveUrl}/metrics`)).text();
    const lint = await promtoolCheckMetrics(text);
    expect(lint.output).toBe('');
    expect(lint.code).toBe(0);
    const up = await until('Prometheus to scrape postgresql_up 1', async () => (await prometheus!.query('postgresql_up'))[0]?.value === 1, 20_000, () => prometheus!.log());
    expect(up).toBe(true);
    expect((await prometheus!.query('postgresql_db_size_bytes')).length).toBeGreaterThan(0);
    expect((await prometheus!.query('pgbouncer_up'))[0]?.value).toBe(1);

    // Every metric ops/prometheus/jeex-db.rules.yml reads is one serve exports (those that need a
    // standby or a replication slot have no samples here, but are declared).
    const rules = await readFile(join(ROOT, 'ops', 'prometheus', 'jeex-db.rules.yml'), 'utf8');
    const used = new Set([...rules.matchAll(/^\s+expr: (.*)$/gm)].flatMap((m) => [...m[1]!.matchAll(/\b((?:postgresql|pgbouncer|jeex)_[a-z0-9_]+)\b/g)].map((n) => n[1]!)));
    const needsStandby = ['postgresql_wal_lag_seconds', 'jeex_db_replication_slot_safe_wal_size_bytes'];
    const exported = new Set([...text.matchAll(/^([a-z_:][a-z0-9_:]*)(?:\{| )/gm)].map((m) => m[1]!));
    expect([...used].filter((name) => !exported.has(name) && !needsStandby.includes(name))).toEqual([]);
    expect(used.size).toBeGreaterThan(5);
  }, 60_000);

  it('PostgreSQL stopped: database-unreachable reaches Alertmanager firing, /metrics shows postgresql_up 0 and no frozen samples; resolved after the start', { timeout: 180_000 }, async (ctx) => {
    ready(ctx);
    const bin = await findBinaries();
    const as = await serverOsUser();
    const stoppedAt = Date.now();
    await stopServer(bin, layout(), as, 'fast');
    const firing = await until('database-unreachable firing at the receiver', () => notified('database-unreachable', 'firing', stoppedAt), 60_000, state);
    figures.postgresqlStoppedToNotified = firing.receivedAt - stoppedAt;

    const text = await (await fetch(`${serveUrl}/metrics`)).text();
    expect(text).toMatch(/^postgresql_up(\{[^}]*\})? 0$/m);
    const frozen = text.split('\n').filter((line) => line.startsWith('postgresql_') && !line.startsWith('postgresql_up'));
    expect(frozen).toEqual([]);
    await until('Prometheus to see postgresql_up 0 and no postgresql_db_size_bytes', async () => (await prometheus!.query('postgresql_up'))[0]?.value === 0 && (await prometheus!.query('postgresql_db_size_bytes')).length === 0, 20_000);

    const startedAt = Date.now();
    await startServer(bin, layout(), { timeoutSeconds: 60, host: '127.0.0.1', port }, as);
    const resolved = await until('database-unreachable resolved at the receiver', () => notified('database-unreachable', 'resolved', startedAt), 60_000, state);
    figures.postgresqlStartedToResolved = resolved.receivedAt - startedAt;
    await until('Prometheus to see postgresql_up 1 again', async () => (await prometheus!.query('postgresql_up'))[0]?.value === 1, 20_000);
  });

  it('PgBouncer killed: its alert reaches Alertmanager firing, and resolved after it is back', { timeout: 180_000 }, async (ctx) => {
    ready(ctx);
    const pid = await poolerPid();
    expect(pid).toBeDefined();
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');
    const firing = await until('a PgBouncer alert firing at the receiver', () => notified('pgbouncer-restarted', 'firing', killedAt) || notified('pgbouncer-down', 'firing', killedAt), 60_000, state);
    figures.pgbouncerKilledToNotified = firing.receivedAt - killedAt;
    expect(poolerPort).toBeGreaterThan(0);
  });

  it('Alertmanager down for a minute: an alert that fired meanwhile arrives when it is back, and so does one that resolved meanwhile', { timeout: 300_000 }, async (ctx) => {
    ready(ctx);
    const bin = await findBinaries();
    const as = await serverOsUser();
    await alertmanager!.stop({ keepStorage: true });
    const downAt = Date.now();
    await stopServer(bin, layout(), as, 'fast');
    // It fires while nothing can receive it.
    await until('database-unreachable firing in serve', () => serveStderr.includes('"alert":"database-unreachable","state":"firing"') && serveStderr.lastIndexOf('"alert":"database-unreachable","state":"firing"') > serveStderr.lastIndexOf('"alert":"database-unreachable","state":"resolved"'), 30_000, state);
    await sleep(Math.max(0, 60_000 - (Date.now() - downAt)));
    await alertmanager!.start();
    const backAt = Date.now();
    const firing = await until('database-unreachable firing after Alertmanager came back', () => notified('database-unreachable', 'firing', backAt), 60_000, state);
    figures.alertmanagerBackToFiring = firing.receivedAt - backAt;

    // Now the other way round: it resolves while Alertmanager is down.
    await alertmanager!.stop({ keepStorage: true });
    const downAgainAt = Date.now();
    await startServer(bin, layout(), { timeoutSeconds: 60, host: '127.0.0.1', port }, as);
    await until('database-unreachable resolved in serve', () => serveStderr.lastIndexOf('"alert":"database-unreachable","state":"resolved"') > serveStderr.lastIndexOf('"alert":"database-unreachable","state":"firing"'), 30_000, state);
    await sleep(Math.max(0, 60_000 - (Date.now() - downAgainAt)));
    await alertmanager!.start();
    const backAgainAt = Date.now();
    const resolved = await until('database-unreachable resolved after Alertmanager came back', () => notified('database-unreachable', 'resolved', backAgainAt), 90_000, state);
    figures.alertmanagerBackToResolved = resolved.receivedAt - backAgainAt;
  });
});

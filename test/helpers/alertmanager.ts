// A real Alertmanager (the Debian prometheus-alertmanager package) for the tests: started on a free
// port with its own storage directory, stopped and started again on the same port and storage (an
// outage), and read back through its API v2. Optionally it notifies a webhook of the test's with
// send_resolved, so a test sees what a person would be paged with, firing and resolved.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/platform/port.ts';

/** The Debian package's binary (what .ci/run installs). */
export const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager';

/** Why the tests cannot run Alertmanager here, or undefined when they can. */
export function alertmanagerMissing(): string | undefined {
  return existsSync(ALERTMANAGER_BIN) ? undefined : `no Alertmanager at ${ALERTMANAGER_BIN} (apt-get install prometheus-alertmanager)`;
}

/** An alert as GET /api/v2/alerts returns it (the fields the tests read). */
export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  generatorURL?: string;
  fingerprint: string;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; silencedBy: string[]; inhibitedBy: string[] };
}

export interface AlertmanagerOptions {
  /** Default: a free port. */
  port?: number;
  /** Where it keeps its notification log and silences. Default: a new temporary directory, removed by stop(). */
  storageDir?: string;
  /** A webhook_config receiver (send_resolved: true) for every alert; default none (alerts are only stored). */
  webhookUrl?: string;
  /** Route timings, Alertmanager durations. Defaults 0s, 1s, 1h (fast for tests). */
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
}

export interface RunningAlertmanager {
  /** Its base URL, `http://127.0.0.1:<port>` (what jeex-db's `--alertmanager-url` takes). */
  url: string;
  port: number;
  storageDir: string;
  /** Everything it wrote on stdout/stderr (its logfmt lines), for a failing test's message. */
  log(): string;
  /** The alerts it holds now (GET /api/v2/alerts: active ones; a resolved alert is not listed). */
  alerts(): Promise<GettableAlert[]>;
  /** Stop it (SIGTERM, it writes its snapshot); the storage is removed unless `keepStorage` or it was given. */
  stop(options?: { keepStorage?: boolean }): Promise<void>;
  /** Start it again on the same port and storage (after stop({ keepStorage: true })). */
  start(): Promise<void>;
}

/**
 * Start Alertmanager 0.25 and wait until /-/ready answers.
 *
 * @example
 * const am = await startAlertmanager();
 * // ... deliver to am.url
 * expect((await am.alerts()).map((a) => a.labels.alertname)).toContain('database-unreachable');
 * await am.stop();
 */
export async function startAlertmanager(options: AlertmanagerOptions = {}): Promise<RunningAlertmanager> {
  const port = options.port ?? (await freePort());
  const ownStorage = options.storageDir === undefined;
  const storageDir = options.storageDir ?? (await mkdtemp(join(tmpdir(), 'jeex-alertmanager-')));
  const configFile = join(storageDir, 'alertmanager.yml');
  const route = [
    `  receiver: ${options.webhookUrl ? 'hook' : 'none'}`,
    "  group_by: ['...']",
    `  group_wait: ${options.groupWait ?? '0s'}`,
    `  group_interval: ${options.groupInterval ?? '1s'}`,
    `  repeat_interval: ${options.repeatInterval ?? '1h'}`,
  ];
  const receivers = options.webhookUrl ? ['  - name: hook', '    webhook_configs:', `      - url: ${JSON.stringify(options.webhookUrl)}`, '        send_resolved: true'] : ['  - name: none'];
  await writeFile(configFile, ['route:', ...route, 'receivers:', ...receivers, ''].join('\n'));

  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = '';
  const start = async () => {
    if (child) throw new Error('Alertmanager is already running');
    const started = spawn(
      ALERTMANAGER_BIN,
      [`--config.file=${configFile}`, `--storage.path=${storageDir}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=info'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = started;
    started.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    started.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    let exited: number | null | undefined;
    started.once('exit', (code) => {
      exited = code;
      if (child === started) child = undefined;
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (exited !== undefined) throw new Error(`Alertmanager exited with ${exited} before it was ready:\n${output}`);
      const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`Alertmanager not ready on ${url} after 20 s:\n${output}`);
      await sleep(50);
    }
  };
  const stopProcess = async () => {
    const running = child;
    if (!running) return;
    child = undefined;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    const killed = setTimeout(() => running.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killed);
  };
  await start();
  return {
    url,
    port,
    storageDir,
    log: () => output,
    alerts: async () => {
      const response = await fetch(`${url}/api/v2/alerts`, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`GET ${url}/api/v2/alerts answered ${response.status}: ${await response.text()}`);
      return (await response.json()) as GettableAlert[];
    },
    stop: async ({ keepStorage = false } = {}) => {
      await stopProcess();
      if (ownStorage && !keepStorage) await rm(storageDir, { recursive: true, force: true });
    },
    start,
  };
}

/** One notification Alertmanager's webhook_config POSTed (its webhook format, version 4). */
export interface AlertmanagerNotification {
  receivedAt: number;
  status: 'firing' | 'resolved';
  alerts: { status: 'firing' | 'resolved'; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; generatorURL: string }[];
}

/**
 * An HTTP server that records what Alertmanager notifies (give its `url` as `webhookUrl`).
 *
 * @example
 * const sink = await startNotificationSink();
 * const am = await startAlertmanager({ webhookUrl: sink.url });
 * sink.find('database-unreachable', 'resolved');
 */
export async function startNotificationSink(): Promise<{
  url: string;
  notifications: AlertmanagerNotification[];
  /** The first alert of that name and status notified (after `since`, ms since the epoch). */
  find(alertname: string, status: 'firing' | 'resolved', since?: number): (AlertmanagerNotification['alerts'][number] & { receivedAt: number }) | undefined;
  close(): Promise<void>;
}> {
  const notifications: AlertmanagerNotification[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      notifications.push({ ...(JSON.parse(body) as Omit<AlertmanagerNotification, 'receivedAt'>), receivedAt: Date.now() });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    notifications,
    find: (alertname, status, since = 0) => {
      for (const notification of notifications) {
        if (notification.receivedAt < since) continue;
        const alert = notification.alerts.find((a) => a.labels.alertname === alertname && a.status === status);
        if (alert) return { ...alert, receivedAt: notification.receivedAt };
      }
      return undefined;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Poll `probe` every 100 ms until it returns something (not undefined/false), or fail after `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, state: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${state()}`);
    await sleep(100);
  }
}

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { HealthDocument } from '../../src/ops/health/types.ts';
import { freePort } from '../../src/platform/port.ts';
import { CLI, expectExit, localEnv, runCli } from '../helpers/cli.ts';
import { startDedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// The real binary: `jeex-db serve` against the run's PostgreSQL 18, and against nothing.
const t = useTestDatabase();

interface Served {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Start `jeex-db serve --json ...` and wait for its one JSON document (the address). */
async function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--json', ...args], { env: localEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      try {
        resolve((JSON.parse(stdout) as { url: string }).url);
      } catch {
        // not the whole document yet
      }
    });
    void exit.then((code) => reject(new Error(`serve exited ${code} before listening:\n${stdout}\n${stderr}`)));
  });
  return { child, url, stderr: () => stderr, exit };
}

async function get(url: string): Promise<{ status: number; type: string | null; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type'), body: JSON.parse(await response.text()) as unknown };
}

describe('jeex-db serve', () => {
  it('serves /livez, /readyz, /health and /metrics for a healthy database, and exits 0 on SIGTERM', async () => {
    const served = await serve(['--url', t.adminUrl, '--app-url', t.appUrl, '--prometheus', '--alert-interval', '1']);
    expect(await get(`${served.url}/livez`)).toMatchObject({ status: 200, type: 'application/health+json' });
    const ready = await get(`${served.url}/readyz`);
    expect(ready).toMatchObject({ status: 200, type: 'application/health+json' });
    expect((ready.body as HealthDocument).checks['postgresql:reachable']?.[0]?.observedValue).toBe(true);
    const health = await get(`${served.url}/health`);
    const doc = health.body as HealthDocument;
    expect(health.status).toBe(doc.status === 'fail' ? 503 : 200);
    expect(doc.checks['postgresql:connections']).toBeDefined();
    // serve's readiness client is its own 2-connection pool, not the application's: not judged.
    expect(doc.checks['pool:usage']).toBeUndefined();
    expect(doc.checks['pool:operationP95']).toBeUndefined();
    const alerts = await get(`${served.url}/alerts`);
    expect(alerts.status).toBe(200);
    expect(Array.isArray((alerts.body as { alerts?: unknown }).alerts)).toBe(true);
    const metrics = await fetch(`${served.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/postgresql_connection_max/);
    expect(text).toContain(`db_namespace="${t.name}"`);

    served.child.kill('SIGTERM');
    expect(await served.exit).toBe(0);
  });

  it('a database that does not answer: /readyz 503 and a firing "database-unreachable" alert logged within seconds', async () => {
    const closed = `postgres://nobody:secret-password@127.0.0.1:${await freePort()}/nowhere`;
    const served = await serve(['--url', closed, '--app-url', closed, '--alert-interval', '1', '--no-migrations']);
    const started = Date.now();
    const ready = await get(`${served.url}/readyz`);
    expect(ready.status).toBe(503);
    expect((ready.body as HealthDocument).status).toBe('fail');
    let firing: Record<string, unknown> | undefined;
    while (!firing && Date.now() - started < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      firing = served
        .stderr()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((entry) => entry.alert === 'database-unreachable' && entry.state === 'firing');
    }
    expect(firing).toMatchObject({ severity: 'critical', check: 'postgresql:reachable' });
    expect(Date.now() - started).toBeLessThan(10_000);
    const alerts = await get(`${served.url}/alerts`);
    expect(JSON.stringify(alerts.body)).toContain('database-unreachable');
    expect(served.stderr()).not.toContain('secret-password');
    served.child.kill('SIGINT');
    expect(await served.exit).toBe(0);
  });

  it('--pooler-url: PgBouncer\'s pools are judged, the app\'s path through it counts; killed with SIGKILL: pgbouncer-down fires, /health 503; back: resolved', { timeout: 60_000 }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const own = await startDedicatedPooler();
    if (!own) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    try {
      const served = await serve(['--url', t.adminUrl, '--app-url', own.through(t.appUrl), '--pooler-url', own.consoleUrl, '--alert-interval', '1', '--no-migrations']);
      const lines = () =>
        served
          .stderr()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      const before = await get(`${served.url}/health`);
      expect((before.body as HealthDocument).checks['pgbouncer:clientsWaiting']?.[0]?.status).toBe('pass');
      const pid = await own.pid();
      if (!pid) throw new Error('the dedicated PgBouncer is not running');
      process.kill(pid, 'SIGKILL');
      const killed = Date.now();
      let firing: Record<string, unknown> | undefined;
      while (!firing && Date.now() - killed < 15_000) {
        await sleep(100);
        firing = lines().find((l) => l.alert === 'pgbouncer-down' && l.state === 'firing');
      }
      expect(firing).toMatchObject({ severity: 'critical', check: 'pgbouncer:reachable', observedValue: false });
      const down = await get(`${served.url}/health`);
      expect(down.status).toBe(503); // before: 200 "warn" (an --app-url was not counted as going through it)
      expect((down.body as HealthDocument).checks['pgbouncer:reachable']?.[0]).toMatchObject({ status: 'fail', observedValue: false });
      await own.start();
      let resolved: Record<string, unknown> | undefined;
      while (!resolved && Date.now() - killed < 30_000) {
        await sleep(100);
        resolved = lines().find((l) => l.alert === 'pgbouncer-down' && l.state === 'resolved');
      }
      expect(resolved).toBeDefined();
      served.child.kill('SIGTERM');
      expect(await served.exit).toBe(0);
    } finally {
      await own.remove();
    }
  });

  it('a port that is taken exits 10 (PORT_IN_USE) with a hint', async () => {
    const first = await serve(['--url', t.adminUrl, '--app-url', t.appUrl, '--no-alerts']);
    const port = new URL(first.url).port;
    const second = await runCli(['serve', '--port', port, '--url', t.adminUrl, '--app-url', t.appUrl, '--no-alerts']);
    expectExit(second, 10);
    expect(second.stderr).toMatch(/PORT_IN_USE/);
    expect(second.stderr).toMatch(/--port/);
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
  });

  it('up --serve --detach is a usage error', async () => {
    const result = await runCli(['up', '--detach', '--serve', '--data-dir', '/nonexistent-jeex']);
    expectExit(result, 2);
    expect(result.stderr).toMatch(/--serve runs the health server in the foreground/);
  });
});

// serveUntil registers its MeterProvider process-wide; vitest runs each test file in its own
// process (pool: 'forks'), so no other file sees it.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { freePort } from '../../src/platform/port.ts';
import { serveUntil } from '../../src/serve/serve-until.ts';
import { startDedicatedPooler, type DedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { samples, sampleValue } from '../helpers/metrics.ts';
import { PROMTOOL_BINARY, promtoolCheckMetrics } from '../helpers/prometheus.ts';
import { requirePooler, skipOrFail } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// What `jeex-db serve --prometheus` runs, in this process, against PostgreSQL 18 and a PgBouncer
// of this file's own (the app's path and the admin console).
const t = useTestDatabase();
let pooler: DedicatedPooler | undefined;
let port: number;
let stop: () => void;
let served: Promise<void>;

beforeAll(async () => {
  pooler = await startDedicatedPooler();
  if (!pooler) return;
  port = await freePort();
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  served = serveUntil(
    { port, host: '127.0.0.1', migrations: false, alerts: false, alertInterval: 15, prometheus: true, logger: pino({ level: 'silent' }) },
    { monitorUrl: t.adminUrl, appUrl: pooler.through(t.appUrl), appThroughPooler: true, poolerConsoleUrl: pooler.consoleUrl },
    new Promise<void>((resolve) => (stop = resolve)),
    () => listening(),
  );
  await Promise.race([ready, served]);
}, 60_000);

afterAll(async () => {
  stop?.();
  await served;
  await pooler?.remove();
});

const scrape = async () => {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return response.text();
};

describe('jeex-db serve --prometheus', () => {
  it("exports its app client's db.client.connection.* metrics, PgBouncer's and PostgreSQL's, and passes promtool", async (ctx) => {
    requirePooler(ctx, { ...(pooler ? { pooler } : { poolerMissing: 'pgbouncer binary missing' }) });
    // The readiness probe uses the app client: its pool has been used once at least.
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    const text = await scrape();
    const pool = { db_client_connection_pool_name: `jeex-db serve (readiness)@${t.name}` };
    expect(sampleValue(text, 'db_client_connection_max', pool)).toBe(2);
    expect(samples(text, 'db_client_connections', pool).map((s) => s.labels.db_client_connection_state).sort()).toEqual(['idle', 'used']);
    expect(sampleValue(text, 'db_client_connection_pending_requests', pool)).toBe(0);
    expect(samples(text, 'db_client_operation_duration_seconds_count', {}).length).toBeGreaterThan(0);
    expect(sampleValue(text, 'postgresql_up', {})).toBe(1);
    expect(sampleValue(text, 'pgbouncer_up', {})).toBe(1);
    expect(samples(text, 'pgbouncer_servers_active', { db_namespace: t.name }).length).toBeGreaterThan(0);
    // service.instance.id defaults to host:port of the health server.
    expect(text).toMatch(new RegExp(`^target_info\\{[^}]*service_instance_id="${hostname()}:${port}"`, 'm'));

    if (!existsSync(PROMTOOL_BINARY)) skipOrFail(ctx, `${PROMTOOL_BINARY} is missing (apt-get install prometheus)`);
    const checked = await promtoolCheckMetrics(text);
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
  });

  it('reports pgbouncer_up 0 and no stale pgbouncer_* series while PgBouncer is stopped, and they come back', async (ctx) => {
    requirePooler(ctx, { ...(pooler ? { pooler } : { poolerMissing: 'pgbouncer binary missing' }) });
    await pooler!.stop();
    const down = await scrape();
    expect(sampleValue(down, 'pgbouncer_up', {})).toBe(0);
    expect(down.split('\n').filter((line) => line.startsWith('pgbouncer_') && !line.startsWith('pgbouncer_up'))).toEqual([]);
    await pooler!.start();
    // A pool exists again once a client used it.
    const client = connect(pooler!.through(t.appUrl), { max: 1, onnotice: () => {} });
    try {
      await client`SELECT 1`;
    } finally {
      await client.end();
    }
    const back = await scrape();
    expect(sampleValue(back, 'pgbouncer_up', {})).toBe(1);
    expect(samples(back, 'pgbouncer_servers_idle', {}).length).toBeGreaterThan(0);
  }, 60_000);
});

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { HEALTH_CONTENT_TYPE, type HealthDocument } from '../../src/ops/health/types.ts';
import { startHealthServer, type RunningHealthServer } from '../../src/serve/http-server.ts';
import { startRelay } from '../helpers/relay.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// The HTTP edge of `jeex-db serve` against a real PostgreSQL 18, reached through a TCP relay
// that the test closes and reopens: the database "goes away" and comes back.
const t = useTestDatabase();

const servers: RunningHealthServer[] = [];
const clients: JeexDb[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(clients.splice(0).map((c) => c.close(1)));
});
afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function get(server: RunningHealthServer, path: string, method = 'GET'): Promise<{ status: number; type: string | null; body: unknown }> {
  const response = await fetch(`${server.url}${path}`, { method });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), body: text ? (JSON.parse(text) as unknown) : undefined };
}

const doc = (status: HealthDocument['status']): HealthDocument => ({
  status,
  checks: { 'test:value': [{ observedValue: 1, status, time: new Date().toISOString() }] },
});

describe('jeex-db serve: /livez, /readyz, /health', () => {
  it('/livez answers without touching the database; unknown paths 404, other methods 405', async () => {
    let touched = 0;
    const server = await startHealthServer({
      port: 0,
      ready: () => Promise.resolve(void touched++),
      health: () => Promise.resolve((touched++, doc('pass'))),
      version: '9.9.9',
    });
    servers.push(server);
    const live = await get(server, '/livez');
    expect(live).toEqual({ status: 200, type: HEALTH_CONTENT_TYPE, body: { status: 'pass', version: '9.9.9' } });
    expect(touched).toBe(0);
    expect((await get(server, '/nope')).status).toBe(404);
    expect((await get(server, '/readyz', 'POST')).status).toBe(405);
    expect((await get(server, '/metrics')).status).toBe(404); // not configured
  });

  it('pass and warn answer 200, fail answers 503, all as application/health+json', async () => {
    let next: HealthDocument = doc('pass');
    const server = await startHealthServer({ port: 0, ready: () => Promise.resolve(), health: () => Promise.resolve(next), healthCacheMs: 0 });
    servers.push(server);
    for (const [status, code] of [['pass', 200], ['warn', 200], ['fail', 503]] as const) {
      next = doc(status);
      const answer = await get(server, '/health');
      expect(answer.status, status).toBe(code);
      expect(answer.type).toBe(HEALTH_CONTENT_TYPE);
      expect((answer.body as HealthDocument).status).toBe(status);
    }
  });

  it('/readyz runs one query for a burst of probes: the answer is reused for readyCacheMs', async () => {
    const client = createDb({ url: t.appUrl, max: 2 }, {});
    clients.push(client);
    let queries = 0;
    const server = await startHealthServer({
      port: 0,
      ready: async () => {
        queries++;
        await client.sql`SELECT 1`;
      },
      health: () => Promise.resolve(doc('pass')),
      readyCacheMs: 5000,
    });
    servers.push(server);
    const answers = await Promise.all(Array.from({ length: 25 }, () => get(server, '/readyz')));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(queries).toBe(1);
    const body = answers[0]?.body as HealthDocument;
    expect(body.checks['postgresql:reachable']?.[0]).toMatchObject({ observedValue: true, status: 'pass' });
    expect(body.checks['postgresql:responseTime']?.[0]?.observedUnit).toBe('ms');
  });

  it('/readyz turns 503 within seconds when the database goes away, and 200 again when it is back, without a restart', async () => {
    const target = Number(new URL(t.adminUrl).port || 5432);
    let relay = await startRelay(target);
    const relayUrl = new URL(t.appUrl);
    relayUrl.hostname = '127.0.0.1';
    relayUrl.port = String(relay.port);
    const client = createDb({ url: relayUrl.toString(), max: 2, connectTimeout: 1 }, {});
    clients.push(client);
    const server = await startHealthServer({
      port: 0,
      ready: async () => {
        await client.sql`SELECT 1`;
      },
      health: () => Promise.resolve(doc('pass')),
      readyCacheMs: 200,
      readyTimeoutMs: 1500,
    });
    servers.push(server);
    expect((await get(server, '/readyz')).status).toBe(200);

    await relay.close();
    const lost = performance.now();
    let answer = await get(server, '/readyz');
    while (answer.status === 200 && performance.now() - lost < 5000) answer = await get(server, '/readyz');
    expect(answer.status).toBe(503);
    expect(performance.now() - lost).toBeLessThan(5000);
    expect((answer.body as HealthDocument).checks['postgresql:reachable']?.[0]).toMatchObject({ observedValue: false, status: 'fail' });
    expect((answer.body as HealthDocument).output).toMatch(/does not answer/);

    relay = await startRelay(target, { port: relay.port });
    try {
      const back = performance.now();
      answer = await get(server, '/readyz');
      while (answer.status !== 200 && performance.now() - back < 8000) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        answer = await get(server, '/readyz');
      }
      expect(answer.status).toBe(200);
    } finally {
      await relay.close();
    }
  });

  it('a health document that never comes is a fail (503), not a hanging probe', async () => {
    const server = await startHealthServer({ port: 0, ready: () => Promise.resolve(), health: () => new Promise(() => {}), healthTimeoutMs: 200 });
    servers.push(server);
    const started = performance.now();
    const answer = await get(server, '/health');
    expect(answer.status).toBe(503);
    expect((answer.body as HealthDocument).output).toMatch(/longer than 200 ms/);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

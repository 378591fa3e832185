// startTelemetry registers its MeterProvider process-wide; vitest runs each test file in its own
// process (pool: 'forks'), so no other file sees it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { startTelemetry, type Telemetry } from '../../src/ops/telemetry/provider.ts';
import { registerServerMetrics, type ServerMetrics } from '../../src/ops/telemetry/server-metrics.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

const t = useTestDatabase();
let telemetry: Telemetry;
let serverMetrics: ServerMetrics;
let client: JeexDb;
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  // The standard variable chooses the exporter; no OTLP endpoint is set, so OTLP stays off.
  telemetry = await startTelemetry({ env: { OTEL_METRICS_EXPORTER: 'prometheus' } });
  client = createDb({ url: t.appUrl, max: 3, applicationName: 'telemetry-prometheus' }, {});
  serverMetrics = registerServerMetrics(telemetry.meter, t.admin);
  // Our own HTTP server mounts the handler, as the service's server does.
  const endpoint = telemetry.prometheus;
  server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/metrics' && endpoint) endpoint.handler(request, response);
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  serverMetrics?.close();
  await client?.close(1);
  await telemetry?.shutdown();
  await new Promise((resolve) => server?.close(resolve));
});

/** The sample of `name` whose labels include every `labels` pair. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const found = text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .filter((line) => Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)));
  if (found.length !== 1) throw new Error(`expected one ${name} sample with ${JSON.stringify(labels)}, found:\n${found.join('\n')}`);
  return Number(found[0]!.slice(found[0]!.lastIndexOf('}') + 1).trim().split(' ')[0]);
}

describe('startTelemetry with a Prometheus reader', () => {
  it('serves the server and pool metrics in the text exposition format on our /metrics', async () => {
    expect(telemetry.otlp).toBeUndefined();
    expect(telemetry.prometheus).toBeDefined();
    await client.sql`SELECT 1`;

    const response = await fetch(`${baseUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();

    const db = { db_system_name: 'postgresql', db_namespace: t.name };
    const [{ size }] = await t.admin<[{ size: string }]>`SELECT pg_database_size(current_database()) AS size`;
    // The UCUM unit becomes the Prometheus suffix (By → _bytes); no OpenMetrics # UNIT lines.
    expect(text).toMatch(/^# TYPE postgresql_db_size_bytes gauge$/m);
    expect(text).not.toMatch(/^# UNIT/m);
    expect(Math.abs(sample(text, 'postgresql_db_size_bytes', db) - Number(size))).toBeLessThanOrEqual(1024 * 1024);
    expect(sample(text, 'postgresql_up', { db_system_name: 'postgresql' })).toBe(1);

    // Monotonic counts get the _total suffix Prometheus expects of counters.
    expect(text).toMatch(/^# TYPE postgresql_commits_total counter$/m);
    expect(sample(text, 'postgresql_commits_total', db)).toBeGreaterThan(0);
    expect(sample(text, 'postgresql_backends', { ...db, state: 'idle' })).toBeGreaterThanOrEqual(1);
    const [{ max_connections }] = await t.admin<[{ max_connections: string }]>`SHOW max_connections`;
    expect(sample(text, 'postgresql_connection_max', { db_system_name: 'postgresql' })).toBe(Number(max_connections));

    // The pool metrics recorded through @opentelemetry/api are scraped from the same handler.
    expect(sample(text, 'db_client_connection_max', { db_client_connection_pool_name: `telemetry-prometheus@${t.name}` })).toBe(3);
    expect(text).toMatch(/^target_info\{[^}]*service_name="jeex-db"/m);
    // Pool durations are histograms in seconds; the gauge ending in _count has its documented name.
    expect(text).toMatch(/^# TYPE db_client_operation_duration_seconds histogram$/m);
    expect(text).toMatch(/^db_client_operation_duration_seconds_bucket\{[^}]*le="\+Inf"/m);
    expect(sample(text, 'db_client_connections', { db_client_connection_pool_name: `telemetry-prometheus@${t.name}`, db_client_connection_state: 'idle' })).toBeGreaterThanOrEqual(0);
  });

});

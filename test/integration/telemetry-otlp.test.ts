// startTelemetry registers its MeterProvider process-wide; vitest runs each test file in its own
// process (pool: 'forks'), so no other file sees it.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { resolveTelemetryConfig } from '../../src/ops/telemetry/config.ts';
import { startTelemetry, type Telemetry } from '../../src/ops/telemetry/provider.ts';
import { registerServerMetrics, type ServerMetrics } from '../../src/ops/telemetry/server-metrics.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// ---- A real OTLP/HTTP receiver: POST /v1/metrics, JSON encoding, decoded as a collector would.

type AnyValue = { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };
interface JsonPoint {
  attributes?: KeyValue[];
  asInt?: number | string;
  asDouble?: number;
  count?: number | string;
  sum?: number;
}
interface JsonMetric {
  name: string;
  unit?: string;
  sum?: { dataPoints: JsonPoint[]; isMonotonic?: boolean; aggregationTemporality?: number };
  gauge?: { dataPoints: JsonPoint[] };
  histogram?: { dataPoints: JsonPoint[] };
}
interface JsonRequest {
  resourceMetrics: { resource: { attributes: KeyValue[] }; scopeMetrics: { metrics: JsonMetric[] }[] }[];
}

interface Point {
  attributes: Record<string, unknown>;
  value: number;
}
interface DecodedMetric {
  name: string;
  unit: string;
  kind: 'sum' | 'gauge' | 'histogram';
  monotonic?: boolean;
  /** 1 delta, 2 cumulative (AggregationTemporality in OTLP). */
  temporality?: number;
  points: Point[];
}
interface Export {
  path: string;
  headers: IncomingHttpHeaders;
  resource: Record<string, unknown>;
  metrics: Map<string, DecodedMetric>;
}

const decodeValue = (value: AnyValue): unknown =>
  value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? value.boolValue));
const decodeAttributes = (attributes: KeyValue[] = []) => Object.fromEntries(attributes.map(({ key, value }) => [key, decodeValue(value)]));

function decode(path: string, headers: IncomingHttpHeaders, body: JsonRequest): Export[] {
  return body.resourceMetrics.map((rm) => {
    const metrics = new Map<string, DecodedMetric>();
    for (const metric of rm.scopeMetrics.flatMap((scope) => scope.metrics)) {
      const kind = metric.sum ? 'sum' : metric.gauge ? 'gauge' : 'histogram';
      const data = metric.sum ?? metric.gauge ?? metric.histogram;
      const points = (data?.dataPoints ?? []).map((p) => ({
        attributes: decodeAttributes(p.attributes),
        value: kind === 'histogram' ? Number(p.count) : Number(p.asInt ?? p.asDouble),
      }));
      const existing = metrics.get(metric.name);
      if (existing) existing.points.push(...points);
      else
        metrics.set(metric.name, {
          name: metric.name,
          unit: metric.unit ?? '',
          kind,
          ...(metric.sum && { monotonic: metric.sum.isMonotonic ?? false, temporality: metric.sum.aggregationTemporality }),
          points,
        });
    }
    return { path, headers, resource: decodeAttributes(rm.resource.attributes), metrics };
  });
}

interface Receiver {
  url: string;
  exports: Export[];
  rejected: string[];
  /** The newest export from `service`. */
  last(service: string): Export;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const exports: Export[] = [];
  const rejected: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      if (request.method !== 'POST' || path !== '/v1/metrics' || !String(request.headers['content-type']).startsWith('application/json')) {
        rejected.push(`${request.method} ${path} ${request.headers['content-type']}`);
        response.writeHead(415).end();
        return;
      }
      exports.push(...decode(path, request.headers, JSON.parse(Buffer.concat(chunks).toString('utf8')) as JsonRequest));
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exports,
    rejected,
    last(service) {
      const found = exports.filter((e) => e.resource['service.name'] === service).at(-1);
      if (!found) throw new Error(`no export from ${service} received (rejected: ${rejected.join('; ') || 'none'})`);
      return found;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function metric(exported: Export, name: string): DecodedMetric {
  const found = exported.metrics.get(name);
  if (!found) throw new Error(`${name} not exported; got ${[...exported.metrics.keys()].join(', ')}`);
  return found;
}
const matches = (attributes: Record<string, unknown>, wanted: Record<string, unknown>) => Object.entries(wanted).every(([k, v]) => attributes[k] === v);
function value(exported: Export, name: string, wanted: Record<string, unknown>): number {
  const points = metric(exported, name).points.filter((p) => matches(p.attributes, wanted));
  if (points.length !== 1) throw new Error(`expected one ${name} point for ${JSON.stringify(wanted)}, found ${JSON.stringify(points)}`);
  return points[0]!.value;
}

// ---- The tests.

const SERVICE = 'jeex-db-otlp-test';
const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const t = useTestDatabase();
let receiver: Receiver;
let telemetry: Telemetry;
let serverMetrics: ServerMetrics;
let client: JeexDb;
let worker: Sql;

beforeAll(async () => {
  receiver = await startReceiver();
  telemetry = await startTelemetry({
    env: {
      OTEL_SERVICE_NAME: SERVICE,
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cret%21',
      // Only the test's forceFlush exports.
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
      OTEL_METRIC_EXPORT_TIMEOUT: '10000',
    },
  });
  // After the provider is registered: the pool's instruments come from the global one.
  client = createDb({ url: t.appUrl, max: 2, applicationName: 'telemetry-otlp' }, {});
  serverMetrics = registerServerMetrics(telemetry.meter, t.admin);
  worker = connect(t.adminUrl, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  serverMetrics?.close();
  await client?.close(1);
  await worker?.end();
  await telemetry?.shutdown();
  await receiver?.close();
});

/** Flush this backend's pending statistics (PostgreSQL sends them at most once a second otherwise). */
async function flushBackendStats(sql: Sql): Promise<void> {
  await sql`SELECT pg_stat_force_next_flush()`;
}

async function exportNow(): Promise<Export> {
  const before = receiver.exports.length;
  await telemetry.forceFlush();
  expect(receiver.exports.length).toBeGreaterThan(before);
  return receiver.last(SERVICE);
}

describe('startTelemetry with OTLP/HTTP (JSON) to a collector', () => {
  it('exports the server and pool metrics with their names, units, attributes and values', async () => {
    expect(telemetry.global).toBe(true);
    expect(telemetry.otlp).toMatchObject({ url: `${receiver.url}/v1/metrics`, protocol: 'http/json', intervalMillis: 600000, headerNames: ['x-api-key'] });
    for (let i = 0; i < 5; i++) await client.sql`SELECT ${i}::int AS n`;

    const exported = await exportNow();
    expect(exported.path).toBe('/v1/metrics');
    expect(exported.headers['x-api-key']).toBe('s3cret!');
    expect(exported.resource).toMatchObject({ 'service.name': SERVICE, 'service.version': packageVersion, 'deployment.environment': 'test' });
    // Replicas are told apart: no instance id given, so the host name is the default one.
    expect(exported.resource).toMatchObject({ 'host.name': hostname(), 'service.instance.id': hostname() });
    expect(telemetry.identity).toEqual({ hostName: hostname(), instanceId: hostname() });

    const db = { 'db.system.name': 'postgresql', 'db.namespace': t.name };
    const server = { 'db.system.name': 'postgresql' };
    const expected: [string, string, DecodedMetric['kind'], boolean | undefined][] = [
      ['postgresql.backends', '{connection}', 'sum', false],
      ['postgresql.commits', '{commit}', 'sum', true],
      ['postgresql.rollbacks', '{rollback}', 'sum', true],
      ['postgresql.deadlocks', '{deadlock}', 'sum', true],
      ['postgresql.temp_files', '{file}', 'sum', true],
      ['postgresql.temp.io', 'By', 'sum', true],
      ['postgresql.blocks_read', '{block}', 'sum', true],
      ['postgresql.db_size', 'By', 'sum', false],
      ['postgresql.transaction.max_age', 's', 'gauge', undefined],
      ['postgresql.connection.max', '{connection}', 'gauge', undefined],
      ['postgresql.database.count', '{database}', 'sum', false],
      ['postgresql.bgwriter.checkpoint.count', '{checkpoint}', 'sum', true],
      ['postgresql.bgwriter.buffers.writes', '{buffer}', 'sum', true],
      ['postgresql.bgwriter.buffers.allocated', '{buffer}', 'sum', true],
      ['postgresql.up', '', 'gauge', undefined],
      ['postgresql.table.count', '{table}', 'sum', false],
      ['jeex_db.archiver.archived', '{file}', 'sum', true],
    ];
    for (const [name, unit, kind, monotonic] of expected) {
      const m = metric(exported, name);
      expect({ name, unit: m.unit, kind: m.kind, monotonic: m.monotonic }).toEqual({ name, unit, kind, monotonic });
      if (m.kind === 'sum') expect(m.temporality, name).toBe(2); // cumulative
      expect(m.points.length, name).toBeGreaterThan(0);
      for (const point of m.points) expect(point.attributes, name).toMatchObject(server);
    }
    // No standby and no failure here: those series are absent rather than zero.
    expect(exported.metrics.get('postgresql.replication.data_delay')?.points ?? []).toEqual([]);
    expect(exported.metrics.get('jeex_db.server_metrics.errors')?.points ?? []).toEqual([]);

    const [{ size }] = await t.admin<[{ size: string }]>`SELECT pg_database_size(current_database()) AS size`;
    expect(Math.abs(value(exported, 'postgresql.db_size', db) - Number(size))).toBeLessThanOrEqual(1024 * 1024);
    const [{ max_connections }] = await t.admin<[{ max_connections: string }]>`SHOW max_connections`;
    expect(value(exported, 'postgresql.connection.max', server)).toBe(Number(max_connections));
    expect(value(exported, 'postgresql.database.count', server)).toBeGreaterThanOrEqual(1);
    for (const source of ['heap_read', 'heap_hit', 'idx_read', 'idx_hit']) expect(value(exported, 'postgresql.blocks_read', { ...db, source })).toBeGreaterThanOrEqual(0);
    for (const type of ['scheduled', 'requested']) expect(value(exported, 'postgresql.bgwriter.checkpoint.count', { ...server, type })).toBeGreaterThanOrEqual(0);
    // The app client's idle connection(s) and the worker are client backends of this database.
    expect(value(exported, 'postgresql.backends', { ...db, state: 'idle' })).toBeGreaterThanOrEqual(1);

    // The pool metrics createDb records through @opentelemetry/api go out the same way.
    const ours = (p: Point) => p.attributes['db.client.connection.pool.name'] === `telemetry-otlp@${t.name}`;
    expect(metric(exported, 'db.client.connection.max').points.filter(ours)).toMatchObject([{ value: 2 }]);
    const operations = metric(exported, 'db.client.operation.duration');
    expect(operations).toMatchObject({ unit: 's', kind: 'histogram' });
    const selects = operations.points.filter((p) => matches(p.attributes, { ...db, 'db.operation.name': 'SELECT' }));
    expect(selects.reduce((sum, p) => sum + p.value, 0)).toBe(5);
  });

  it('reports the transactions committed and rolled back between two exports', async () => {
    await flushBackendStats(worker);
    const before = await exportNow();
    const db = { 'db.namespace': t.name };

    const commits = 25;
    for (let i = 0; i < commits; i++) await worker.begin((tx) => tx`SELECT ${i}::int`);
    for (let i = 0; i < 3; i++) await worker.begin((tx) => tx`SELECT 1 / 0`).catch(() => undefined);
    await flushBackendStats(worker);
    const after = await exportNow();

    const committed = value(after, 'postgresql.commits', db) - value(before, 'postgresql.commits', db);
    const rolledBack = value(after, 'postgresql.rollbacks', db) - value(before, 'postgresql.rollbacks', db);
    // Our own statistics queries and the flush calls commit too: at least the 25, not many more.
    expect(committed).toBeGreaterThanOrEqual(commits);
    expect(committed).toBeLessThan(commits + 100);
    expect(rolledBack).toBeGreaterThanOrEqual(3);
    expect(rolledBack).toBeLessThan(3 + 20);
  });

  it('shows a transaction left open as idle in transaction and its age', async () => {
    const db = { 'db.namespace': t.name };
    const holder = connect(t.adminUrl, { max: 1, onnotice: () => {} });
    try {
      const during = await holder.begin(async (tx) => {
        await tx`SELECT 1`;
        await new Promise((resolve) => setTimeout(resolve, 1300));
        return exportNow();
      });
      expect(value(during, 'postgresql.backends', { ...db, state: 'idle in transaction' })).toBeGreaterThanOrEqual(1);
      const age = value(during, 'postgresql.transaction.max_age', db);
      expect(age).toBeGreaterThanOrEqual(1.2);
      expect(age).toBeLessThan(30);

      const afterCommit = await exportNow();
      expect(value(afterCommit, 'postgresql.transaction.max_age', db)).toBeLessThan(1);
    } finally {
      await holder.end();
    }
  });

  it('records nothing but postgresql.up = 0 and an error count when the statistics do not answer in time', async () => {
    // A "server" that accepts connections and never answers: the queries hang.
    const sockets: Socket[] = [];
    const silent: TcpServer = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const hanging = connect(`postgres://nobody:x@127.0.0.1:${(silent.address() as AddressInfo).port}/nowhere`, { max: 1, connect_timeout: 60 });
    // Not global: a second provider beside the first, exporting as another service.
    const broken = await startTelemetry({ global: false, serviceName: 'jeex-db-broken', otlp: { url: `${receiver.url}/v1/metrics`, protocol: 'http/json' }, env: {} });
    const errors: JeexDbError[] = [];
    const metrics = registerServerMetrics(broken.meter, hanging, { timeoutMs: 300, onError: (error) => errors.push(error) });
    try {
      const started = Date.now();
      await broken.forceFlush();
      expect(Date.now() - started).toBeLessThan(5000);
      await broken.forceFlush();

      const exported = receiver.last('jeex-db-broken');
      const recorded = [...exported.metrics.values()].filter((m) => m.name.startsWith('postgresql.') && m.points.length > 0);
      expect(recorded.map((m) => m.name)).toEqual(['postgresql.up']);
      expect(value(exported, 'postgresql.up', { 'db.system.name': 'postgresql' })).toBe(0);
      expect(metric(exported, 'jeex_db.server_metrics.errors')).toMatchObject({ unit: '{error}', kind: 'sum', monotonic: true });
      expect(value(exported, 'jeex_db.server_metrics.errors', { 'db.system.name': 'postgresql', 'error.type': 'QUERY_TIMEOUT' })).toBe(2);
      expect(errors.map((e) => e.code)).toEqual(['QUERY_TIMEOUT', 'QUERY_TIMEOUT']);
      expect(errors[0]?.message).toMatch(/within 300 ms/);
    } finally {
      metrics.close();
      await broken.shutdown();
      await hanging.end({ timeout: 0 });
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('startTelemetry with OTLP/HTTP protobuf (the OTLP default)', () => {
  it('posts application/x-protobuf to /v1/metrics when no protocol is set, holding the metrics', async () => {
    const bodies: { type: string | undefined; body: Buffer }[] = [];
    const server: Server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.url === '/v1/metrics') bodies.push({ type: request.headers['content-type'], body: Buffer.concat(chunks) });
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const telemetry = await startTelemetry({ global: false, serviceName: 'jeex-db-protobuf', env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_METRIC_EXPORT_INTERVAL: '600000' } });
    const metrics = registerServerMetrics(telemetry.meter, t.admin);
    try {
      expect(telemetry.otlp).toMatchObject({ protocol: 'http/protobuf' });
      await telemetry.forceFlush();
      expect(bodies.length).toBeGreaterThan(0);
      const last = bodies.at(-1);
      expect(last?.type).toBe('application/x-protobuf');
      // Protobuf keeps strings as UTF-8 bytes: the names and the database are in the body.
      const text = last?.body.toString('latin1') ?? '';
      expect(text).toContain('postgresql.db_size');
      expect(text).toContain('jeex-db-protobuf');
      expect(text).toContain(t.name);
      expect(() => JSON.parse(last?.body.toString('utf8') ?? '') as unknown).toThrow();
    } finally {
      metrics.close();
      await telemetry.shutdown();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('startTelemetry configuration', () => {
  const refusal = async (env: Record<string, string>): Promise<JeexDbError> => {
    try {
      await startTelemetry({ env });
    } catch (error) {
      if (error instanceof JeexDbError) return error;
      throw error;
    }
    throw new Error('startTelemetry accepted the configuration');
  };

  it('refuses gRPC, naming the variable and the OTLP/HTTP port 4318', async () => {
    const error = await refusal({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toMatch(/OTEL_EXPORTER_OTLP_PROTOCOL=grpc/);
    expect(error.message).toMatch(/OTLP\/HTTP/);
    expect(error.message).toMatch(/port 4318, not gRPC on port 4317/);
  });

  it("refuses an endpoint on the collector's gRPC port 4317", async () => {
    const error = await refusal({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://otel-collector:4317/v1/metrics' });
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toMatch(/OTEL_EXPORTER_OTLP_METRICS_ENDPOINT points at port 4317.*port 4318/);
  });

  it('names every bad variable at once and never echoes a header value', async () => {
    const error = await refusal({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
      OTEL_METRIC_EXPORT_INTERVAL: '1m',
      OTEL_METRIC_EXPORT_TIMEOUT: '-5',
      OTEL_EXPORTER_OTLP_HEADERS: 'Bearer-topsecret-token',
    });
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toMatch(/OTEL_METRIC_EXPORT_INTERVAL must be a duration such as 500ms, 5s, 2min, 1h or 1d \(a plain number is milliseconds\), got "1m"/);
    expect(error.message).toMatch(/OTEL_METRIC_EXPORT_TIMEOUT must be .* got "-5"/);
    expect(error.message).toMatch(/OTEL_EXPORTER_OTLP_HEADERS: entry 1 is not key=value/);
    expect(JSON.stringify(error)).not.toMatch(/topsecret/);
    expect(error.context?.problems).toHaveLength(3);
  });

  it("reads the specification's whole milliseconds, and a duration with a unit", () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318', OTEL_METRIC_EXPORT_INTERVAL: '60000', OTEL_METRIC_EXPORT_TIMEOUT: '20s', OTEL_EXPORTER_OTLP_TIMEOUT: '2.5s' };
    expect(resolveTelemetryConfig({ env }).otlp).toMatchObject({ intervalMillis: 60_000, exportTimeoutMillis: 20_000, requestTimeoutMillis: 2500 });
    expect(() => resolveTelemetryConfig({ env: { ...env, OTEL_METRIC_EXPORT_INTERVAL: '0' } })).toThrow(/OTEL_METRIC_EXPORT_INTERVAL must be above 0, got "0"/);
  });

  it('stays off without an endpoint, exporter or option', async () => {
    const off = await startTelemetry({ env: {} });
    expect(off.otlp).toBeUndefined();
    expect(off.prometheus).toBeUndefined();
    expect(off.global).toBe(false);
    return off.shutdown();
  });
});

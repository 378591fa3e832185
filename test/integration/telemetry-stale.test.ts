// startTelemetry registers its MeterProvider process-wide; vitest runs each test file in its own
// process (pool: 'forks'), so no other file sees it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { localUrl, readLocalState } from '../../src/local/state.ts';
import { down } from '../../src/stack/down.ts';
import { up } from '../../src/stack/up.ts';
import { startTelemetry, type Telemetry } from '../../src/ops/telemetry/provider.ts';
import { registerServerMetrics, type ServerMetrics } from '../../src/ops/telemetry/server-metrics.ts';
import { startBackupCluster, type BackupCluster } from '../helpers/backup-cluster.ts';
import { PROMTOOL_BINARY, promtoolCheckMetrics } from '../helpers/prometheus.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { skipOrFail } from '../helpers/skip.ts';
import { samples, sampleValue } from '../helpers/metrics.ts';

// A cluster of this file's own (WAL archived into its repository) that the test stops and
// starts again; the metrics are read as its monitoring role (pg_monitor, not a superuser).
let cluster: BackupCluster;
let monitor: Sql;
let telemetry: Telemetry;
let serverMetrics: ServerMetrics;
let receiver: OtlpReceiver;
let server: Server;
let metricsUrl: string;

beforeAll(async () => {
  cluster = await startBackupCluster('jeex-test-metrics-stale-');
  await cluster.sql`CREATE TABLE public.orders (id bigint PRIMARY KEY, note text)`;
  await cluster.sql`CREATE TABLE public.scratch (id int)`;
  await cluster.sql`INSERT INTO public.orders SELECT g, 'n' FROM generate_series(1, 500) g`;
  await cluster.sql`DELETE FROM public.orders WHERE id <= 100`;
  await cluster.sql`SELECT pg_create_physical_replication_slot('jeex_test_slot', true)`;
  await cluster.sql`SELECT pg_switch_wal()`;
  await cluster.sql`SELECT pg_stat_force_next_flush()`;
  const url = localUrl(cluster.layout, 'monitor', { database: cluster.database });
  if (!url) throw new Error('no monitor URL');
  monitor = connect(url, { max: 2, onnotice: () => {}, connect_timeout: 2 });

  receiver = await startOtlpReceiver();
  telemetry = await startTelemetry({
    prometheus: true,
    instanceId: 'stale-test-1',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_METRIC_EXPORT_INTERVAL: '600000', OTEL_METRIC_EXPORT_TIMEOUT: '10000' },
  });
  serverMetrics = registerServerMetrics(telemetry.meter, monitor, { timeoutMs: 3000 });
  const endpoint = telemetry.prometheus;
  server = createServer((request, response) => (endpoint ? endpoint.handler(request, response) : response.writeHead(404).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  metricsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
}, 180_000);

afterAll(async () => {
  serverMetrics?.close();
  await telemetry?.shutdown();
  await receiver?.close();
  await new Promise((resolve) => server?.close(resolve));
  await monitor?.end({ timeout: 1 });
  await cluster?.sql.end({ timeout: 1 });
  if (cluster) {
    await down({ dataDir: cluster.dataDir }).catch(() => undefined);
    await rm(cluster.root, { recursive: true, force: true });
  }
});

const scrape = async () => (await fetch(metricsUrl)).text();

async function startAgain(): Promise<void> {
  const state = readLocalState(cluster.layout);
  if (!state) throw new Error('no state.json');
  await up({ dataDir: cluster.dataDir, port: state.port, memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });
}

describe('server metrics of a PostgreSQL that stops and starts again', () => {
  it('reports postgresql_up 1 with the WAL, archiver, slot and per-table series under their Prometheus names', async () => {
    const text = await scrape();
    const db = { db_namespace: cluster.database };
    expect(sampleValue(text, 'postgresql_up', {})).toBe(1);
    expect(text).toMatch(/^# TYPE postgresql_db_size_bytes gauge$/m);
    expect(text).not.toMatch(/^# UNIT/m);
    // The package's migrated tables and the two of this test.
    const [{ tables }] = await cluster.sql<[{ tables: number }]>`SELECT count(*)::int AS tables FROM pg_stat_user_tables`;
    expect(tables).toBeGreaterThanOrEqual(2);
    expect(sampleValue(text, 'postgresql_tables', db)).toBe(tables);
    const orders = { ...db, postgresql_table_name: 'public.orders' };
    expect(sampleValue(text, 'postgresql_rows', { ...orders, state: 'live' })).toBe(400);
    expect(sampleValue(text, 'postgresql_rows', { ...orders, state: 'dead' })).toBe(100);
    expect(sampleValue(text, 'postgresql_operations_total', { ...orders, operation: 'ins' })).toBe(500);
    expect(sampleValue(text, 'postgresql_operations_total', { ...orders, operation: 'del' })).toBe(100);
    const [{ size }] = await cluster.sql<[{ size: string }]>`SELECT pg_relation_size('public.orders') AS size`;
    expect(sampleValue(text, 'postgresql_table_size_bytes', orders)).toBe(Number(size));
    expect(sampleValue(text, 'postgresql_index_size_bytes', { ...orders, postgresql_index_name: 'orders_pkey' })).toBeGreaterThan(0);
    expect(sampleValue(text, 'postgresql_index_scans_total', { ...orders, postgresql_index_name: 'orders_pkey' })).toBeGreaterThanOrEqual(0);
    expect(text).toMatch(/^# TYPE postgresql_sequential_scans_total counter$/m);
    expect(text).toMatch(/^# TYPE postgresql_table_vacuum_count_total counter$/m);
    // WAL archived by `up`'s archive_command into the repository.
    expect(sampleValue(text, 'jeex_db_archiver_archived_total', {})).toBeGreaterThan(0);
    expect(sampleValue(text, 'jeex_db_archiver_failed_total', {})).toBe(0);
    expect(sampleValue(text, 'jeex_db_archiver_ready', {})).toBeGreaterThanOrEqual(0);
    expect(sampleValue(text, 'postgresql_wal_age_seconds', {})).toBeGreaterThanOrEqual(0);
    const slot = { slot_name: 'jeex_test_slot', slot_type: 'physical' };
    expect(sampleValue(text, 'jeex_db_replication_slot_active', slot)).toBe(0);
    expect(sampleValue(text, 'jeex_db_replication_slot_retained_wal_bytes', slot)).toBeGreaterThan(0);
    // The resource tells this instance apart.
    expect(text).toMatch(/^target_info\{[^}]*service_instance_id="stale-test-1"/m);
    expect(text).toMatch(/^target_info\{[^}]*host_name="[^"]+"/m);
  });

  it('drops the series of a table that is gone', async () => {
    const before = await scrape();
    expect(samples(before, 'postgresql_table_size_bytes', { postgresql_table_name: 'public.scratch' })).toHaveLength(1);
    await cluster.sql`DROP TABLE public.scratch`;
    const text = await scrape();
    expect(samples(text, 'postgresql_table_size_bytes', { postgresql_table_name: 'public.scratch' })).toEqual([]);
    expect(samples(text, 'postgresql_rows', { postgresql_table_name: 'public.scratch' })).toEqual([]);
    expect(sampleValue(text, 'postgresql_tables', {})).toBe(sampleValue(before, 'postgresql_tables', {}) - 1);
  });

  it('passes promtool check metrics', async (ctx) => {
    if (!existsSync(PROMTOOL_BINARY)) skipOrFail(ctx, `${PROMTOOL_BINARY} is missing (apt-get install prometheus)`);
    const checked = await promtoolCheckMetrics(await scrape());
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
  });

  it('shows postgresql_up 0 and no frozen postgresql_* samples while the server is down, in Prometheus and OTLP; the series come back after a restart', async () => {
    await down({ dataDir: cluster.dataDir });

    const text = await scrape();
    expect(sampleValue(text, 'postgresql_up', {})).toBe(0);
    const frozen = text.split('\n').filter((line) => /^(postgresql_|jeex_db_archiver|jeex_db_replication_slot)/.test(line) && !line.startsWith('postgresql_up'));
    expect(frozen).toEqual([]);
    expect(samples(text, 'jeex_db_server_metrics_errors_total', {}).length).toBeGreaterThan(0);

    await telemetry.forceFlush();
    const exported = receiver.last();
    expect(exported.value('postgresql.up', {})).toBe(0);
    const stale = [...exported.metrics.keys()].filter((name) => name.startsWith('postgresql.') && name !== 'postgresql.up');
    expect(stale).toEqual([]);

    await startAgain();
    const back = await scrape();
    expect(sampleValue(back, 'postgresql_up', {})).toBe(1);
    expect(sampleValue(back, 'postgresql_rows', { postgresql_table_name: 'public.orders', state: 'live' })).toBe(400);
    await telemetry.forceFlush();
    expect(receiver.last().value('postgresql.up', {})).toBe(1);
    expect(receiver.last().metrics.get('postgresql.db_size')?.length).toBe(1);
  }, 120_000);
});

import { describe, expect, it } from 'vitest';
import { prometheusName, sanitizeLabel, unitSuffix } from '../../src/ops/telemetry/prometheus-names.ts';

describe('prometheusName (the OpenTelemetry → Prometheus compatibility rules)', () => {
  it.each([
    ['postgresql.db_size', 'By', 'gauge', 'postgresql_db_size_bytes'],
    ['postgresql.commits', '{commit}', 'counter', 'postgresql_commits_total'],
    ['postgresql.temp.io', 'By', 'counter', 'postgresql_temp_io_bytes_total'],
    ['postgresql.wal.lag', 's', 'gauge', 'postgresql_wal_lag_seconds'],
    ['pgbouncer.wait_time', 's', 'counter', 'pgbouncer_wait_time_seconds_total'],
    ['db.client.operation.duration', 's', 'histogram', 'db_client_operation_duration_seconds'],
    ['postgresql.backends', '{connection}', 'gauge', 'postgresql_backends'],
    ['postgresql.up', '', 'gauge', 'postgresql_up'],
    ['cache.hit', '1', 'gauge', 'cache_hit_ratio'],
    ['net.io', 'By/s', 'gauge', 'net_io_bytes_per_second'],
    ['requests.total', '{request}', 'counter', 'requests_total'],
    ['jeex.backup.last_size', 'By', 'gauge', 'jeex_backup_last_size_bytes'],
    ['already_seconds', 's', 'gauge', 'already_seconds'],
  ] as const)('%s (%s, %s) → %s', (name, unit, kind, expected) => {
    expect(prometheusName(name, unit, kind)).toBe(expected);
  });

  it('gives the gauges whose name promtool refuses (ending in _count) their documented names', () => {
    expect(prometheusName('postgresql.database.count', '{database}', 'gauge')).toBe('postgresql_databases');
    expect(prometheusName('postgresql.table.count', '{table}', 'gauge')).toBe('postgresql_tables');
    expect(prometheusName('db.client.connection.count', '{connection}', 'gauge')).toBe('db_client_connections');
    // A counter ending in .count is fine: it ends in _total.
    expect(prometheusName('postgresql.table.vacuum.count', '{vacuum}', 'counter')).toBe('postgresql_table_vacuum_count_total');
  });

  it('sanitizes names and labels', () => {
    expect(prometheusName('9lives.métrique', '', 'gauge')).toBe('_9lives_m_trique');
    expect(sanitizeLabel('db.client.connection.pool.name')).toBe('db_client_connection_pool_name');
    expect(sanitizeLabel('1st')).toBe('key_1st');
    expect(unitSuffix('{row}', 'gauge')).toBe('');
  });
});

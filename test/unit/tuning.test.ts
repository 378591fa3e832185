import { describe, expect, it } from 'vitest';
import { deriveSettings, formatMemory, renderConf, type Machine } from '../../src/cluster/tuning.ts';
import { parseBytes } from '../../src/core/units.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const settingsOf = (machine: Machine, maxConnections?: number) =>
  Object.fromEntries(deriveSettings(machine, maxConnections ? { maxConnections } : {}).map((s) => [s.name, s.value]));

function bytes(value: string | undefined): number {
  const match = /^(\d+)(kB|MB|GB)$/.exec(value ?? '');
  if (!match) throw new Error(`not a memory value: ${value}`);
  return Number(match[1]) * { kB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30 }[match[2] as 'kB' | 'MB' | 'GB'];
}

describe('deriveSettings', () => {
  it('derives this reference machine exactly (24 GiB, 2 CPUs, SSD)', () => {
    expect(settingsOf({ memoryBytes: 24 * GiB, cpus: 2, storage: 'ssd' })).toEqual({
      max_connections: '100',
      reserved_connections: '6',
      shared_buffers: '6GB',
      effective_cache_size: '18GB',
      work_mem: '61MB',
      maintenance_work_mem: '1536MB',
      min_wal_size: '1GB',
      max_wal_size: '4GB',
      checkpoint_timeout: '15min',
      checkpoint_completion_target: '0.9',
      wal_buffers: '16MB',
      random_page_cost: '1.1',
      effective_io_concurrency: '200',
      max_worker_processes: '8',
      max_parallel_workers: '2',
      max_parallel_workers_per_gather: '1',
      max_parallel_maintenance_workers: '1',
    });
  });

  it.each([
    { memoryBytes: 512 * MiB, cpus: 1 },
    { memoryBytes: 2 * GiB, cpus: 2 },
    { memoryBytes: 16 * GiB, cpus: 8 },
    { memoryBytes: 256 * GiB, cpus: 64 },
  ])('keeps memory within bounds for $memoryBytes bytes / $cpus CPUs', ({ memoryBytes, cpus }) => {
    const s = settingsOf({ memoryBytes, cpus, storage: 'ssd' });
    const connections = Number(s.max_connections);
    expect(connections).toBeGreaterThanOrEqual(100);
    expect(connections).toBeLessThanOrEqual(400);
    expect(bytes(s.shared_buffers)).toBeLessThanOrEqual(memoryBytes / 4);
    expect(bytes(s.shared_buffers)).toBeGreaterThan(memoryBytes / 4 - MiB);
    expect(bytes(s.effective_cache_size)).toBeGreaterThan(bytes(s.shared_buffers));
    // work_mem never below the 4MB default; above the floor, every connection sorting 3 ways fits.
    const workMem = bytes(s.work_mem);
    expect(workMem).toBeGreaterThanOrEqual(4 * MiB);
    if (workMem > 4 * MiB) expect(workMem * connections * 3).toBeLessThanOrEqual(memoryBytes - bytes(s.shared_buffers));
    expect(bytes(s.maintenance_work_mem)).toBeLessThanOrEqual(2 * GiB);
    expect(bytes(s.max_wal_size)).toBeGreaterThan(bytes(s.min_wal_size));
    expect(Number(s.max_parallel_workers)).toBe(cpus);
    expect(Number(s.max_parallel_workers_per_gather)).toBeLessThanOrEqual(Math.max(1, cpus / 2));
  });

  it('scales connections with CPUs and honours an explicit max_connections', () => {
    expect(settingsOf({ memoryBytes: 8 * GiB, cpus: 8, storage: 'ssd' }).max_connections).toBe('200');
    expect(settingsOf({ memoryBytes: 8 * GiB, cpus: 32, storage: 'ssd' }).max_connections).toBe('400');
    const fixed = deriveSettings({ memoryBytes: 8 * GiB, cpus: 8, storage: 'ssd' }, { maxConnections: 40 });
    expect(fixed.find((s) => s.name === 'max_connections')).toMatchObject({ value: '40', reason: 'set by --max-connections' });
  });

  it('reserves connection slots for the monitoring and backup roles: 6, at most a tenth of max_connections', () => {
    // superuser_reserved_connections (3) + reserved_connections must stay below max_connections,
    // and the app role's limit (max_connections - 10, src/ops/roles/catalog.ts) must fit in what is left.
    for (const [max, reserved] of [[400, 6], [100, 6], [60, 6], [30, 3], [12, 1], [5, 0]] as const) {
      expect(settingsOf({ memoryBytes: 8 * GiB, cpus: 2, storage: 'ssd' }, max).reserved_connections, `max_connections ${max}`).toBe(String(reserved));
      expect(3 + reserved).toBeLessThan(max);
      if (max >= 20) expect(max - 10).toBeLessThanOrEqual(max - 3 - reserved);
    }
  });

  it('tunes the planner for the disk kind', () => {
    expect(settingsOf({ memoryBytes: 8 * GiB, cpus: 4, storage: 'hdd' })).toMatchObject({ random_page_cost: '4', effective_io_concurrency: '2' });
  });

  it('gives every setting a reason and refuses absurd memory', () => {
    for (const setting of deriveSettings({ memoryBytes: 4 * GiB, cpus: 2, storage: 'ssd' })) {
      expect(setting.reason.length, setting.name).toBeGreaterThan(10);
    }
    expect(() => deriveSettings({ memoryBytes: 100 * MiB, cpus: 2, storage: 'ssd' })).toThrow(/at least 256MiB/);
  });
});

describe('formatMemory / parseBytes / renderConf', () => {
  it('formats in the largest exact PostgreSQL unit', () => {
    expect(formatMemory(6 * GiB)).toBe('6GB');
    expect(formatMemory(1536 * MiB)).toBe('1536MB');
    expect(formatMemory(1000 * 1024)).toBe('1000kB');
  });

  it('parses human sizes', () => {
    expect(parseBytes('512MiB')).toBe(512 * MiB);
    expect(parseBytes('4GiB')).toBe(4 * GiB);
    expect(parseBytes('2gb')).toBe(2 * GiB);
    expect(parseBytes('1073741824')).toBe(GiB);
    expect(parseBytes('lots')).toBeUndefined();
  });

  it('renders a conf fragment with quoted units and bare numbers', () => {
    const text = renderConf(deriveSettings({ memoryBytes: 4 * GiB, cpus: 2, storage: 'ssd' }), ['header']);
    expect(text).toMatch(/^# header\n/);
    expect(text).toContain("shared_buffers = '1GB'");
    expect(text).toContain('max_connections = 100');
    expect(text).toContain('random_page_cost = 1.1');
  });
});

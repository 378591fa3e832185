/**
 * Server settings derived from the machine. Pure: the same machine gives the same settings,
 * so it is unit-tested and `jeex-db config --explain` shows exactly what `up` writes.
 *
 * The rules follow the usual OLTP guidance (PostgreSQL docs "Resource Consumption", pgtune's
 * "web application" profile), adjusted for a pooler in front: PgBouncer multiplexes clients, so
 * the server needs connections for active work, not one per client.
 */
export interface Machine {
  /** Memory PostgreSQL may use, in bytes (the cgroup limit when lower than physical RAM). */
  memoryBytes: number;
  cpus: number;
  storage: 'ssd' | 'hdd';
}

export interface TuningOptions {
  /** Override the derived max_connections. */
  maxConnections?: number;
}

export interface Setting {
  name: string;
  /** The value exactly as written to postgresql.conf. */
  value: string;
  reason: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

/** PostgreSQL memory units: the largest of GB/MB/kB that divides the value exactly. */
export function formatMemory(bytes: number): string {
  const kb = Math.max(64, Math.floor(bytes / KiB));
  if (kb % (1024 * 1024) === 0) return `${kb / (1024 * 1024)}GB`;
  if (kb % 1024 === 0) return `${kb / 1024}MB`;
  return `${kb}kB`;
}

/** Memory for people: `23.5 GiB`, `512 MiB`. */
export function humanBytes(bytes: number): string {
  return bytes >= GiB ? `${+(bytes / GiB).toFixed(1)} GiB` : `${Math.round(bytes / MiB)} MiB`;
}

/** Round down to whole MiB (values stay readable in postgresql.conf). */
const mib = (bytes: number) => Math.floor(bytes / MiB) * MiB;

/** What the operator roles open at once: `serve`'s health and backup clients (2 + 2) and one CLI `health` or `backup` (2). */
export const RESERVED_FOR_OPERATORS = 6;

/**
 * reserved_connections (PostgreSQL 16+) for a max_connections: enough for the operator roles,
 * at most a tenth of the server (a small test cluster keeps room for its application).
 */
export function reservedConnections(maxConnections: number): number {
  return Math.max(0, Math.min(RESERVED_FOR_OPERATORS, Math.floor(maxConnections / 10)));
}

export function deriveSettings(machine: Machine, options: TuningOptions = {}): Setting[] {
  const memory = machine.memoryBytes;
  const cpus = Math.max(1, Math.floor(machine.cpus));
  if (!Number.isFinite(memory) || memory < 256 * MiB) {
    throw new RangeError(`memory must be at least 256MiB, got ${memory} bytes`);
  }

  const maxConnections = options.maxConnections ?? clamp(cpus * 25, 100, 400);
  const sharedBuffers = mib(memory / 4);
  const effectiveCache = mib((memory * 3) / 4);
  const maintenanceWorkMem = mib(clamp(memory / 16, 64 * MiB, 2 * GiB));
  // What is left after shared_buffers, shared by every connection running up to ~3 sorts or
  // hashes at once; at least 4MB (the default) so small machines are not made worse.
  const workMem = mib(clamp((memory - sharedBuffers) / (maxConnections * 3), 4 * MiB, 256 * MiB));
  const small = memory < 4 * GiB;
  const minWal = small ? 256 * MiB : GiB;
  const maxWal = small ? GiB : 4 * GiB;
  const ssd = machine.storage === 'ssd';
  const gatherWorkers = clamp(Math.floor(cpus / 2), 1, 4);
  const reserved = reservedConnections(maxConnections);

  return [
    {
      name: 'max_connections',
      value: String(maxConnections),
      reason: options.maxConnections
        ? 'set by --max-connections'
        : `25 per CPU (${cpus}), between 100 and 400: PgBouncer multiplexes clients, the server only needs connections for active work plus room for admin, monitoring and migrations`,
    },
    {
      name: 'reserved_connections',
      value: String(reserved),
      reason:
        `slots only the monitoring and backup roles (pg_use_reserved_connections) and superusers may take, besides the superusers' 3: ` +
        `health, alerts and backups still log in when the application's connections fill the server; ` +
        `${RESERVED_FOR_OPERATORS} (serve's health and backup clients, 2 + 2, and one CLI health or backup, 2), at most a tenth of max_connections`,
    },
    {
      name: 'shared_buffers',
      value: formatMemory(sharedBuffers),
      reason: `25% of ${humanBytes(memory)}: PostgreSQL's own cache; the OS page cache holds the rest`,
    },
    {
      name: 'effective_cache_size',
      value: formatMemory(effectiveCache),
      reason: '75% of memory: what the planner may assume is cached (shared_buffers + OS cache); allocates nothing',
    },
    {
      name: 'work_mem',
      value: formatMemory(workMem),
      reason: `(memory - shared_buffers) / (max_connections x 3), between 4MB and 256MB: per sort/hash node, so all connections sorting at once still fit`,
    },
    {
      name: 'maintenance_work_mem',
      value: formatMemory(maintenanceWorkMem),
      reason: '1/16 of memory, between 64MB and 2GB: faster VACUUM and CREATE INDEX, few run at once',
    },
    {
      name: 'min_wal_size',
      value: formatMemory(minWal),
      reason: small ? 'under 4GB of memory: a small WAL footprint' : 'keeps recycled WAL segments around for bursts of writes',
    },
    {
      name: 'max_wal_size',
      value: formatMemory(maxWal),
      reason: small
        ? 'under 4GB of memory: checkpoints by size at 1GB'
        : '4GB between checkpoints so they are driven by checkpoint_timeout, not by write bursts',
    },
    {
      name: 'checkpoint_timeout',
      value: '15min',
      reason: 'fewer full-page writes than the 5min default; crash recovery stays well under a minute on SSD',
    },
    {
      name: 'checkpoint_completion_target',
      value: '0.9',
      reason: 'spread checkpoint writes over 90% of the interval to avoid I/O spikes',
    },
    {
      name: 'wal_buffers',
      value: '16MB',
      reason: 'the useful maximum; the default (1/32 of shared_buffers) is smaller on small machines',
    },
    {
      name: 'random_page_cost',
      value: ssd ? '1.1' : '4',
      reason: ssd ? 'SSD: random reads cost about the same as sequential ones, so indexes are preferred' : 'spinning disk: the default',
    },
    {
      name: 'effective_io_concurrency',
      value: ssd ? '200' : '2',
      reason: ssd ? 'SSD: many concurrent reads in flight for bitmap heap scans and prefetching' : 'spinning disk: few concurrent reads',
    },
    {
      name: 'max_worker_processes',
      value: String(Math.max(8, cpus)),
      reason: 'one per CPU, at least the default 8 (parallel workers, logical replication, extensions)',
    },
    {
      name: 'max_parallel_workers',
      value: String(cpus),
      reason: 'at most one parallel worker per CPU',
    },
    {
      name: 'max_parallel_workers_per_gather',
      value: String(gatherWorkers),
      reason: 'half the CPUs, 1 to 4: OLTP queries rarely go parallel, and one query must not take every core',
    },
    {
      name: 'max_parallel_maintenance_workers',
      value: String(gatherWorkers),
      reason: 'half the CPUs, 1 to 4, for parallel CREATE INDEX and VACUUM',
    },
  ];
}

/** Render settings as a postgresql.conf fragment, each with its reason as a comment. */
export function renderConf(settings: Setting[], header: string[]): string {
  const lines = header.map((line) => `# ${line}`);
  for (const setting of settings) {
    lines.push('', `# ${setting.reason}`, `${setting.name} = ${quote(setting.value)}`);
  }
  return `${lines.join('\n')}\n`;
}

function quote(value: string): string {
  return /^[0-9.]+$/.test(value) ? value : `'${value.replaceAll("'", "''")}'`;
}

/**
 * `npm run bench [-- --only startup|migrations|pool|backup|jeex|failover|locks] [--runs N] [--scale-gb N] [--scale S] [--clients N] [--duration S] [--load F | --rate R] [--rounds N] [--legs L,...] [--no-tls] [--pool-size N] [--reader-seconds N] [--json] [--out FILE]`:
 * the package's benchmarks (default: all). Figures are printed; with --json one JSON document
 * goes to stdout, and it is always written to FILE (default bench/results/<date>.json) so two
 * runs can be compared.
 *
 *   startup     `jeex-db up` on a new and on an existing data directory (--runs times)
 *   migrations  PERF-003: a migration set on ~--scale-gb GiB of document versions while a
 *               writer inserts (bench/migrations-1gb.ts)
 *   pool        REQ-004/PERF-002: --clients clients (default 200) through PgBouncer vs straight to
 *               PostgreSQL, --duration s each (default 15): first as fast as they can (capacity),
 *               then paced at --load x that capacity (default 0.5) or at --rate req/s, where the
 *               targets apply; then a PostgreSQL restart under load (bench/pool.ts)
 *   backup      REQ-007: on ~--scale-gb GiB, a base backup while a writer inserts (MiB/s, the
 *               writer's p99 with and without it), verify, and restore to the latest point and
 *               to a point in time (RTO) (bench/backup.ts); --max-rate-mb N caps the backup's reads
 *   jeex        issue #8: the JEEX mix on data seeded at --scale (tiny|small|default or a factor,
 *               default 1 = ~2,000 users, ~40,000 document versions) through four stacks side by
 *               side: the package's Drizzle queries over postgres.js through PgBouncer (1) and
 *               direct (2), the same SQL from pgbench direct (3, the ceiling) and Drizzle's
 *               node-postgres through PgBouncer (4); --clients clients (default 64), --duration s
 *               per leg (default 15), first as fast as they go (capacity: tps ratios), then paced
 *               at --load x the slowest leg's capacity (default 0.5), the same rate for every
 *               leg, or at --rate tx/s (the latency targets);
 *               CPU of Node, PgBouncer, PostgreSQL and pgbench per 1000 transactions, and of other
 *               processes as noise; --rounds N runs every leg N times in rotation and reports each
 *               leg's median round; --legs app,direct,... runs only those (to profile one); --no-tls runs
 *               every connection in plain TCP, to measure what TLS costs; --pool-size N sets
 *               PgBouncer's default_pool_size (bench/jeex.ts)
 *
 *   failover    issue #15: a primary and a streaming standby; insert throughput async vs sync
 *               (--clients, default 8, for min(--duration, 10) s each); kill -9 of the primary under a
 *               writer, promote: kill -> first acknowledged write (target 2 s), acknowledged rows lost
 *               with sync, async and async after a 2 s walsender stall; re-seed time (bench/failover.ts)
 *
 *   locks       issue #17: a transaction holding a read lock on document_versions for
 *               --reader-seconds (default 40), an INSERT loop on it and a migration adding a column,
 *               with the old lock defaults (5 s x 4 tries) and the new ones: the writer's slowest
 *               insert, total stall, inserts over 500 ms; whether and when the migration went
 *               through (target: new defaults under 1.5 s per insert, applied) (bench/lock-stall.ts)
 *
 * --clients is shared: pool defaults to 200, jeex to 64, failover to 8.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchMigrations, describeMigrations, migrationsPassed, type MigrationFigures } from './migrations-1gb.ts';
import { benchStartup, type StartupFigures } from './up-cold-start.ts';
import { benchPool, describePool, poolPassed, type PoolFigures } from './pool.ts';
import { backupPassed, benchBackup, describeBackup, type BackupFigures } from './backup.ts';
import { benchJeex, describeJeex, jeexPassed, type JeexFigures } from './jeex.ts';
import { parseScale } from './jeex/scale.ts';
import { benchFailover, describeFailover, failoverPassed, type FailoverFigures } from './failover.ts';
import { benchLockStall, describeLockStall, lockStallPassed, type LockStallFigures } from './lock-stall.ts';

const BENCHES = ['startup', 'migrations', 'pool', 'backup', 'jeex', 'failover', 'locks'] as const;
type Bench = (typeof BENCHES)[number];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '5' },
    'scale-gb': { type: 'string', default: '1' },
    scale: { type: 'string', default: 'default' },
    clients: { type: 'string' },
    duration: { type: 'string', default: '15' },
    load: { type: 'string', default: '0.5' },
    rate: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    legs: { type: 'string' },
    'no-tls': { type: 'boolean', default: false },
    'pool-size': { type: 'string' },
    'max-rate-mb': { type: 'string' },
    'reader-seconds': { type: 'string', default: '40' },
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const usage = (message: string) => {
  process.stderr.write(`${message}\n`);
  process.exit(2);
};
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) usage('--runs must be a whole number >= 1');
const scaleGb = Number(values['scale-gb']);
if (!Number.isFinite(scaleGb) || scaleGb <= 0) usage('--scale-gb must be a number > 0 (GiB of document content to seed)');
const clientsFlag = values.clients === undefined ? undefined : Number(values.clients);
const scale = parseScale(values.scale ?? 'default');
if (typeof scale === 'string') usage(scale);
const durationS = Number(values.duration);
const load = Number(values.load);
const rate = values.rate === undefined ? undefined : Number(values.rate);
const LEGS = ['pgbench', 'pgbenchPrepared', 'app', 'direct', 'nodePg'] as const;
const legs = values.legs?.split(',').map((name) => name.trim());
const unknownLegs = legs?.filter((name) => !LEGS.includes(name as (typeof LEGS)[number])) ?? [];
if (legs && (legs.length === 0 || unknownLegs.length > 0)) usage(`--legs ${unknownLegs.join(',')}: unknown leg (known: ${LEGS.join(', ')})`);
const poolSize = values['pool-size'] === undefined ? undefined : Number(values['pool-size']);
if (poolSize !== undefined && (!Number.isInteger(poolSize) || poolSize < 1)) usage('--pool-size must be a whole number >= 1 (PgBouncer default_pool_size)');
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) usage('--rounds must be a whole number >= 1');
if (clientsFlag !== undefined && (!Number.isInteger(clientsFlag) || clientsFlag < 1)) usage('--clients must be a whole number >= 1');
if (!Number.isFinite(durationS) || durationS <= 0) usage('--duration must be seconds > 0');
if (!Number.isFinite(load) || load <= 0 || load > 1) usage('--load must be a fraction of the measured capacity, > 0 and <= 1');
if (rate !== undefined && (!Number.isFinite(rate) || rate <= 0)) usage('--rate must be requests per second > 0');
const readerSeconds = Number(values['reader-seconds']);
if (!Number.isFinite(readerSeconds) || readerSeconds <= 0 || readerSeconds > 600) usage('--reader-seconds must be seconds > 0 and <= 600 (how long the reader holds its lock)');
const only = values.only?.split(',').map((name) => name.trim());
const unknown = only?.filter((name) => !BENCHES.includes(name as Bench)) ?? [];
if (unknown.length > 0) usage(`--only ${unknown.join(',')}: unknown bench (known: ${BENCHES.join(', ')})`);
const selected = (name: Bench) => !only || only.includes(name);

const log = (line: string) => process.stderr.write(`${line}\n`);
log(`jeex-db bench: ${BENCHES.filter(selected).join(', ')} on ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
const result: {
  when: string;
  machine: { cpus: number; memoryBytes: number; node: string };
  startup?: StartupFigures & { durationMs: number };
  migrations?: MigrationFigures & { durationMs: number };
  pool?: PoolFigures & { durationMs: number };
  backup?: BackupFigures & { durationMs: number };
  jeex?: JeexFigures & { durationMs: number };
  failover?: FailoverFigures & { durationMs: number };
  locks?: LockStallFigures & { durationMs: number };
} = {
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, memoryBytes: totalmem(), node: process.version },
};

if (selected('startup')) {
  const started = performance.now();
  const startup = await benchStartup(runs, log);
  result.startup = { ...startup, durationMs: performance.now() - started };
  log(`up, new data directory -> ready:      median ${startup.coldMedianMs.toFixed(0)} ms`);
  log(`up, existing data directory -> ready: median ${startup.warmMedianMs.toFixed(0)} ms`);
}
if (selected('migrations')) {
  const started = performance.now();
  const migrations = await benchMigrations({ scaleGb }, log);
  result.migrations = { ...migrations, durationMs: performance.now() - started };
  for (const line of describeMigrations(migrations)) log(line);
  log(`migrations bench end to end (up, seed, migrate, down): ${(result.migrations.durationMs / 1000).toFixed(1)} s`);
}

if (selected('pool')) {
  const started = performance.now();
  const pool = await benchPool({ clients: clientsFlag ?? 200, durationS, load, ...(rate !== undefined ? { rate } : {}) }, log);
  result.pool = { ...pool, durationMs: performance.now() - started };
  for (const line of describePool(pool)) log(line);
}

if (selected('backup')) {
  const started = performance.now();
  const maxRateMb = values['max-rate-mb'] === undefined ? undefined : Number(values['max-rate-mb']);
  if (maxRateMb !== undefined && !(maxRateMb > 0)) usage('--max-rate-mb must be MiB/s > 0');
  const backup = await benchBackup({ scaleGb, ...(maxRateMb ? { maxRateMb } : {}) }, log);
  result.backup = { ...backup, durationMs: performance.now() - started };
  for (const line of describeBackup(backup)) log(line);
}

if (selected('jeex') && typeof scale !== 'string') {
  const started = performance.now();
  const jeex = await benchJeex({ clients: clientsFlag ?? 64, durationS, load, scale, rounds, ...(poolSize ? { poolSize } : {}), ...(values['no-tls'] ? { tls: false } : {}), ...(legs ? { legs: legs as (typeof LEGS)[number][] } : {}), ...(rate !== undefined ? { rate } : {}) }, log);
  result.jeex = { ...jeex, durationMs: performance.now() - started };
  for (const line of describeJeex(jeex)) log(line);
}

if (selected('failover')) {
  const started = performance.now();
  const failover = await benchFailover({ clients: clientsFlag ?? 8, durationS: Math.min(durationS, 10) }, log);
  result.failover = { ...failover, durationMs: performance.now() - started };
  for (const line of describeFailover(failover)) log(line);
}

if (selected('locks')) {
  const started = performance.now();
  const locks = await benchLockStall({ readerSeconds }, log);
  result.locks = { ...locks, durationMs: performance.now() - started };
  for (const line of describeLockStall(locks)) log(line);
}

if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
const out = values.out ?? resolve(import.meta.dirname, 'results', `${result.when.slice(0, 19).replaceAll(':', '-')}.json`);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
log(`written to ${out}`);
if ((result.migrations && !migrationsPassed(result.migrations)) || (result.pool && !poolPassed(result.pool)) || (result.backup && !backupPassed(result.backup)) || (result.jeex && !jeexPassed(result.jeex)) || (result.failover && !failoverPassed(result.failover)) || (result.locks && !lockStallPassed(result.locks))) process.exitCode = 1;

/**
 * `npx tsx bench/tls-cost.ts [--connections 200] [--queries 5000] [--rounds 3] [--json]`: what TLS
 * costs. Two local clusters from `up`, one with TLS (the default: TLS 1.3, verify-full against the
 * development CA) and one with --no-tls, each with its PgBouncer when installed; rounds alternate
 * between them so load from elsewhere hits both alike. Per round and target:
 *
 *   connect   --connections times, one after another: connect(), SELECT 1, end()
 *   query     --queries sequential queries on one open connection, through connect() and
 *             through createDb() (the package's pool: its own TLS socket, the guard, the gate)
 *
 * Medians over the rounds are printed (and with --json one document on stdout).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../src/db/connect.ts';
import { createDb } from '../src/db/create-db.ts';
import { freePort } from '../src/platform/port.ts';
import { down, up, type UpResult } from '../src/stack/up.ts';
import { reachableDir } from './dirs.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '200' },
    queries: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const CONNECTIONS = Number(values.connections);
const QUERIES = Number(values.queries);
const ROUNDS = Number(values.rounds);
const log = (line: string) => process.stderr.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/**
 * Milliseconds per connect + SELECT 1 + end, mean over CONNECTIONS in a row: wall time, and this
 * process's CPU time (the client's share of the handshake; less disturbed by other load).
 */
async function connectCost(url: string): Promise<{ wall: number; cpu: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < CONNECTIONS; i++) {
    const sql = connect(url, { max: 1, onnotice: () => {}, fetch_types: false, prepare: false });
    await sql`SELECT 1`;
    await sql.end();
  }
  const used = process.cpuUsage(cpu);
  return { wall: (performance.now() - started) / CONNECTIONS, cpu: (used.user + used.system) / 1000 / CONNECTIONS };
}

/** Queries per second, one after another on one open connection. */
async function queryRate(url: string, via: 'connect' | 'createDb', pooled: boolean): Promise<number> {
  const db = via === 'createDb' ? createDb({ url, max: 1, pooler: pooled ? 'pgbouncer' : 'none' }, {}) : undefined;
  const sql = db?.sql ?? connect(url, { max: 1, onnotice: () => {}, prepare: !pooled });
  try {
    await sql`SELECT 1`;
    const started = performance.now();
    for (let i = 0; i < QUERIES; i++) await sql`SELECT ${i}::int AS n, repeat('x', 100) AS pad`;
    return QUERIES / ((performance.now() - started) / 1000);
  } finally {
    if (db) await db.close();
    else await sql.end();
  }
}

const root = await reachableDir('jeex-bench-tls-');
const clusters: { name: 'tls' | 'plain'; result: UpResult; dataDir: string }[] = [];
try {
  for (const name of ['tls', 'plain'] as const) {
    const dataDir = join(root, name);
    const result = await up({ dataDir, port: await freePort(), memoryBytes: 1024 ** 3, cpus: 2, tls: { enabled: name === 'tls' } });
    clusters.push({ name, result, dataDir });
    log(`${name}: PostgreSQL on ${result.port}, ${result.pooler.port ? `PgBouncer on ${result.pooler.port}` : 'no PgBouncer'}, TLS ${result.tls?.status ?? '?'}`);
  }
  const figures: Record<string, number[]> = {};
  const record = (key: string, value: number) => (figures[key] ??= []).push(value);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const { name, result } of clusters) {
      const direct = result.urls.superuser ?? '';
      const directCost = await connectCost(direct);
      record(`${name} connect direct ms`, directCost.wall);
      record(`${name} connect direct client cpu ms`, directCost.cpu);
      if (result.pooler.port) {
        const pooledCost = await connectCost(result.urls.app);
        record(`${name} connect pgbouncer ms`, pooledCost.wall);
        record(`${name} connect pgbouncer client cpu ms`, pooledCost.cpu);
      }
      record(`${name} query connect() q/s`, await queryRate(direct, 'connect', false));
      record(`${name} query createDb() q/s`, await queryRate(direct, 'createDb', false));
      if (result.pooler.port) record(`${name} query createDb() via pgbouncer q/s`, await queryRate(result.urls.app, 'createDb', true));
    }
    log(`round ${round}/${ROUNDS}: ${Object.entries(figures).map(([k, v]) => `${k} ${(v.at(-1) ?? 0).toFixed(k.endsWith('ms') ? 2 : 0)}`).join(', ')}`);
  }
  const medians = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Number(median(v).toFixed(2))]));
  if (values.json) process.stdout.write(`${JSON.stringify({ connections: CONNECTIONS, queries: QUERIES, rounds: ROUNDS, medians, figures }, null, 2)}\n`);
  else for (const [key, value] of Object.entries(medians)) process.stdout.write(`${key.padEnd(40)} ${value}\n`);
} finally {
  for (const { dataDir } of clusters) await down({ dataDir }).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
}

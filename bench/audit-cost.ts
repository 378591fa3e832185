/**
 * What the roles and the audit trail cost, measured on a cluster of its own:
 *
 *   npx tsx bench/audit-cost.ts [--queries 1000] [--rows 5000] [--pgbench-seconds 10]
 *
 * - log volume: bytes the server writes (server.log + server.json) per 1000 queries of the app
 *   role, with statement logging of its reads on (`roles apply`'s default) and off
 *   (`--no-audit-reads`), and per connection (log_connections / log_disconnections);
 * - the audit trigger: single-row INSERTs (one transaction each) and one 5000-row INSERT, with the
 *   trigger and with it disabled; pgbench INSERT tps both ways when pgbench is installed; the audit
 *   table's bytes per recorded row;
 * - `roles apply` on an existing cluster (nothing to change), median of 5.
 *
 * Prints one JSON document. Not part of `npm run bench` (yet): run it on its own.
 */
import { spawn } from 'node:child_process';
import { stat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Sql } from 'postgres';
import { connect } from '../src/db/connect.ts';
import { localLayout } from '../src/local/layout.ts';
import { localUrl } from '../src/local/state.ts';
import { applyLocalRoles } from '../src/stack/roles.ts';
import { freePort } from '../src/platform/port.ts';
import { down, up } from '../src/stack/up.ts';
import { reachableDir } from './dirs.ts';
import { benchCipher, insertSealedUsers } from './sealed-users.ts';

const { values } = parseArgs({ options: { queries: { type: 'string', default: '1000' }, rows: { type: 'string', default: '5000' }, 'pgbench-seconds': { type: 'string', default: '10' } } });
const QUERIES = Number(values.queries);
const ROWS = Number(values.rows);
const PGBENCH_SECONDS = Number(values['pgbench-seconds']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

const root = await reachableDir('jeex-bench-audit-');
const dataDir = join(root, 'db');
const layout = localLayout(dataDir);
const logBytes = async () => (await stat(layout.serverLog)).size + (await stat(join(layout.logDir, 'server.json')).catch(() => ({ size: 0 }))).size;
/** The log's growth while `work` runs (the collector writes within moments: wait for it to settle). */
async function logged(work: () => Promise<void>): Promise<number> {
  await sleep(300);
  const before = await logBytes();
  await work();
  let after = await logBytes();
  for (let i = 0; i < 20; i++) {
    await sleep(150);
    const now = await logBytes();
    if (now === after) break;
    after = now;
  }
  return after - before;
}

function pgbench(url: string, script: string, seconds: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const child = spawn('pgbench', ['-n', '-c', '2', '-j', '2', '-T', String(seconds), '-f', '-', url], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', () => resolve(undefined));
    child.on('close', () => resolve(Number(/tps = ([\d.]+)/.exec(out)?.[1]) || undefined));
    child.stdin.end(script);
  });
}

try {
  await up({ dataDir, port: await freePort(), memoryBytes: 1024 ** 3, pooler: false, startTimeoutSeconds: 60 });
  const appUrl = localUrl(layout, 'app', { direct: true }) ?? '';
  const admin = connect(localUrl(layout, 'superuser', { database: 'jeex' }) ?? '', { max: 1, onnotice: () => {} });
  // Users' email and name are sealed by the application (SEC-001): seed one with the cluster's keys.
  const [id = ''] = await insertSealedUsers(admin, benchCipher(dataDir), [{ email: 'bench@example.com', name: 'Bench' }]);

  // 1. Log volume of the app role's queries, statement logging on and off.
  const volume = async () => {
    const sql = connect(appUrl, { max: 1, onnotice: () => {} });
    await sql`SELECT 1`; // connected before measuring
    let ms = 0;
    const bytes = await logged(async () => {
      const started = performance.now();
      for (let i = 0; i < QUERIES; i++) await sql`SELECT id, created_at FROM users WHERE id = ${id}`;
      ms = performance.now() - started;
    });
    await sql.end();
    return { bytes, ms };
  };
  const connections = async () =>
    logged(async () => {
      for (let i = 0; i < 100; i++) {
        const sql = connect(appUrl, { max: 1, onnotice: () => {} });
        await sql`SELECT 1`;
        await sql.end();
      }
    });
  await applyLocalRoles({ dataDir, flags: { auditReads: true } });
  const readsOn = await volume();
  const connectionsOn = await connections();
  await applyLocalRoles({ dataDir, flags: { auditReads: false } });
  const readsOff = await volume();
  const connectionsOff = await connections();
  await applyLocalRoles({ dataDir, flags: { auditReads: true } });

  // 2. The audit trigger.
  const app = connect(appUrl, { max: 1, onnotice: () => {} });
  // Measured on projects (plain columns, so plain SQL and pgbench can insert them): the same
  // trigger function as on every audited table.
  const setTrigger = (on: boolean) => admin.unsafe(`ALTER TABLE projects ${on ? 'ENABLE' : 'DISABLE'} TRIGGER projects_audit`);
  let n = 0;
  const singles = async (sql: Sql) => {
    const started = performance.now();
    for (let i = 0; i < ROWS; i++) await sql`INSERT INTO projects (name, created_by) VALUES (${`Single ${n++}`}, ${id})`;
    return performance.now() - started;
  };
  const batch = async (sql: Sql) => {
    const started = performance.now();
    await sql`INSERT INTO projects (name, created_by) SELECT 'Batch ' || ${n++} || '-' || g, ${id}::uuid FROM generate_series(1, ${ROWS}) g`;
    return performance.now() - started;
  };
  const trigger: Record<'on' | 'off', { singleMs: number[]; batchMs: number[] }> = { on: { singleMs: [], batchMs: [] }, off: { singleMs: [], batchMs: [] } };
  for (let round = 0; round < 3; round++) {
    for (const state of ['on', 'off'] as const) {
      await setTrigger(state === 'on');
      trigger[state].singleMs.push(await singles(app));
      trigger[state].batchMs.push(await batch(app));
    }
  }
  await setTrigger(true);
  const [size] = await admin<{ rows: number; bytes: number }[]>`
    SELECT (SELECT count(*) FROM jeex_audit.changes)::float8 AS rows, pg_total_relation_size('jeex_audit.changes')::float8 AS bytes`;
  // pgbench with synchronous_commit off: without a WAL flush per commit, the run measures the
  // CPU the trigger costs rather than the disk's fsync latency. Alternated, twice each.
  let pgbenchTps: { on: number[]; off: number[] } | undefined;
  const script = `INSERT INTO projects (name, created_by) VALUES ('Pgbench', '${id}');\n`;
  const asyncUrl = `${appUrl}?options=${encodeURIComponent('-c synchronous_commit=off')}`;
  for (let round = 0; round < 2; round++) {
    for (const state of ['on', 'off'] as const) {
      await setTrigger(state === 'on');
      const tps = await pgbench(asyncUrl, script, PGBENCH_SECONDS);
      if (tps === undefined) break;
      pgbenchTps ??= { on: [], off: [] };
      pgbenchTps[state].push(Math.round(tps));
    }
  }
  await setTrigger(true);
  await app.end();
  await admin.end();

  // 3. roles apply with nothing to change.
  const applyMs: number[] = [];
  for (let i = 0; i < 5; i++) applyMs.push((await applyLocalRoles({ dataDir })).durationMs);

  const perRow = (ms: number[]) => Math.round((median(ms) / ROWS) * 1000);
  process.stdout.write(
    `${JSON.stringify(
      {
        logVolume: {
          queries: QUERIES,
          bytesPer1000Queries: { auditReadsOn: Math.round((readsOn.bytes / QUERIES) * 1000), auditReadsOff: Math.round((readsOff.bytes / QUERIES) * 1000) },
          msFor1000Queries: { auditReadsOn: Math.round((readsOn.ms / QUERIES) * 1000), auditReadsOff: Math.round((readsOff.ms / QUERIES) * 1000) },
          bytesPerConnection: { auditReadsOn: Math.round(connectionsOn / 100), auditReadsOff: Math.round(connectionsOff / 100) },
        },
        auditTrigger: {
          rows: ROWS,
          singleInsertsMedianMs: { on: Math.round(median(trigger.on.singleMs)), off: Math.round(median(trigger.off.singleMs)) },
          singleInsertUsPerRow: { on: perRow(trigger.on.singleMs), off: perRow(trigger.off.singleMs) },
          batchInsertMedianMs: { on: Math.round(median(trigger.on.batchMs)), off: Math.round(median(trigger.off.batchMs)) },
          batchUsPerRow: { on: perRow(trigger.on.batchMs), off: perRow(trigger.off.batchMs) },
          auditBytesPerRow: Math.round((size?.bytes ?? 0) / Math.max(1, size?.rows ?? 1)),
          ...(pgbenchTps ? { pgbenchInsertTps2ClientsAsyncCommit: pgbenchTps } : {}),
        },
        rolesApplyNoChangeMs: { median: median(applyMs), runs: applyMs },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await down({ dataDir }).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
}

/**
 * `npm run bench -- --only failover [--duration S] [--clients N]`: issue #15's failover figures on
 * one machine, with real processes: a primary (with PgBouncer) and a hot standby made by
 * `createStandby`; insert throughput asynchronous vs synchronous (quorum of one); then kill -9 of
 * every process of the primary while a writer inserts through PgBouncer, `promote`, and: the time
 * from the kill to the first acknowledged write (target: within 2 s of promote starting), the
 * acknowledged rows lost (sync, async, async with a 2 s walsender stall), and the re-seed time.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '../src/db/connect.ts';
import { localLayout } from '../src/local/layout.ts';
import { localUrl } from '../src/local/state.ts';
import { freePort } from '../src/platform/port.ts';
import { addSynchronousStandby } from '../src/ops/ha/sync.ts';
import { createStandby } from '../src/stack/standby.ts';
import { promote } from '../src/stack/promote.ts';
import { down, up } from '../src/stack/up.ts';
import { killCluster, startWriter } from '../test/helpers/failover.ts';
import { reachableDir } from './dirs.ts';

export interface FailoverRun {
  mode: 'sync' | 'async' | 'async, 2 s walsender stall';
  acknowledged: number;
  lost: number;
  /** kill -9 -> promote() returned. */
  killToPromotedMs: number;
  /** pg_ctl promote alone. */
  promoteMs: number;
  /** kill -9 -> the first write acknowledged through the same URL (promote starts right after the kill: detection is the HA engine's). */
  killToFirstWriteMs: number | null;
}

export interface FailoverFigures {
  clients: number;
  durationS: number;
  insertsPerSecond: { async: number; sync: number; syncCostPercent: number };
  runs: FailoverRun[];
  reseed: { ms: number; bytes: number }[];
  targetMs: number;
}

const superuser = (dir: string) => connect(localUrl(localLayout(dir), 'superuser', { database: 'jeex' }) ?? '', { max: 1, onnotice: () => {} });

/** `clients` connections inserting as fast as they go for `seconds`: inserts/s. */
async function insertRate(url: string, clients: number, seconds: number, firstId: number): Promise<number> {
  const sql = connect(url, { max: clients, onnotice: () => {} });
  let next = firstId;
  let done = 0;
  const until = performance.now() + seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < until) {
          await sql`INSERT INTO drill (id) VALUES (${next++})`;
          done++;
        }
      }),
    );
  } finally {
    await sql.end();
  }
  return done / seconds;
}

async function countMissing(dir: string, ids: number[]): Promise<number> {
  const sql = superuser(dir);
  try {
    const present = new Set((await sql<{ id: string }[]>`SELECT id FROM drill WHERE id = ANY(${ids})`).map((r) => Number(r.id)));
    return ids.filter((id) => !present.has(id)).length;
  } finally {
    await sql.end();
  }
}

async function pgdataBytes(dir: string): Promise<number> {
  const sql = superuser(dir);
  try {
    const [row] = await sql<{ bytes: string }[]>`SELECT sum(pg_database_size(oid))::text AS bytes FROM pg_database`;
    return Number(row?.bytes ?? 0);
  } finally {
    await sql.end();
  }
}

export async function benchFailover(options: { clients: number; durationS: number }, log: (line: string) => void): Promise<FailoverFigures> {
  const root = await reachableDir('jeex-bench-failover-');
  const [x, y] = [join(root, 'a'), join(root, 'b')];
  const small = { memoryBytes: 1024 * 2 ** 20, cpus: 2 } as const;
  const runs: FailoverRun[] = [];
  const reseed: FailoverFigures['reseed'] = [];
  let nextId = 1;
  try {
    const a = await up({ dataDir: x, port: await freePort(), ...small });
    const sql = superuser(x);
    await sql`CREATE TABLE drill (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`;
    await sql`GRANT SELECT, INSERT ON drill TO jeex_app`;
    await sql.end();
    const b = await createStandby({ dataDir: y, from: x, port: await freePort() });
    log(`failover: primary ${a.port}, standby ${b.port} (seeded in ${(b.durationMs / 1000).toFixed(1)} s)`);

    const asyncRate = await insertRate(a.urls.appDirect ?? a.urls.app, options.clients, options.durationS, nextId);
    nextId += 10_000_000;
    const admin = superuser(x);
    await addSynchronousStandby(admin, b.name);
    await admin.end();
    const syncRate = await insertRate(a.urls.appDirect ?? a.urls.app, options.clients, options.durationS, nextId);
    nextId += 10_000_000;
    log(`failover: inserts/s with ${options.clients} clients: async ${asyncRate.toFixed(0)}, sync ${syncRate.toFixed(0)}`);

    // Each run: the writer goes through `url`; kill -9 of `primary`; promote `standby`; then the
    // old primary is re-seeded as the new one's standby (the roles swap for the next run).
    const failover = async (mode: FailoverRun['mode'], primary: string, standby: string, url: string): Promise<void> => {
      if (mode !== 'sync') {
        const p = superuser(primary);
        await p`ALTER SYSTEM RESET synchronous_standby_names`;
        await p`SELECT pg_reload_conf()`;
        if (mode === 'async, 2 s walsender stall') {
          const [row] = await p<{ pid: number }[]>`SELECT pid FROM pg_stat_replication`;
          if (row) {
            process.kill(row.pid, 'SIGSTOP');
            setTimeout(() => {
              try {
                process.kill(row.pid, 'SIGCONT');
              } catch {
                // killed with the primary already
              }
            }, 2500).unref();
          }
        }
        await p.end();
      }
      const w = startWriter(url, nextId);
      nextId += 10_000_000;
      await new Promise((r) => setTimeout(r, 2000));
      killCluster(primary);
      const killedAt = Date.now();
      const promoted = await promote({ dataDir: standby });
      const promotedAt = Date.now();
      await new Promise((r) => setTimeout(r, 2000));
      await w.stop();
      const before = w.ackedBefore(killedAt);
      const first = w.firstWriteAfter(killedAt);
      const run: FailoverRun = {
        mode,
        acknowledged: before.length,
        lost: await countMissing(standby, before),
        killToPromotedMs: promotedAt - killedAt,
        promoteMs: Math.round(promoted.promoteMs),
        killToFirstWriteMs: first ?? null,
      };
      runs.push(run);
      log(`failover (${mode}): ${run.acknowledged} acknowledged before the kill, ${run.lost} lost; kill -> promoted ${run.killToPromotedMs} ms (pg_ctl promote ${run.promoteMs} ms), kill -> first write ${run.killToFirstWriteMs ?? 'none'} ms`);
      const began = Date.now();
      await createStandby({ dataDir: primary, from: standby, reseed: true });
      reseed.push({ ms: Date.now() - began, bytes: await pgdataBytes(standby) });
      log(`failover: re-seeded the old primary in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    };
    // Through the old primary's PgBouncer, which promote points at the new primary.
    await failover('sync', x, y, a.urls.app);
    await failover('async', y, x, b.up.urls.app);
    await failover('async, 2 s walsender stall', x, y, a.urls.app);
    return {
      clients: options.clients,
      durationS: options.durationS,
      insertsPerSecond: { async: asyncRate, sync: syncRate, syncCostPercent: (1 - syncRate / asyncRate) * 100 },
      runs,
      reseed,
      targetMs: 2000,
    };
  } finally {
    for (const dir of [x, y]) await down({ dataDir: dir }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

export function describeFailover(f: FailoverFigures): string[] {
  return [
    `failover: sync costs ${f.insertsPerSecond.syncCostPercent.toFixed(0)}% of insert throughput (${f.insertsPerSecond.async.toFixed(0)} -> ${f.insertsPerSecond.sync.toFixed(0)} inserts/s, ${f.clients} clients)`,
    ...f.runs.map(
      (r) =>
        `failover ${r.mode.padEnd(26)} lost ${String(r.lost).padStart(6)} of ${r.acknowledged}; kill -> first write ${r.killToFirstWriteMs ?? '-'} ms ${r.killToFirstWriteMs !== null && r.killToFirstWriteMs <= f.targetMs ? 'PASS' : 'FAIL'} (<= ${f.targetMs} ms)`,
    ),
    `failover: re-seed ${f.reseed.map((r) => `${(r.ms / 1000).toFixed(1)} s`).join(', ')} (${((f.reseed[0]?.bytes ?? 0) / 2 ** 20).toFixed(0)} MiB of databases)`,
  ];
}

/** Passed: the synchronous run lost nothing, and every run wrote again within the target. */
export function failoverPassed(f: FailoverFigures): boolean {
  return f.runs.every((r) => r.killToFirstWriteMs !== null && r.killToFirstWriteMs <= f.targetMs) && f.runs.filter((r) => r.mode === 'sync').every((r) => r.lost === 0);
}

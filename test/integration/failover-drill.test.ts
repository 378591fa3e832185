import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JeexDbError } from '../../src/core/errors.ts';
import { connect } from '../../src/db/connect.ts';
import { createDb } from '../../src/db/create-db.ts';
import { localLayout } from '../../src/local/layout.ts';
import { readReplication } from '../../src/local/replication.ts';
import { localUrl } from '../../src/local/state.ts';
import { createStandby, type StandbyResult } from '../../src/stack/standby.ts';
import { promote } from '../../src/stack/promote.ts';
import { down, up, type UpResult } from '../../src/stack/up.ts';
import { reachableTempDir } from '../helpers/cli.ts';
import { killCluster, startWriter } from '../helpers/failover.ts';
import { freeClusterPort } from '../helpers/ports.ts';
import { skipOrFail } from '../helpers/skip.ts';

// The failover drill of docs/ha.md with real processes: a primary with PgBouncer, a hot standby
// seeded by `createStandby`, a writer that records every acknowledged id, kill -9 of every process
// of the primary, `promote`, and the old primary kept from coming back as a second primary.

let root: string;
let a: UpResult;
let b: StandbyResult;
const dirs = () => [join(root, 'a'), join(root, 'b')];
const small = { memoryBytes: 512 * 2 ** 20, cpus: 2 } as const;

const superuser = (dir: string) => connect(localUrl(localLayout(dir), 'superuser', { database: 'jeex' }) ?? '', { max: 1, onnotice: () => {} });

async function ids(dir: string): Promise<Set<number>> {
  const sql = superuser(dir);
  try {
    return new Set((await sql<{ id: string }[]>`SELECT id FROM drill`).map((row) => Number(row.id)));
  } finally {
    await sql.end();
  }
}

async function expectCode(work: Promise<unknown>, code: string): Promise<JeexDbError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(JeexDbError);
  expect((error as JeexDbError).code).toBe(code);
  return error as JeexDbError;
}

describe('failover drill: standby, kill -9 of the primary, promote, the old primary re-seeded', () => {
  beforeAll(async () => {
    root = await reachableTempDir('jeex-drill-');
    const [portA, portB] = [await freeClusterPort(), await freeClusterPort()];
    a = await up({ dataDir: join(root, 'a'), port: portA, ...small });
    const sql = superuser(join(root, 'a'));
    try {
      await sql`CREATE TABLE drill (id bigint PRIMARY KEY)`;
      await sql`GRANT SELECT, INSERT ON drill TO jeex_app`;
    } finally {
      await sql.end();
    }
    b = await createStandby({ dataDir: join(root, 'b'), from: join(root, 'a'), port: portB === portA ? portA + 1 : portB, sync: true });
  }, 120_000);

  afterAll(async () => {
    for (const dir of dirs()) await down({ dataDir: dir }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('seeds a hot standby that streams over TLS as jeex_replicator, in the synchronous quorum', async () => {
    expect(b.how).toBe('seeded');
    expect(b.streaming.status).toBe('streaming');
    expect(b.sync?.after).toBe(`ANY 1 ("${b.name}")`);
    expect(b.up.replication?.role).toBe('standby');
    const sql = superuser(join(root, 'a'));
    try {
      const [row] = await sql<{ usename: string; ssl: boolean; version: string; sync_state: string }[]>`
        SELECT r.usename, s.ssl, s.version, r.sync_state FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = ${b.name}`;
      expect(row).toEqual({ usename: 'jeex_replicator', ssl: true, version: 'TLSv1.3', sync_state: 'quorum' });
    } finally {
      await sql.end();
    }
    const standby = superuser(join(root, 'b'));
    try {
      const [row] = await standby<{ recovery: boolean }[]>`SELECT pg_is_in_recovery() AS recovery`;
      expect(row?.recovery).toBe(true);
      await expect(standby`INSERT INTO drill VALUES (0)`).rejects.toThrow(/read-only/);
    } finally {
      await standby.end();
    }
  });

  it('sync: kill -9 of the whole primary loses no acknowledged id; after promote the same PgBouncer URL writes to the new primary', async (ctx) => {
    if (a.pooler.status === 'absent' || a.pooler.status === 'disabled') skipOrFail(ctx, `no PgBouncer: ${a.pooler.reason ?? a.pooler.status}`);
    // What a service would configure: both servers, the primary whichever it is.
    const direct = new URL(a.urls.appDirect ?? a.urls.app);
    const multiHost = `${direct.protocol}//${direct.username}:${direct.password}@127.0.0.1:${a.port},127.0.0.1:${b.port}${direct.pathname}${direct.search}&target_session_attrs=read-write`;
    const service = createDb({ url: multiHost, failoverWindow: 10_000 });
    const port = async () => (await service.sql<{ port: number }[]>`SELECT inet_server_port() AS port`)[0]?.port;
    expect(await port()).toBe(a.port);
    const writer = startWriter(a.urls.app);
    await new Promise((r) => setTimeout(r, 1500));
    killCluster(join(root, 'a'));
    const killedAt = Date.now();
    const promoted = await promote({ dataDir: join(root, 'b') });
    await new Promise((r) => setTimeout(r, 1500));
    await writer.stop();
    expect(promoted.timeline).toBe(2);
    expect(promoted.repointed.map((r) => r.status)).toContain('reloaded');
    const onB = await ids(join(root, 'b'));
    const confirmed = writer.ackedBefore(killedAt);
    expect(confirmed.length).toBeGreaterThan(50);
    const lost = writer.acked.map((ack) => ack.id).filter((id) => !onB.has(id));
    expect(lost, `acknowledged ids missing on the new primary`).toEqual([]);
    // The writer went on through the old primary's PgBouncer, now pointed at the new primary.
    const firstWrite = writer.firstWriteAfter(killedAt);
    expect(firstWrite, 'a write sent after the kill, acknowledged through the same PgBouncer').toBeDefined();
    console.log(`drill (sync): ${confirmed.length} acknowledged before the kill, 0 lost, promote ${Math.round(promoted.promoteMs)} ms, kill -> first acknowledged write ${firstWrite ?? '-'} ms`);
    expect(readReplication(localLayout(join(root, 'a')))?.role).toBe('superseded');
    // The multi-host URL finds the new primary (the old one's port refuses now) and writes there.
    try {
      expect(await port()).toBe(b.port);
      await service.sql`INSERT INTO drill (id) VALUES (${9_000_000})`;
    } finally {
      await service.close();
    }
  }, 60_000);

  it('the old primary is refused as a primary and re-seeded as a standby of the new one', async () => {
    await expectCode(up({ dataDir: join(root, 'a'), ...small }), 'CLUSTER_SUPERSEDED');
    const reseeded = await createStandby({ dataDir: join(root, 'a'), from: join(root, 'b'), reseed: true });
    expect(reseeded.how).toBe('reseeded');
    expect(reseeded.streaming.status).toBe('streaming');
    const onA = await ids(join(root, 'a'));
    const onB = await ids(join(root, 'b'));
    expect(onA.size).toBe(onB.size);
  }, 90_000);

  it('async: a primary killed while its walsender stalls diverges; its standby is refused until re-seeded', async () => {
    // Now B is the primary, A its (asynchronous) standby. Stall B's walsender, write, kill B.
    const b2 = superuser(join(root, 'b'));
    let walsender: number;
    try {
      await b2`ALTER SYSTEM RESET synchronous_standby_names`;
      await b2`SELECT pg_reload_conf()`;
      const [row] = await b2<{ pid: number }[]>`SELECT pid FROM pg_stat_replication`;
      walsender = row?.pid ?? 0;
    } finally {
      await b2.end();
    }
    expect(walsender).toBeGreaterThan(0);
    process.kill(walsender, 'SIGSTOP');
    const writer = startWriter(b.up.urls.appDirect ?? b.up.urls.app, 1_000_000);
    await new Promise((r) => setTimeout(r, 1000));
    await writer.stop();
    killCluster(join(root, 'b'));
    const promoted = await promote({ dataDir: join(root, 'a') });
    expect(promoted.timeline).toBe(3);
    const onA = await ids(join(root, 'a'));
    const lost = writer.acked.map((ack) => ack.id).filter((id) => !onA.has(id));
    expect(writer.acked.length, `writes during the stall (${writer.failed} failed)`).toBeGreaterThan(50);
    expect(lost.length, 'rows acknowledged during the stall are not on the standby').toBeGreaterThan(0);
    console.log(`drill (async, 1 s walsender stall): ${writer.acked.length} acknowledged, ${lost.length} lost`);

    // B wrote past the point where A's timeline 3 left timeline 2: it must not follow A.
    const diverged = await expectCode(createStandby({ dataDir: join(root, 'b'), from: join(root, 'a') }), 'STANDBY_DIVERGED');
    expect(diverged.hint).toContain('--reseed');
    expect(diverged.message).toMatch(/past [0-9A-F]+\/[0-9A-F]+ where the primary left timeline 2/);
    await expectCode(up({ dataDir: join(root, 'b'), ...small }), 'CLUSTER_SUPERSEDED');
    const reseeded = await createStandby({ dataDir: join(root, 'b'), from: join(root, 'a'), reseed: true });
    expect(reseeded.streaming.status).toBe('streaming');
    const onB = await ids(join(root, 'b'));
    expect(onB.size).toBe(onA.size);
    expect(writer.acked.filter((ack) => onB.has(ack.id) && !onA.has(ack.id))).toEqual([]);
  }, 90_000);
});

import { copyFile, mkdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type postgres from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, inject, it, type TestContext } from 'vitest';
import { backupRepo, defaultRepo } from '../../src/ops/backup/repo.ts';
import { archiveStatus, checkWalContinuity, listWalArchive, walFileForLsn, walSegmentSize } from '../../src/ops/backup/wal.ts';
import { checkHealth } from '../../src/ops/health/check-health.ts';
import { localLayout } from '../../src/local/layout.ts';
import { freePort } from '../../src/platform/port.ts';
import { down, up, type UpResult } from '../../src/stack/up.ts';
import { reachableTempDir } from '../helpers/cli.ts';
import { skipOrFail } from '../helpers/skip.ts';

const CLUSTER_TIMEOUT = 120_000;

/** Poll `probe` until it returns something truthy, or fail saying what was awaited. */
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Write a WAL record (a logical message touches no table) and switch: the segment it is in is finished. */
async function finishSegment(sql: postgres.Sql): Promise<string> {
  const [row] = await sql<{ file: string }[]>`
    SELECT pg_walfile_name(pg_switch_wal()) AS file FROM (SELECT pg_logical_emit_message(false, 'jeex-test', 'wal-archive')) AS written`;
  if (!row) throw new Error('pg_switch_wal() returned no row');
  return row.file;
}

describe('WAL archive of the run’s server', () => {
  const server = inject('testServer');
  let sql: postgres.Sql;
  let scratch: string | undefined;

  beforeAll(() => {
    sql = connect(server.adminUrl, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await sql.end({ timeout: 5 });
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });
  const archiveDir = (ctx: TestContext): string =>
    server.walArchive ?? skipOrFail(ctx, `the test server (${server.source}) was not started by jeex-db up: no archive directory to look at`);

  it('names WAL files like pg_walfile_name() for several LSNs', async () => {
    const segSize = await walSegmentSize(sql);
    const lsns = ['0/0', '0/1', '0/FFFFFF', '0/1000000', '0/1000001', '0/FFFFFFFF', '1/0', '16/B374D848', 'A/0', 'FF/FF000000', '1234/5678ABCD'];
    const [{ timeline } = { timeline: 0 }] = await sql<{ timeline: number }[]>`SELECT timeline_id AS timeline FROM pg_control_checkpoint()`;
    for (const lsn of lsns) {
      const [row] = await sql<{ file: string; offset: string }[]>`
        SELECT pg_walfile_name(${lsn}::pg_lsn) AS file, (pg_walfile_name_offset(${lsn}::pg_lsn)).file_name AS offset`;
      expect(walFileForLsn(lsn, timeline, segSize), lsn).toBe(row?.file);
      expect(walFileForLsn(lsn, timeline, segSize), lsn).toBe(row?.offset);
    }
    const [current] = await sql<{ lsn: string; file: string }[]>`
      SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS file FROM pg_current_wal_insert_lsn() AS lsn`;
    expect(walFileForLsn(current?.lsn ?? '', timeline, segSize)).toBe(current?.file);
  });

  it('archives a switched segment within seconds, continuously; a deleted segment in a copy is detected', async (ctx) => {
    const dir = archiveDir(ctx);
    const [settings] = await sql<{ mode: string; library: string; timeout: string }[]>`
      SELECT current_setting('archive_mode') AS mode, current_setting('archive_library') AS library, current_setting('archive_timeout') AS timeout`;
    expect(settings).toEqual({ mode: 'on', library: 'basic_archive', timeout: '1min' });

    const files = [await finishSegment(sql), await finishSegment(sql), await finishSegment(sql)];
    for (const file of files) await until(`${file} in ${dir}`, () => exists(join(dir, file)));
    const status = await archiveStatus(sql);
    expect(status.failing).toBe(false);
    expect(status.archivedCount).toBeGreaterThanOrEqual(3);

    const repo = backupRepo(join(dir, '..'));
    const listing = await listWalArchive(repo);
    expect(listing.segments).toEqual(expect.arrayContaining(files));
    const first = listing.segments[0] ?? '';
    const whole = await checkWalContinuity(repo, first);
    expect(whole).toMatchObject({ ok: true, missing: [], timeline: 1 });
    expect(whole.newest !== undefined && whole.newest >= (files[2] ?? '')).toBe(true);

    // A copy of the archive from the first of our segments to the last, with the middle one gone.
    scratch = await reachableTempDir('jeex-wal-copy-');
    const copy = backupRepo(scratch);
    await mkdir(copy.wal, { recursive: true });
    for (const file of listing.segments.filter((name) => name >= (files[0] ?? '') && name <= (files[2] ?? ''))) {
      await copyFile(join(dir, file), join(copy.wal, file));
    }
    expect(await checkWalContinuity(copy, files[0] ?? '')).toMatchObject({ ok: true, newest: files[2] });
    const gone = (await listWalArchive(copy)).segments[1] ?? '';
    await unlink(join(copy.wal, gone));
    expect(await checkWalContinuity(copy, files[0] ?? '')).toMatchObject({ ok: false, missing: [gone], newest: files[2] });
    // The live archive is untouched.
    expect(await exists(join(dir, gone))).toBe(true);
  });
});

describe('WAL archive of a dedicated cluster: restart note, identical and conflicting segments', () => {
  let root: string;
  let dataDir: string;
  let result: UpResult;
  let sql: postgres.Sql | undefined;
  const start = async () => up({ dataDir, port: result?.port ?? (await freePort()), memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false, startTimeoutSeconds: 60 });

  beforeAll(async () => {
    root = await reachableTempDir('jeex-wal-cluster-');
    dataDir = join(root, 'db');
  }, CLUSTER_TIMEOUT);
  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    if (dataDir) await down({ dataDir }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('reports a running server without archiving instead of restarting it, and archives after the next start', async () => {
    // A cluster that runs without archiving, as one started by an older jeex-db would.
    const layout = localLayout(dataDir);
    await mkdir(layout.pgdata, { recursive: true });
    result = await start();
    expect(result.walArchive).toMatchObject({ status: 'on', dir: defaultRepo(layout).wal });
    await down({ dataDir });
    await writeFile(join(layout.pgdata, 'postgresql.local.conf'), 'archive_mode = off\n');
    result = await start();
    expect(result.walArchive).toMatchObject({ status: 'overridden', archiveMode: 'off' });
    expect(result.notes).toContainEqual(expect.stringContaining('overrides archive_mode'));
    const pid = result.pid;
    await unlink(join(layout.pgdata, 'postgresql.local.conf'));

    result = await start();
    expect(result.status).toBe('already-running');
    expect(result.pid).toBe(pid);
    expect(result.walArchive).toMatchObject({ status: 'restart-needed', archiveMode: 'off' });
    expect(result.notes).toContainEqual(expect.stringMatching(/already running without WAL archiving.*not restarted.*jeex-db down/));

    await down({ dataDir });
    result = await start();
    expect(result.status).toBe('started');
    expect(result.walArchive).toMatchObject({ status: 'on', archiveMode: 'on', archiveLibrary: 'basic_archive', archiveTimeout: '1min' });
    expect(result.notes).toBeUndefined();
    sql = connect(result.urls.superuser ?? '', { max: 1, onnotice: () => {} });
  }, CLUSTER_TIMEOUT);

  it('accepts an identical segment again, refuses a different one (failed_count, health fails) and recovers when it is gone', async () => {
    if (!sql) throw new Error('the cluster did not start');
    const db = sql;
    const layout = localLayout(dataDir);
    const repo = defaultRepo(layout);
    const serverLog = () => readFile(layout.serverLog, 'utf8');

    // Identical: archive a segment, then mark it ready again, as after a crash between the copy
    // and the server noting it. basic_archive finds the same bytes and reports success (its
    // message about it is at DEBUG3, so the counters are the evidence).
    const segment = await finishSegment(db);
    await until(`${segment} archived`, async () => (await archiveStatus(db)).lastArchivedWal === segment && (await exists(join(repo.wal, segment))));
    const archived = await readFile(join(repo.wal, segment));
    const statusDir = join(layout.pgdata, 'pg_wal', 'archive_status');
    expect(await exists(join(layout.pgdata, 'pg_wal', segment)), `${segment} is still in pg_wal`).toBe(true);
    const before = await archiveStatus(db);
    await rename(join(statusDir, `${segment}.done`), join(statusDir, `${segment}.ready`));
    const next = await finishSegment(db); // wakes the archiver: it finds both .ready files
    await until('both segments archived', async () => (await archiveStatus(db)).lastArchivedWal === next);
    const after = await archiveStatus(db);
    expect(after.archivedCount).toBe(before.archivedCount + 2);
    expect(after.failedCount).toBe(before.failedCount);
    expect((await readFile(join(repo.wal, segment))).equals(archived)).toBe(true);

    // Different: a file of another cluster under the name of the segment being written now.
    const [current] = await db<{ file: string }[]>`
      SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS file FROM (SELECT pg_logical_emit_message(false, 'jeex-test', 'x')) AS written`;
    const conflicting = current?.file ?? '';
    const foreign = Buffer.from('not this cluster’s WAL\n');
    await writeFile(join(repo.wal, conflicting), foreign, { mode: 0o644 });
    const beforeConflict = await archiveStatus(db);
    expect(await finishSegment(db)).toBe(conflicting);
    const failing = await until('the archiver to refuse the segment', async () => {
      const status = await archiveStatus(db);
      return status.failedCount > beforeConflict.failedCount ? status : undefined;
    });
    expect(failing).toMatchObject({ failing: true, lastFailedWal: conflicting, lastArchivedWal: next });
    expect((await readFile(join(repo.wal, conflicting))).equals(foreign)).toBe(true);
    expect(await serverLog()).toContain(`archive file "${join(repo.wal, conflicting)}" already exists`);
    const doc = await checkHealth(db, { env: {} });
    expect(doc.checks['postgresql:archiveFailures']?.[0]).toMatchObject({ status: 'fail', observedValue: failing.failedCount });
    expect(doc.status).toBe('fail');
    expect((await checkWalContinuity(repo, segment)).missing).toEqual([]);

    // The foreign file removed, the next wake-up archives the real segment and health passes.
    await unlink(join(repo.wal, conflicting));
    const later = await finishSegment(db);
    const recovered = await until('archiving to recover', async () => {
      const status = await archiveStatus(db);
      return status.lastArchivedWal === later ? status : undefined;
    });
    expect(recovered.failing).toBe(false);
    expect((await readFile(join(repo.wal, conflicting))).equals(foreign)).toBe(false);
    const healthy = await checkHealth(db, { env: {} });
    expect(healthy.checks['postgresql:archiveFailures']?.[0]).toMatchObject({ status: 'pass' });
    expect(await checkWalContinuity(repo, segment)).toMatchObject({ ok: true, missing: [], newest: later });
  }, CLUSTER_TIMEOUT);
});

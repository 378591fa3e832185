import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type postgres from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { withDatabase } from '../helpers/urls.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBaseBackup } from '../../src/ops/backup/base-backup.ts';
import { defaultRepo, type BackupRepo } from '../../src/ops/backup/repo.ts';
import { restoreBackup } from '../../src/ops/backup/restore.ts';
import { localLayout } from '../../src/local/layout.ts';
import { localUrl, readLocalState } from '../../src/local/state.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { freePort } from '../../src/platform/port.ts';
import { down, up } from '../../src/stack/up.ts';
import { reachableTempDir } from '../helpers/cli.ts';
import { insertUser, readUsers } from '../helpers/users.ts';

// The recovery point: with archive_timeout = T, a crash that takes the whole data directory
// (pg_wal included) loses at most the commits of the last T seconds; everything older is in the
// archive and comes back with `restore --latest`. The default is 60 s; the test sets 2 s.

const CLUSTER_TIMEOUT = 180_000;
const ARCHIVE_TIMEOUT_S = 2;

describe('recovery point objective: archive_timeout bounds what a crash can lose', () => {
  let root: string;
  let dataDir: string;
  let repo: BackupRepo;
  let sql: postgres.Sql;

  beforeAll(async () => {
    root = await reachableTempDir('jeex-rpo-');
    dataDir = join(root, 'db');
    await up({ dataDir, port: await freePort(), memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });
    const layout = localLayout(dataDir);
    repo = defaultRepo(layout);
    sql = connect(localUrl(layout, 'superuser', { database: readLocalState(layout)?.database ?? 'jeex' }) ?? '', { max: 2, onnotice: () => {} });
    const [setting] = await sql<{ value: string }[]>`SELECT current_setting('archive_timeout') AS value`;
    expect(setting?.value).toBe('1min'); // the default `up` configures
    await sql.unsafe(`ALTER SYSTEM SET archive_timeout = '${ARCHIVE_TIMEOUT_S}s'`);
    await sql`SELECT pg_reload_conf()`;
    await takeBaseBackup(sql, { repo, fast: true });
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    await sql?.end({ timeout: 1 }).catch(() => undefined);
    for (const dir of ['db', 'after-crash']) await down({ dataDir: join(root, dir) }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it(`rows committed more than archive_timeout (${ARCHIVE_TIMEOUT_S} s) before a crash that loses pg_wal all come back`, { timeout: CLUSTER_TIMEOUT }, async () => {
    // A commit every 100 ms for 6 s, each row carrying its commit time.
    const committed: { n: number; at: number }[] = [];
    const until = Date.now() + 6000;
    for (let n = 1; Date.now() < until; n++) {
      await insertUser(sql, { email: `rpo-${n}@example.com`, name: 'RPO' });
      committed.push({ n, at: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The crash: the server killed and its data directory (with pg_wal) gone.
    const postmaster = Number((await readFile(join(localLayout(dataDir).pgdata, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(postmaster).toBeGreaterThan(0);
    const crashedAt = Date.now();
    process.kill(postmaster, 'SIGKILL');
    await sql.end({ timeout: 0 }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await rm(localLayout(dataDir).pgdata, { recursive: true, force: true });

    const as = await serverOsUser();
    const restored = await restoreBackup({ repo, to: join(root, 'after-crash'), target: { latest: true }, start: { port: 0 }, sourceDataDir: dataDir, ...(as ? { as } : {}) });
    const back = connect(withDatabase(restored.url ?? '', readLocalState(localLayout(dataDir))?.database ?? 'jeex'), { max: 1, onnotice: () => {} });
    try {
      const present = new Set((await readUsers(back)).map((r) => r.email).filter((email) => email.startsWith('rpo-')));
      // Allow the archiver one more second to have copied the switched segment.
      const mustSurvive = committed.filter((c) => c.at < crashedAt - (ARCHIVE_TIMEOUT_S + 1) * 1000);
      expect(mustSurvive.length).toBeGreaterThan(20);
      expect(mustSurvive.filter((c) => !present.has(`rpo-${c.n}@example.com`))).toEqual([]);
      const lost = committed.length - present.size;
      expect(lost).toBeGreaterThanOrEqual(0);
      // What was lost is only the tail: the newest rows, never a gap in the middle.
      const newestPresent = Math.max(...committed.filter((c) => present.has(`rpo-${c.n}@example.com`)).map((c) => c.n));
      expect(present.size).toBe(newestPresent);
    } finally {
      await back.end({ timeout: 1 });
    }
  });
});

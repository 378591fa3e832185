import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Sql } from 'postgres';
import { findBinaries } from '../cluster/binaries.ts';
import { serverStatus, stopServer } from '../cluster/pg-ctl.ts';
import { JeexDbError } from '../core/errors.ts';
import { sleep } from '../core/sleep.ts';
import { connect } from '../db/connect.ts';
import { translateDbError } from '../db/translate-error.ts';
import { maskUrl } from '../db/url.ts';
import { localLayout, type LocalLayout } from '../local/layout.ts';
import { readReplication, writeReplication } from '../local/replication.ts';
import { localUrl, readLocalSecrets, readLocalState, type LocalSecrets } from '../local/state.ts';
import { newestBackup, readBackupCatalog } from '../ops/backup/catalog.ts';
import { takeBaseBackup } from '../ops/backup/base-backup.ts';
import { defaultRepo, backupDir, type BackupRecord } from '../ops/backup/repo.ts';
import { chownTree, copyLocalState } from '../ops/backup/restore.ts';
import { restoredTls } from '../ops/backup/restore-tls.ts';
import { extractBackupTarball } from '../ops/backup/tarball.ts';
import { checkRejoin } from '../ops/ha/rejoin.ts';
import { ensureSlot } from '../ops/ha/slot.ts';
import { writeStandbyFiles } from '../ops/ha/standby-config.ts';
import { addSynchronousStandby } from '../ops/ha/sync.ts';
import { stopPoolerIn } from '../ops/pooler/local.ts';
import { serverOsUser } from '../platform/os-user.ts';
import { freePort } from '../platform/port.ts';
import { withSuperuser } from './steps/superuser.ts';
import { LOCAL_HOST, type UpResult } from './up-types.ts';
import { up } from './up.ts';

export interface StandbyOptions {
  /** The standby's data directory (a `jeex-db up` layout). */
  dataDir: string;
  /** The primary: its jeex-db data directory on this machine, or a superuser URL of it (its data directory must be a jeex-db one on this machine). */
  from: string;
  /** The standby's port (default: the one it had, else a free one). */
  port?: number;
  /** Its name on the primary (application_name, synchronous_standby_names) and its slot's. Default `standby_<port>`. */
  name?: string;
  /** Add it to the primary's quorum of synchronous standbys (see docs/ha.md before you do). */
  sync?: boolean;
  /** Replace the data directory's cluster (a diverged or superseded old primary) with a fresh copy. */
  reseed?: boolean;
  /** `new` (default): a fast base backup of the primary now; `newest`: its newest backup in the repository. */
  backup?: 'new' | 'newest';
  /** Run PgBouncer in front of the standby too (default true, as `up`). */
  pooler?: boolean;
  osUser?: string;
  /** How long the standby may take to stream (default 120 s). */
  timeoutSeconds?: number;
  cwd?: string;
  onProgress?: (message: string) => void;
}

export interface StandbyResult {
  dataDir: string;
  port: number;
  name: string;
  slot: string;
  /** `seeded`: a new standby from a base backup; `reseeded`: its old cluster replaced; `rejoined`: its cluster kept (its WAL had not diverged). */
  how: 'seeded' | 'reseeded' | 'rejoined';
  /** The base backup it was seeded from (none when it rejoined). */
  backupId?: string;
  primary: { host: string; port: number; dataDir: string };
  /** Whether it streams, and how far behind the primary's position it replayed when that was read. */
  streaming: { status: string; lagBytes: number; waitedMs: number };
  /** The primary's synchronous_standby_names before and after `sync`. */
  sync?: { before: string; after: string };
  up: UpResult;
  notes: string[];
  durationMs: number;
}

/** A name PostgreSQL takes as slot and application name: [a-z0-9_], 63 bytes. */
const NAME = /^[a-z0-9_]{1,63}$/;

async function primaryOf(from: string, cwd: string | undefined): Promise<{ layout: LocalLayout; secrets: LocalSecrets; port: number }> {
  let dir = from;
  if (/^postgres(ql)?:\/\//.test(from)) {
    // A URL: the primary's data directory, read from the server, must be a jeex-db layout here.
    const sql = connect(from, { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      const [row] = await sql<{ dir: string }[]>`SELECT current_setting('data_directory') AS dir`;
      dir = resolve(row?.dir ?? '', '..');
    } catch (error) {
      throw new JeexDbError('STANDBY_FAILED', `cannot read the primary's data directory through ${maskUrl(from)}: ${translateDbError(error).message}`, {
        hint: 'Pass a superuser URL of the primary, or its data directory (--from DIR).',
        cause: error,
      });
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
  const layout = localLayout(dir, cwd);
  const state = readLocalState(layout);
  const secrets = readLocalSecrets(layout);
  if (!state || !secrets) {
    throw new JeexDbError('STANDBY_FAILED', `${layout.root} is not a jeex-db cluster (no state.json and secrets.json): jeex-db seeds standbys of its own clusters`, {
      hint: 'For another PostgreSQL 18 server use its HA engine or pg_basebackup -R (docs/ha.md); --from takes the primary\'s data directory.',
    });
  }
  if (!secrets.replicator) {
    throw new JeexDbError('STANDBY_FAILED', `${layout.secretsFile} has no jeex_replicator password: the primary was last started by an older jeex-db`, {
      hint: `Run \`jeex-db up --data-dir ${layout.root}\` once (it creates the role), then this again.`,
    });
  }
  return { layout, secrets, port: state.port };
}

/** The primary's superuser client: two connections (a base backup reserves one). */
const withPrimary = <T>(url: string, work: (sql: Sql) => Promise<T>): Promise<T> => withSuperuser(url, work, { max: 2, applicationName: 'jeex-db standby', connectTimeoutSeconds: 10 });

/**
 * Make `dataDir` a hot standby of the local primary `from`, and start it: a physical slot on the
 * primary, a base backup (new and fast, or the newest) extracted without promoting, standby.signal
 * and jeex-standby.conf (primary_conninfo over TLS verify-full as jeex_replicator, the slot,
 * restore_command from the primary's archive, 1 s retries), then `up`, then a wait until the
 * primary sees it streaming. A data directory that holds a cluster already is rejoined when its
 * WAL has not diverged from the primary's timeline, else refused (STANDBY_DIVERGED) unless
 * `reseed`. With `sync`, the primary's commits wait for a quorum of one synchronous standby.
 *
 * @example
 * const standby = await createStandby({ dataDir: '.jeex-db-b', from: '.jeex-db', port: 5419 });
 * standby.streaming.status; // 'streaming'
 */
export async function createStandby(options: StandbyOptions): Promise<StandbyResult> {
  const began = Date.now();
  const progress = options.onProgress ?? (() => {});
  const notes: string[] = [];
  const primary = await primaryOf(options.from, options.cwd);
  const layout = localLayout(options.dataDir, options.cwd);
  if (layout.root === primary.layout.root) {
    throw new JeexDbError('STANDBY_FAILED', `--data-dir and --from are the same directory (${layout.root})`, { hint: 'A standby needs a data directory of its own, e.g. --data-dir .jeex-db-standby.' });
  }
  const bin = await findBinaries();
  const as = await serverOsUser(options.osUser);
  const previous = readLocalState(layout);
  const port = options.port ?? previous?.port ?? (await freePort());
  const name = options.name ?? `standby_${port}`;
  if (!NAME.test(name)) {
    throw new JeexDbError('INVALID_CONFIG', `--name ${JSON.stringify(name)} is not a slot name PostgreSQL accepts`, { hint: 'Use lower-case letters, digits and _ (at most 63), e.g. --name standby_b.' });
  }
  const superuserUrl = localUrl(primary.layout, 'superuser', { database: 'postgres' });
  if (!superuserUrl) throw new JeexDbError('STANDBY_FAILED', `no superuser URL for ${primary.layout.root}`, { hint: 'Its secrets.json is incomplete.' });
  const primaryRef = { host: LOCAL_HOST, port: primary.port, dataDir: primary.layout.root };
  const hasCluster = existsSync(join(layout.pgdata, 'PG_VERSION'));

  const result = await withPrimary(superuserUrl, async (sql) => {
    const [where] = await sql<{ recovery: boolean }[]>`SELECT pg_is_in_recovery() AS recovery`;
    if (where?.recovery) {
      throw new JeexDbError('STANDBY_FAILED', `${primary.layout.root} is itself a standby: jeex-db makes standbys of a primary`, { hint: 'Point --from at the primary (or promote this one first: `jeex-db promote`).' });
    }
    const status = await serverStatus(bin, layout, as);
    let how: StandbyResult['how'];
    let backupId: string | undefined;
    if (hasCluster && !options.reseed) {
      if (status.running) {
        throw new JeexDbError('STANDBY_FAILED', `a server runs from ${layout.root}: it must be stopped before it can rejoin as a standby`, {
          hint: `Stop it with \`jeex-db down --data-dir ${layout.root}\`, then run this again (a primary that was replaced stays stopped: it would be a second primary).`,
        });
      }
      progress(`checking that ${layout.root} can follow ${primary.layout.root} without a re-seed`);
      const check = await checkRejoin(layout.pgdata, sql, {
        cluster: `the cluster in ${layout.root}`,
        primary: `the primary ${primary.layout.root}`,
        reseed: `jeex-db standby --data-dir ${layout.root} --from ${primary.layout.root} --reseed`,
      });
      notes.push(`rejoined without a re-seed: ${check.reason}`);
      await ensureSlot(sql, name, { recreate: false });
      how = 'rejoined';
    } else {
      if (hasCluster) {
        progress(`re-seeding ${layout.root}: its cluster is replaced (the backups beside it are kept)`);
        await stopPoolerIn(layout.pgbouncerDir);
        if (status.running) await stopServer(bin, layout, as, 'fast');
        await rm(layout.pgdata, { recursive: true, force: true });
        how = 'reseeded';
      } else {
        how = 'seeded';
      }
      await mkdir(layout.root, { recursive: true });
      await chmod(layout.root, 0o755);
      progress(`creating the replication slot ${name} on the primary`);
      await ensureSlot(sql, name, { recreate: true });
      const record = await seedBackup(sql, primary.layout, options.backup ?? 'new', progress);
      backupId = record.id;
      progress(`extracting backup ${record.id} into ${layout.pgdata}`);
      await mkdir(layout.pgdata, { recursive: true });
      await mkdir(layout.logDir, { recursive: true });
      await extractBackupTarball(backupDir(defaultRepo(primary.layout), record.id), record, layout.pgdata);
      await mkdir(join(layout.pgdata, 'pg_wal'), { recursive: true });
      // The primary's own standby settings (were it a standby once) are not this one's.
      await rm(join(layout.pgdata, 'recovery.signal'), { force: true });
      const tls = await restoredTls(layout, primary.layout.root, as);
      await copyLocalState(primary.layout.root, layout, port, tls?.url);
      // The column cipher's keys: the standby serves the same sealed rows (keys/ is outside pgdata, so not in the backup).
      if (existsSync(primary.layout.keysDir)) await cp(primary.layout.keysDir, layout.keysDir, { recursive: true, force: true, preserveTimestamps: true });
    }
    const state = readLocalState(layout);
    const replicator = primary.secrets.replicator;
    if (!replicator) throw new JeexDbError('STANDBY_FAILED', 'no jeex_replicator password', { hint: 'Run `jeex-db up` on the primary once.' });
    await writeStandbyFiles(
      layout,
      {
        primary: { host: LOCAL_HOST, port: primary.port },
        user: replicator.user,
        passFile: layout.replicationPassFile,
        ...(state?.tls && state.tls.rootCert !== 'system' ? { rootCert: state.tls.rootCert } : {}),
        name,
        slot: name,
        archiveDir: defaultRepo(primary.layout).wal,
      },
      replicator.password,
      as,
    );
    await chmod(layout.pgdata, 0o700);
    if (as) {
      await chownTree(layout.pgdata, as);
      await chownTree(layout.logDir, as);
    }
    await writeReplication(layout, { role: 'standby', name, slot: name, primary: primaryRef, seededFrom: backupId ?? readStandbySeed(layout), seededAt: new Date().toISOString(), sync: Boolean(options.sync) });
    return { how, backupId };
  });

  progress(`starting the standby on ${LOCAL_HOST}:${port}`);
  const started = await up({ dataDir: layout.root, port, pooler: options.pooler ?? true, ...(options.osUser ? { osUser: options.osUser } : {}), onProgress: progress });
  const streaming = await waitForStreaming(superuserUrl, name, (options.timeoutSeconds ?? 120) * 1000, layout);
  let sync: StandbyResult['sync'];
  if (options.sync) {
    sync = await withPrimary(superuserUrl, (sql) => addSynchronousStandby(sql, name));
    notes.push(
      `synchronous replication is on (${sync.after}): a commit on the primary returns only once the standby has flushed it, so the primary's loss loses no acknowledged transaction; each commit waits a round trip to the standby (about 30% fewer inserts/s measured here), and while the standby is down or not streaming EVERY commit on the primary waits. Turn it off with \`ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();\` on the primary (docs/ha.md).`,
    );
  }
  return {
    dataDir: layout.root,
    port,
    name,
    slot: name,
    how: result.how,
    ...(result.backupId ? { backupId: result.backupId } : {}),
    primary: primaryRef,
    streaming,
    ...(sync ? { sync } : {}),
    up: started,
    notes: [...notes, ...(started.notes ?? [])],
    durationMs: Date.now() - began,
  };
}

function readStandbySeed(layout: LocalLayout): string {
  const role = readReplication(layout);
  return role?.role === 'standby' ? role.seededFrom : 'rejoined';
}

async function seedBackup(sql: Sql, primary: LocalLayout, which: 'new' | 'newest', progress: (message: string) => void): Promise<BackupRecord> {
  const repo = defaultRepo(primary);
  if (which === 'newest') {
    const record = newestBackup(repo, await readBackupCatalog(repo));
    if (!record) throw new JeexDbError('BACKUP_NOT_FOUND', `no backup in ${repo.base} to seed the standby from`, { hint: 'Leave out --backup newest: a fast base backup of the primary is taken.' });
    progress(`seeding from the newest backup, ${record.id}`);
    return record;
  }
  progress('taking a fast base backup of the primary');
  const { record } = await takeBaseBackup(sql, { repo, fast: true });
  return record;
}

/** Wait until the primary's pg_stat_replication shows `name` streaming; STANDBY_FAILED with the standby's log otherwise. */
async function waitForStreaming(primaryUrl: string, name: string, timeoutMs: number, layout: LocalLayout): Promise<StandbyResult['streaming']> {
  const began = Date.now();
  return withPrimary(primaryUrl, async (sql) => {
    for (;;) {
      const [row] = await sql<{ state: string; lag: string | null }[]>`
        SELECT state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text AS lag FROM pg_stat_replication WHERE application_name = ${name}`;
      if (row?.state === 'streaming') return { status: row.state, lagBytes: Number(row.lag ?? 0), waitedMs: Date.now() - began };
      if (Date.now() - began > timeoutMs) {
        throw new JeexDbError('STANDBY_FAILED', `the standby ${name} started but was not streaming from the primary within ${Math.round(timeoutMs / 1000)} s (${row ? `state ${row.state}` : 'not connected'})`, {
          hint: `Read ${layout.serverLog} (a refused replication connection shows there: pg_hba.conf of the primary needs its "hostssl replication" lines, written by \`jeex-db up\`).`,
        });
      }
      await sleep(100);
    }
  });
}

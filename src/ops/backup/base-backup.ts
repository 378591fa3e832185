import { createHash } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import { createEncryptStream } from '../../crypto/envelope-stream.ts';
import { loadKeys, type EncryptionKey } from '../../crypto/keys.ts';
import { JeexDbError } from '../../core/errors.ts';
import { translateDbError } from '../../db/translate-error.ts';
import { waitForBackupWal } from './archive-wait.ts';
import { backupHistoryName } from './backup-label.ts';
import { copyDataDir, walkDataDir, type CopyProgress } from './copy.ts';
import { renameDurable, writeNewFileDurable } from '../../platform/durable-fs.ts';
import { renderManifest, type ManifestFile } from './manifest.ts';
import { writeBackupRecord } from './record.ts';
import { backupDir, backupId, type BackupRecord, type BackupRepo } from './repo.ts';
import { countRows } from './row-counts.ts';
import { TarGzWriter } from './tar-gz-writer.ts';
import { tarballName } from './tarball.ts';
import { DEFAULT_WAL_SEGMENT_SIZE, archiveStatus, checkWalContinuity, walFileForLsn, walSegmentSize } from './wal.ts';
import { sleep } from '../../core/sleep.ts';

export interface BaseBackupProgress extends CopyProgress {
  /** `checkpoint`: waiting for pg_backup_start; `copy`: files; `stop`: pg_backup_stop and the archive. */
  phase: 'checkpoint' | 'copy' | 'stop' | 'done';
}

export interface BaseBackupOptions {
  repo: BackupRepo;
  /** The data directory to copy (on this machine). Default: the server's `data_directory`. */
  dataDir?: string;
  /** The label given to pg_backup_start. Default `jeex-db <id>`. */
  label?: string;
  /** An immediate checkpoint (fast start, an I/O burst) instead of a spread one (default). */
  fast?: boolean;
  /** Read the data directory at most this many bytes per second. */
  maxRate?: number;
  /** gzip level 1-9 (default 6). */
  compressionLevel?: number;
  /**
   * How long to wait after pg_backup_stop for the archive to hold the backup's WAL when the
   * archiver is not failing (default 300 s). A failing archiver (a full disk, say) ends the wait
   * within seconds as BACKUP_WAL_MISSING.
   */
  archiveWaitSeconds?: number;
  /**
   * Encrypt the tarball (AES-256-GCM, written as `base.tar.gz.enc`) with this key. Default: the
   * first key of the environment (`JEEX_BACKUP_KEY`, `JEEX_BACKUP_KEY_FILE` or `JEEX_BACKUP_KEYS`,
   * see loadKeys), unencrypted when none is set; `null`: unencrypted whatever the environment says.
   */
  encryptionKey?: EncryptionKey | null;
  onProgress?: (progress: BaseBackupProgress) => void;
  signal?: AbortSignal;
}

export interface BaseBackupResult {
  record: BackupRecord;
  /** `<repo>/base/<id>`. */
  dir: string;
}

const fail = (message: string, hint: string, cause?: unknown, context?: Record<string, unknown>) =>
  new JeexDbError('BACKUP_FAILED', message, { hint, ...(cause === undefined ? {} : { cause }), ...(context ? { context } : {}) });

/** `<repo>/base/<id>`, with an id no other backup (complete or not) uses. */
async function freshId(repo: BackupRepo): Promise<{ id: string; startedAt: Date }> {
  for (;;) {
    const startedAt = new Date();
    const id = backupId(startedAt);
    const taken = await Promise.all([backupDir(repo, id), `${backupDir(repo, id)}.partial`].map((dir) => stat(dir).then(() => true, () => false)));
    if (!taken.includes(true)) return { id, startedAt };
    await sleep(1000 - (Date.now() % 1000) + 5);
  }
}

/**
 * Take a base backup of the cluster `sql` connects to, with the low-level API on one reserved
 * connection: `pg_backup_start`, the data directory copied into `<repo>/base/<id>/base.tar.gz`
 * (documented exclusions, SHA-256 per file; `base.tar.gz.enc` when a key is configured: gzip,
 * then AES-256-GCM, the manifest still hashing the original files), row counts, `pg_backup_stop`,
 * `backup_label` (and `tablespace_map`) added to the tarball, a wait for the archive that fails
 * within seconds when the archiver keeps failing (waitForBackupWal), then `backup_manifest` and
 * `backup.json`. It is written into `<id>.partial/`, every file fsynced, and renamed when
 * complete, after the WAL from the start to the stop segment was found in `<repo>/wal`. `sql` must be a superuser (or have
 * pg_backup_start/stop and read the tables) connected to the application database, and the data
 * directory must be readable by this process.
 *
 * @example
 * const { record } = await takeBaseBackup(sql, { repo: defaultRepo(localLayout()), maxRate: 50 * 2 ** 20 });
 * console.log(record.id, record.storedBytes);
 */
export async function takeBaseBackup(sql: Sql, options: BaseBackupOptions): Promise<BaseBackupResult> {
  const { repo } = options;
  // Before anything is started: a misconfigured key (unreadable file, bad length) stops here.
  const key = options.encryptionKey === undefined ? loadKeys()[0] : (options.encryptionKey ?? undefined);
  const encryption = key ? { algorithm: 'AES-256-GCM' as const, keyId: key.id } : undefined;
  const tarball = tarballName({ encryption });
  try {
    await mkdir(repo.base, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw fail(`Cannot create the backup directory ${repo.base} (${(error as NodeJS.ErrnoException).code ?? String(error)}).`, `Check that ${repo.root} is a writable directory, or pass another --repo DIR.`, error, { repo: repo.root });
  }
  const { id, startedAt } = await freshId(repo);
  const finalDir = backupDir(repo, id);
  const partialDir = `${finalDir}.partial`;
  const label = options.label ?? `jeex-db ${id}`;
  let tar: TarGzWriter | undefined;
  const conn = await sql.reserve();
  let inBackup = false;
  let progress: CopyProgress = { bytesDone: 0, bytesTotal: 0, filesDone: 0, filesTotal: 0 };
  const report = (phase: BaseBackupProgress['phase']) => options.onProgress?.({ phase, ...progress });
  try {
    await mkdir(partialDir, { mode: 0o700 });
    tar = new TarGzWriter(join(partialDir, tarball), options.compressionLevel, key ? createEncryptStream(key) : undefined);
    const [facts] = await conn<{ system_identifier: string; server_version: string; data_directory: string; database: string; in_recovery: boolean }[]>`
      SELECT (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
             current_setting('server_version') AS server_version,
             current_setting('data_directory') AS data_directory,
             current_database() AS database,
             pg_is_in_recovery() AS in_recovery`;
    if (!facts) throw new Error('the server returned no facts');
    const segmentBytes = await walSegmentSize(conn).catch(() => DEFAULT_WAL_SEGMENT_SIZE);
    const dataDir = options.dataDir ?? facts.data_directory;

    report('checkpoint');
    const [start] = await conn<{ lsn: string }[]>`SELECT pg_backup_start(${label}, ${options.fast ?? false})::text AS lsn`;
    inBackup = true;

    const entries = await walkDataDir(dataDir);
    progress = { ...progress, bytesTotal: entries.reduce((sum, e) => sum + e.size, 0), filesTotal: entries.filter((e) => e.type === 'file').length };
    report('copy');
    const files: ManifestFile[] = await copyDataDir(dataDir, entries, tar, {
      ...(options.maxRate ? { maxRate: options.maxRate } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (p) => {
        progress = p;
        report('copy');
      },
    });

    // Counted on this session just before the stop; `exact` when no transaction ended meanwhile.
    const counts = await countRows(conn);
    report('stop');
    const baseline = await archiveStatus(conn);
    // The archive is waited for below (waitForBackupWal), watching the archiver: pg_backup_stop's
    // own wait cannot tell a failing archive from a slow one and ends only at a statement timeout.
    const [stop] = await conn<{ lsn: string; labelfile: string; spcmapfile: string }[]>`
      SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop(wait_for_archive => false)`;
    inBackup = false;
    if (!stop || !start) throw new Error('pg_backup_stop returned nothing');
    const [after] = await conn<{ snapshot: string }[]>`SELECT pg_current_snapshot()::text AS snapshot`;
    const stoppedAt = new Date();

    // backup_label (and tablespace_map) go into the backup, never into the live data directory.
    for (const [path, text] of [['backup_label', stop.labelfile], ['tablespace_map', stop.spcmapfile]] as const) {
      if (!text) continue;
      const data = Buffer.from(text, 'utf8');
      await tar.file(path, data, { mode: 0o600, mtime: stoppedAt });
      files.push({ path, size: data.length, mtime: stoppedAt, sha256: createHash('sha256').update(data).digest('hex') });
    }
    await tar.close();

    const timeline = Number(/START TIMELINE: (\d+)/.exec(stop.labelfile)?.[1] ?? 1);
    const startWalFile = /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(stop.labelfile)?.[1] ?? walFileForLsn(start.lsn, timeline, segmentBytes, { atBoundary: 'next' });
    const stopWalFile = walFileForLsn(stop.lsn, timeline, segmentBytes);
    const startLsn = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+)/.exec(stop.labelfile)?.[1] ?? start.lsn;
    await waitForBackupWal(conn, repo, {
      startWalFile,
      stopWalFile,
      historyFile: backupHistoryName(startWalFile, startLsn, segmentBytes),
      segmentBytes,
      baseline,
      ...(options.archiveWaitSeconds === undefined ? {} : { timeoutSeconds: options.archiveWaitSeconds }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const wal = await checkWalContinuity(repo, startWalFile, stopWalFile, segmentBytes);
    if (!wal.ok) {
      throw new JeexDbError('BACKUP_WAL_MISSING', `The WAL this backup needs (${startWalFile} to ${stopWalFile}) is not all in ${repo.wal}: missing ${wal.missing.join(', ')}. The backup was discarded.`, {
        hint: 'Turn WAL archiving on into this repository (`jeex-db up` configures it for the local cluster: archive_mode = on, archive_library = basic_archive), check pg_stat_archiver for failures, then run the backup again.',
        context: { missing: wal.missing, repo: repo.root },
      });
    }

    const manifest = renderManifest({ systemIdentifier: facts.system_identifier, files, walRanges: [{ timeline, startLsn: start.lsn, endLsn: stop.lsn }] });
    await writeNewFileDurable(join(partialDir, 'backup_manifest'), manifest.text, 0o600);
    const record: BackupRecord = {
      id,
      format: 'tar.gz',
      ...(encryption ? { encryption } : {}),
      startedAt: startedAt.toISOString(),
      stoppedAt: stoppedAt.toISOString(),
      startLsn: start.lsn,
      stopLsn: stop.lsn,
      timeline,
      startWalFile,
      stopWalFile,
      systemIdentifier: facts.system_identifier,
      serverVersion: facts.server_version,
      sizeBytes: files.reduce((sum, f) => sum + f.size, 0),
      storedBytes: (await stat(join(partialDir, tarball))).size,
      files: files.length,
      rowCounts: counts.rows,
      rowCountsExact: counts.snapshot === after?.snapshot,
      database: facts.database,
      label,
      walSegmentBytes: segmentBytes,
      manifestChecksum: manifest.checksum,
    };
    await writeBackupRecord(repo, record, partialDir);
    // Every file fsynced (the tarball when it was closed), then the directory, then the rename.
    await renameDurable(partialDir, finalDir, [tarball, 'backup_manifest', 'backup.json']);
    report('done');
    return { record, dir: finalDir };
  } catch (error) {
    // Never leave the server in backup mode: stop it on this session (if the session is gone,
    // the server has already ended the backup).
    if (inBackup) await conn`SELECT pg_backup_stop(wait_for_archive => false)`.catch(() => undefined);
    await tar?.abort();
    await rm(partialDir, { recursive: true, force: true }).catch(() => undefined);
    if (error instanceof JeexDbError) throw error;
    if (error instanceof Error && 'severity' in error) {
      const translated = translateDbError(error);
      throw fail(`Base backup ${id} failed: ${translated.message}`, translated.hint ?? 'Fix the cause and run `jeex-db backup` again; the server is not left in backup mode.', error, { id, sqlState: translated.sqlState });
    }
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(
      `Base backup ${id} failed${code ? ` (${code})` : ''}: ${error instanceof Error ? error.message : String(error)}. Nothing was kept and the server is not left in backup mode.`,
      `Check that the data directory is readable and ${repo.root} is writable with enough free space, then run \`jeex-db backup\` again.`,
      error,
      { id },
    );
  } finally {
    conn.release();
  }
}

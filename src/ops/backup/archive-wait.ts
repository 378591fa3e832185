import { stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';
import { humanBytes } from '../../cluster/tuning.ts';
import type { BackupRepo } from './repo.ts';
import { archiveStatus, checkWalContinuity, type ArchiveStatus } from './wal.ts';
import { sleep } from '../../core/sleep.ts';

export interface BackupWalWait {
  startWalFile: string;
  stopWalFile: string;
  /** The backup history file the server archives at the stop (`<start WAL>.<offset>.backup`). */
  historyFile: string;
  segmentBytes: number;
  /** pg_stat_archiver as it was before pg_backup_stop: failures after it count. */
  baseline: ArchiveStatus;
  /** Give up after this long even when the archiver is not failing (default 300 s). */
  timeoutSeconds?: number;
  /**
   * How long the archiver may keep failing before the backup gives up (default 3 s: PostgreSQL
   * tries a file three times, a second apart, before it waits for the next wake-up).
   */
  failingSeconds?: number;
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * After `pg_backup_stop(wait_for_archive => false)`: wait until the archive in `repo` holds the
 * backup's WAL (start to stop segment) and its backup history file, watching pg_stat_archiver
 * meanwhile. What pg_backup_stop's own wait does, except that an archive that refuses files
 * (failed_count rising, e.g. a full disk) ends the wait within seconds as BACKUP_WAL_MISSING
 * saying why, instead of a statement timeout minutes later.
 *
 * @example
 * await waitForBackupWal(conn, repo, { startWalFile, stopWalFile, historyFile, segmentBytes, baseline });
 */
export async function waitForBackupWal(sql: Sql, repo: BackupRepo, wait: BackupWalWait): Promise<void> {
  const timeoutMs = (wait.timeoutSeconds ?? 300) * 1000;
  const failingMs = (wait.failingSeconds ?? 3) * 1000;
  const started = Date.now();
  let failingSince: number | undefined;
  const range = `${wait.startWalFile} to ${wait.stopWalFile}`;
  // pg_settings, not current_setting(): a role without pg_read_all_settings does not see
  // archive_command there (a missing row then counts as "unknown", never as "off").
  const rows = await sql<{ name: string; setting: string }[]>`
    SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'archive_library', 'archive_command')`;
  const setting = (name: string) => rows.find((r) => r.name === name)?.setting;
  const settings = { mode: setting('archive_mode') ?? 'unknown', library: setting('archive_library') ?? '?', command: setting('archive_command') ?? '?' };
  if (settings.mode === 'off' || (settings.library === '' && settings.command === '')) {
    throw new JeexDbError('BACKUP_WAL_MISSING', `The server does not archive its WAL (archive_mode = ${settings.mode}, archive_library = '${settings.library}', archive_command = '${settings.command}'), so the WAL this backup needs (${range}) will never reach ${repo.wal}. The backup was discarded.`, {
      hint: 'Turn WAL archiving on into this repository (`jeex-db up` configures it for the local cluster: archive_mode = on, archive_library = basic_archive), then run the backup again.',
      context: { repo: repo.root },
    });
  }
  for (;;) {
    wait.signal?.throwIfAborted();
    const wal = await checkWalContinuity(repo, wait.startWalFile, wait.stopWalFile, wait.segmentBytes);
    const history = await stat(join(repo.wal, wait.historyFile)).then(() => true, () => false);
    if (wal.ok && history) return;
    const missing = [...wal.missing, ...(history ? [] : [wait.historyFile])];

    const status = await archiveStatus(sql);
    const failing = status.failing && status.failedCount > wait.baseline.failedCount;
    failingSince = failing ? (failingSince ?? Date.now()) : undefined;
    if (failingSince !== undefined && Date.now() - failingSince >= failingMs) {
      throw new JeexDbError('BACKUP_WAL_MISSING', `The WAL archive is failing: ${await whyArchiveFails(repo, status, wait)}. The WAL this backup needs (${range}) is not in ${repo.wal} (missing ${missing.join(', ')}). The backup was stopped and discarded; the server is not left in backup mode.`, {
        hint: `Make ${repo.wal} accept files again (free space or move the repository to a bigger disk; the server log has the archiver's error), check that pg_stat_archiver's last_failed_wal clears, then run the backup again.`,
        context: { missing, repo: repo.root, failedCount: status.failedCount, lastFailedWal: status.lastFailedWal },
      });
    }
    if (Date.now() - started > timeoutMs) {
      throw new JeexDbError('BACKUP_WAL_MISSING', `The WAL this backup needs (${range}) did not reach ${repo.wal} within ${Math.round(timeoutMs / 1000)} s (missing ${missing.join(', ')}; the archiver last archived ${status.lastArchivedWal ?? 'nothing'} and is not failing, so it is slow or behind). The backup was discarded.`, {
        hint: 'Check pg_stat_archiver (archived_count, last_archived_wal) and the disk the archive is on, then run the backup again.',
        context: { missing, repo: repo.root },
      });
    }
    await sleep(wait.pollMs ?? 200);
  }
}

/** "disk full at DIR (…)" when the archive's file system has no room for a segment; else what pg_stat_archiver says. */
async function whyArchiveFails(repo: BackupRepo, status: ArchiveStatus, wait: BackupWalWait): Promise<string> {
  const counted = `pg_stat_archiver: failed_count rose from ${wait.baseline.failedCount} to ${status.failedCount}, last failed ${status.lastFailedWal ?? '?'} at ${status.lastFailedTime?.toISOString() ?? '?'}`;
  const fs = await statfs(repo.wal).catch(() => undefined);
  if (fs) {
    const free = fs.bavail * fs.bsize;
    if (free < wait.segmentBytes) return `disk full at ${repo.wal} (${humanBytes(free)} free of ${humanBytes(fs.blocks * fs.bsize)}, a WAL segment needs ${humanBytes(wait.segmentBytes)}; ${counted})`;
  }
  return `${counted}; the server log has the archiver's error for it`;
}

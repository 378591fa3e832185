import type postgres from 'postgres';
import { armArchiveTimeout } from '../../cluster/archive-timeout.ts';
import type { UpContext, UpStep } from '../step.ts';
import type { UpWalArchive } from '../up-types.ts';
import type { DataDir } from './data-dir.ts';
import type { Ready } from './ready.ts';
import { withSuperuser } from './superuser.ts';

/**
 * Arm archive_timeout (without a wake-up it counts only from the first timed checkpoint, up to
 * 15 min after a start: see cluster/archive-timeout.ts) and read what the server does with its
 * WAL, compared with what `up` configured. Nothing to undo: the wake-up is a configuration reload.
 */
export const walArchive: UpStep<UpContext & DataDir & Pick<Ready, 'urls'> & { serverStartedHere: boolean }, { walArchive: UpWalArchive }> = {
  name: 'wal-archive',
  async run({ repo, archiveTemp, urls, serverStartedHere }) {
    return withSuperuser(urls.superuser, async (admin) => {
      await armArchiveTimeout(admin);
      const walArchive = await readWalArchive(admin, repo.wal, serverStartedHere);
      if (archiveTemp?.removed.length) walArchive.tempFilesRemoved = archiveTemp.removed.map((f) => f.name);
      return { walArchive };
    });
  },
};

/** What the running server does with its WAL, compared with what `up` configures. */
async function readWalArchive(sql: postgres.Sql, dir: string, serverStartedHere: boolean): Promise<UpWalArchive> {
  const [row] = await sql<{ mode: string; library: string; directory: string | null; timeout: string; pending: boolean }[]>`
    SELECT current_setting('archive_mode') AS mode, current_setting('archive_library') AS library,
           current_setting('basic_archive.archive_directory', true) AS directory,
           current_setting('archive_timeout') AS timeout,
           EXISTS (SELECT 1 FROM pg_settings WHERE name IN ('archive_mode', 'archive_library') AND pending_restart) AS pending`;
  const archiving = row?.mode === 'on' && row.library === 'basic_archive' && row.directory === dir && !row.pending;
  return {
    dir,
    status: archiving ? 'on' : serverStartedHere ? 'overridden' : 'restart-needed',
    archiveMode: row?.mode ?? '',
    archiveLibrary: row?.library ?? '',
    archiveTimeout: row?.timeout ?? '',
  };
}

/** What `up` tells about the WAL archive: stale temporary files it removed, and archiving that is not on. */
export function walArchiveNotes(archive: UpWalArchive): string[] {
  const removed = archive.tempFilesRemoved ?? [];
  const cleaned = removed.length > 0 ? [`removed ${removed.length} stale basic_archive temporary file(s) from ${archive.dir} (left by failed or interrupted copies): ${removed.join(', ')}`] : [];
  return [...cleaned, ...archiveModeNotes(archive)];
}

function archiveModeNotes(archive: UpWalArchive): string[] {
  const now = `archive_mode = ${archive.archiveMode}, archive_library = '${archive.archiveLibrary}'`;
  if (archive.status === 'restart-needed') {
    return [
      `PostgreSQL was already running without WAL archiving into ${archive.dir} (${now}; started by an older jeex-db?). It was not restarted: archiving starts at its next start (\`jeex-db down\`, then \`jeex-db up\`); until then point-in-time recovery is not possible.`,
    ];
  }
  if (archive.status === 'overridden') {
    return [
      `WAL is not archived into ${archive.dir} (${now}): postgresql.local.conf or ALTER SYSTEM overrides archive_mode, archive_library or basic_archive.archive_directory; remove the override for point-in-time recovery.`,
    ];
  }
  return [];
}

import { prepareDataDir } from '../../cluster/data-dir.ts';
import { cleanArchiveTemp, type ArchiveTempCleanup } from '../../ops/backup/archive-temp.ts';
import { defaultRepo, type BackupRepo } from '../../ops/backup/repo.ts';
import { prepareWalArchive } from '../configure.ts';
import type { UpContext, UpStep } from '../step.ts';
import type { Preflight } from './preflight.ts';

export interface DataDir {
  /** The backup repository; its `wal/` is where the server archives. */
  repo: BackupRepo;
  /** basic_archive's stale temporary files removed now (undefined: the repository could not be read). */
  archiveTemp: ArchiveTempCleanup | undefined;
}

/**
 * The data directory and the WAL archive directory, owned by the server's OS user (basic_archive
 * needs its directory before the server starts), and basic_archive's stale leftovers (archtemp.*
 * of failed or crashed copies) removed. Nothing to undo: the directories are where the next `up`
 * puts the cluster.
 */
export const dataDir: UpStep<UpContext & Pick<Preflight, 'as'>, DataDir> = {
  name: 'data-dir',
  async run({ layout, as }) {
    await prepareDataDir(layout, as);
    const repo = defaultRepo(layout);
    await prepareWalArchive(repo, as);
    const archiveTemp = await cleanArchiveTemp(repo).catch(() => undefined);
    return { repo, archiveTemp };
  },
};

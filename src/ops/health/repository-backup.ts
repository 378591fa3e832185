import { listBackups } from '../backup/list.ts';
import type { BackupRepo } from '../backup/repo.ts';
import { backupCheck } from './client-checks.ts';
import type { BaseContext, CheckSpec } from './measure.ts';

/**
 * `backup:age` from a backup repository (`backupRepo`): the newest backup whose last
 * verification passed. Backups are expected once the repository holds one (verified or not, or
 * a damaged record): then an old one warns at 25 h and fails at 48 h, and none verified fails.
 * An empty repository adds a note and no entry, so a cluster nobody backs up raises no alert.
 */
export function repositoryBackupCheck(repo: BackupRepo): CheckSpec<BaseContext> {
  return {
    what: `the backups in ${repo.root}`,
    key: 'backup:age',
    componentType: 'backup',
    run: async (ctx) => {
      const { backups, damaged } = await listBackups(repo);
      if (backups.length === 0 && damaged.length === 0) {
        ctx.note(`backup:age: the repository ${repo.root} holds no backup, so none is expected (a schedule, \`jeex-db serve --backup-schedule\`, or a first \`jeex-db backup\` turns the check on)`);
        return [];
      }
      const newest = backups.filter((b) => b.verified === 'ok').at(-1);
      return backupCheck(() => Promise.resolve(newest ? new Date(newest.stoppedAt) : undefined), { repo: repo.root, unverified: backups.length }).run(ctx);
    },
  };
}

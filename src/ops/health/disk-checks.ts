import { statfs } from 'node:fs/promises';
import { measure, round, type BaseContext, type CheckSpec, type Entry } from './measure.ts';

/** The directories whose filesystem's free space `checkHealth` judges (`disks` option). */
export interface HealthDisks {
  /** PostgreSQL's data directory (PGDATA): `disk:dataFree`. */
  dataDir?: string;
  /** Where WAL is archived (the repository's `wal/`): `disk:archiveFree`. */
  archiveDir?: string;
}

const GIB = 2 ** 30;

/** The free space of the filesystem holding `dir`, as the unprivileged see it (f_bavail: root's reserve left out). */
async function freeSpace(dir: string): Promise<{ freeBytes: number; totalBytes: number }> {
  const stats = await statfs(dir);
  return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
}

/**
 * `disk:dataFree` or `disk:archiveFree`: two entries, free space in % of the filesystem (warn
 * below 15, fail below 5 by default) and in bytes (limits off unless set). `fs.statfs` on the
 * directory, so it works for any mount, local or not, without a query.
 */
export function diskCheck(which: 'data' | 'archive', dir: string): CheckSpec<BaseContext> {
  const key = which === 'data' ? 'disk:dataFree' : 'disk:archiveFree';
  const what = which === 'data' ? `the free space under the data directory ${dir}` : `the free space under the WAL archive ${dir}`;
  return {
    what,
    key,
    componentType: 'disk',
    run: async (ctx): Promise<Entry[]> => {
      const { freeBytes, totalBytes } = await freeSpace(dir);
      const percent = totalBytes > 0 ? (freeBytes / totalBytes) * 100 : 0;
      const t = ctx.thresholds;
      const consequence =
        which === 'data'
          ? 'when it is full PostgreSQL stops (it cannot write WAL) and will not start again until space is freed; delete or move other files, grow the volume, look for WAL kept by a failing archiver (postgresql:archiveBacklog) or an inactive replication slot (postgresql:replicationSlots), and for bloat (`jeex-db diagnose`)'
          : 'when it is full archiving fails, WAL piles up in pg_wal (then the data directory fills) and point-in-time recovery has a gap; prune old backups (`jeex-db backups prune`) or grow the volume';
      const output = `${round(freeBytes / GIB, 2)} GiB free of ${round(totalBytes / GIB, 2)} GiB (${round(percent, 1)}%) on the filesystem of ${dir}: ${consequence}`;
      const common = { componentType: 'disk', componentId: dir, lowerIsWorse: true, output } as const;
      return [
        { key, check: measure(ctx.now, { ...common, value: round(percent, 2), exact: percent, unit: '%', limits: { warn: t.diskFreeWarnPercent, fail: t.diskFreeFailPercent } }) },
        { key, check: measure(ctx.now, { ...common, value: freeBytes, unit: 'By', limits: { warn: t.diskFreeWarnBytes, fail: t.diskFreeFailBytes } }) },
      ];
    },
  };
}

/** The disk checks `disks` asks for. */
export function diskChecks(disks: HealthDisks | undefined): CheckSpec<BaseContext>[] {
  return [...(disks?.dataDir ? [diskCheck('data', disks.dataDir)] : []), ...(disks?.archiveDir ? [diskCheck('archive', disks.archiveDir)] : [])];
}

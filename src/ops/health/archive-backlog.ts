import { boundedRead } from './bounded.ts';
import { measure, round, type CheckSpec } from './measure.ts';

const PG = 'postgresql';
const KEY = `${PG}:archiveBacklog`;

/**
 * `postgresql:archiveBacklog`: the WAL segments completed but not yet archived (the `.ready`
 * files of pg_wal/archive_status, `pg_ls_archive_statusdir()`, which pg_monitor may call), as
 * two entries: how many (`{file}`, limits off unless set) and how long the oldest has waited
 * (`s`, warn 5 min, fail 30 min). It catches an archiver that falls behind or hangs, which
 * `postgresql:archiveFailures` (a failure counted) does not.
 */
export const archiveBacklogCheck: CheckSpec = {
  what: 'the WAL waiting for the archiver (pg_ls_archive_statusdir)',
  key: KEY,
  componentType: PG,
  run: async (ctx) => {
    const [row] = await boundedRead(ctx.sql, ctx.timeoutMs, 'reading pg_ls_archive_statusdir()', (tx) =>
      tx<{ ready: number; oldest: string | null; age_s: number | null }[]>`
        SELECT count(*)::int AS ready, min(name) AS oldest,
               extract(epoch FROM clock_timestamp() - min(modification))::float8 AS age_s
        FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'`,
    );
    const ready = row?.ready ?? 0;
    const age = Math.max(0, row?.age_s ?? 0);
    const t = ctx.thresholds;
    const segment = row?.oldest?.replace(/\.ready$/, '') ?? '?';
    const output = `${ready} WAL segment(s) wait for the archiver, the oldest (${segment}) for ${round(age, 0)} s: the archive falls behind (point-in-time recovery cannot reach past it) and pg_wal grows until the disk is full; read the server log for the archiver's errors (postgresql:archiveFailures), check that the archive target is writable and has space (disk:archiveFree), and that archive_command or archive_library is not hanging`;
    return [
      { key: KEY, check: measure(ctx.now, { value: ready, unit: '{file}', limits: { warn: t.archiveBacklogWarnFiles, fail: t.archiveBacklogFailFiles }, componentType: PG, output }) },
      { key: KEY, check: measure(ctx.now, { value: round(age, 1), exact: age, unit: 's', limits: { warn: t.archiveBacklogWarnSeconds, fail: t.archiveBacklogFailSeconds }, componentType: PG, output }) },
    ];
  },
};

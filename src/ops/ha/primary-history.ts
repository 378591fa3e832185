import type { Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';
import { parseTimelineHistory, type TimelineSwitch } from '../backup/wal.ts';

export interface PrimaryPosition {
  systemIdentifier: string;
  timeline: number;
  /** Its current WAL insert position (a standby: where it replayed to). */
  lsn: string;
  inRecovery: boolean;
  /** Its timeline's history (empty on timeline 1). */
  history: TimelineSwitch[];
}

/**
 * Where a server stands: its system, timeline, position and the timeline's history file (read
 * with pg_read_file, so `sql` must be a superuser's or hold pg_read_server_files).
 *
 * @example
 * const primary = await readServerPosition(sql);
 * judgeRejoin(await localWalEnd(pgdata), primary.timeline, primary.history);
 */
export async function readServerPosition(sql: Sql): Promise<PrimaryPosition> {
  const [row] = await sql<{ sysid: string; tli: number; lsn: string; recovery: boolean }[]>`
    SELECT (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
           CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver) END AS tli,
           CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END AS lsn,
           pg_is_in_recovery() AS recovery`;
  if (!row) throw new JeexDbError('STANDBY_FAILED', 'the server did not say where it stands', { hint: 'Connect as a superuser.' });
  // On a primary the timeline is in the name of the WAL file being written.
  const timeline = row.recovery
    ? (row.tli ?? (await sql<{ tli: number }[]>`SELECT timeline_id AS tli FROM pg_control_checkpoint()`)[0]?.tli ?? 1)
    : Number.parseInt(((await sql<{ name: string }[]>`SELECT pg_walfile_name(pg_current_wal_lsn()) AS name`)[0]?.name ?? '1').slice(0, 8), 16);
  let history: TimelineSwitch[] = [];
  if (timeline > 1) {
    const file = `pg_wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
    const [text] = await sql<{ text: string | null }[]>`SELECT pg_read_file(${file}, true) AS text`;
    if (text?.text == null) {
      throw new JeexDbError('STANDBY_FAILED', `the server is on timeline ${timeline} but has no ${file}`, {
        hint: 'The history file is needed to tell whether a cluster can follow it; copy it from the WAL archive into its pg_wal/.',
      });
    }
    history = parseTimelineHistory(text.text);
  }
  return { systemIdentifier: row.sysid, timeline, lsn: row.lsn, inRecovery: row.recovery, history };
}

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readPgControl, type PgControl } from '../../cluster/pg-control.ts';
import { formatLsn, parseLsn, parseWalName, walNameOf, DEFAULT_WAL_SEGMENT_SIZE } from '../backup/wal.ts';
import { readWal } from '../backup/wal-reader.ts';
import type { WalPosition } from './timeline.ts';

export interface LocalWalEnd extends WalPosition {
  control: PgControl;
  /** How far the read got past the last checkpoint (segments read). */
  segmentsRead: number;
}

/**
 * Where the WAL of a stopped (or killed) data directory ends: from the last checkpoint's redo
 * point in pg_control, every valid record in `pg_wal` on its timeline (page headers, record
 * chain, CRC-32C, as recovery would read them). After a kill -9 that is past the checkpoint: the
 * commits the server acknowledged last. Segments PostgreSQL recycled ahead (old contents under a
 * future name) end the read, as they end recovery.
 *
 * @example
 * const end = await localWalEnd('.jeex-db/pgdata');
 * formatLsn(end.lsn); // '0/5000100'
 */
export async function localWalEnd(pgdata: string): Promise<LocalWalEnd> {
  const control = await readPgControl(pgdata);
  const dir = join(pgdata, 'pg_wal');
  const names = new Set((await readdir(dir)).filter((name) => parseWalName(name)));
  const first = walNameOf(control.timeline, control.redoLsn / BigInt(DEFAULT_WAL_SEGMENT_SIZE));
  const segments: string[] = [];
  for (let segno = control.redoLsn / BigInt(DEFAULT_WAL_SEGMENT_SIZE); ; segno++) {
    const name = walNameOf(control.timeline, segno);
    if (!names.has(name)) break;
    segments.push(name);
  }
  if (segments.length === 0 || segments[0] !== first) {
    // No segment holds the redo point (it cannot start either): the checkpoint is the end we know.
    return { timeline: control.timeline, lsn: control.checkpointLsn, control, segmentsRead: 0 };
  }
  const read = await readWal({ dir, segments, from: formatLsn(control.redoLsn), systemIdentifier: control.systemIdentifier });
  const end = parseLsn(read.endLsn);
  return { timeline: control.timeline, lsn: end > control.checkpointLsn ? end : control.checkpointLsn, control, segmentsRead: read.segmentsRead };
}

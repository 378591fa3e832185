import { formatLsn, parseLsn, type TimelineSwitch } from '../backup/wal.ts';

/** Where a cluster's WAL ends: on which timeline, at which LSN. */
export interface WalPosition {
  timeline: number;
  lsn: bigint;
}

/** Whether a cluster that stopped at `local` can follow a primary on `primaryTimeline` without a re-seed. */
export type RejoinVerdict =
  | { ok: true; reason: string }
  | { ok: false; reason: string; switchLsn?: string };

/**
 * Can a cluster whose WAL ends at `local` stream from a primary on `primaryTimeline`, whose
 * history (its `.history` file, oldest switch first) is `history`? Only when its timeline is the
 * primary's, or an ancestor the primary left at or after `local`: a cluster that wrote past the
 * switch point (an old primary that kept accepting commits the standby never received) holds
 * rows the primary does not have, and replaying the primary's WAL over them would corrupt it.
 *
 * @example
 * judgeRejoin({ timeline: 1, lsn: parseLsn('0/5000100') }, 2, [{ timeline: 1, switchLsn: '0/5000000', reason: '' }]);
 * // { ok: false, reason: 'it wrote WAL on timeline 1 up to 0/5000100, past 0/5000000 where the primary left timeline 1 for 2', ... }
 */
export function judgeRejoin(local: WalPosition, primaryTimeline: number, history: readonly TimelineSwitch[]): RejoinVerdict {
  const at = formatLsn(local.lsn);
  if (local.timeline === primaryTimeline) return { ok: true, reason: `it is on the primary's timeline ${primaryTimeline} (WAL to ${at})` };
  if (local.timeline > primaryTimeline) {
    return { ok: false, reason: `it is on timeline ${local.timeline}, newer than the primary's ${primaryTimeline}: it was promoted after the primary was` };
  }
  const left = history.find((entry) => entry.timeline === local.timeline);
  if (!left) return { ok: false, reason: `timeline ${local.timeline} is not in the primary's history (timeline ${primaryTimeline}): another lineage` };
  // The next timeline after ours in the primary's ancestry starts at the switch point.
  const next = history[history.indexOf(left) + 1]?.timeline ?? primaryTimeline;
  if (local.lsn > parseLsn(left.switchLsn)) {
    return {
      ok: false,
      reason: `it wrote WAL on timeline ${local.timeline} up to ${at}, past ${left.switchLsn} where the primary left timeline ${local.timeline} for ${next}: those transactions are not on the primary`,
      switchLsn: left.switchLsn,
    };
  }
  return { ok: true, reason: `its WAL (timeline ${local.timeline} to ${at}) ends at or before ${left.switchLsn}, where the primary left timeline ${local.timeline}` };
}

import type { Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';
import { formatLsn } from '../backup/wal.ts';
import { readServerPosition } from './primary-history.ts';
import { judgeRejoin, type RejoinVerdict } from './timeline.ts';
import { localWalEnd } from './wal-end.ts';

export interface RejoinCheck extends Extract<RejoinVerdict, { ok: true }> {
  /** Where this cluster's WAL ends, and the primary's timeline. */
  localEnd: string;
  localTimeline: number;
  primaryTimeline: number;
}

/**
 * Before a stopped cluster starts as a standby of `primary` (a superuser connection): same
 * database system, and no WAL of its own past the point where the primary's timeline left its
 * own (see judgeRejoin). Otherwise STANDBY_DIVERGED, naming the re-seed; `describe` names the
 * cluster and the primary in the messages ("the standby in .jeex-db-b", "the primary on port 5418").
 *
 * @example
 * await checkRejoin(layout.pgdata, primarySql, { cluster: 'the cluster in .jeex-db', primary: 'the primary on 127.0.0.1:5419', reseed: 'jeex-db standby --data-dir .jeex-db --from .jeex-db-b --reseed' });
 */
export async function checkRejoin(pgdata: string, primary: Sql, describe: { cluster: string; primary: string; reseed: string }): Promise<RejoinCheck> {
  const [local, remote] = await Promise.all([localWalEnd(pgdata), readServerPosition(primary)]);
  const hint = `Re-seed it from the primary: \`${describe.reseed}\` (its data directory is replaced by a fresh copy of the primary's; the backups beside it are kept).`;
  if (local.control.systemIdentifier !== remote.systemIdentifier) {
    throw new JeexDbError('STANDBY_DIVERGED', `${describe.cluster} is another database system (${local.control.systemIdentifier}) than ${describe.primary} (${remote.systemIdentifier}): it cannot stream from it`, {
      hint,
    });
  }
  if (remote.inRecovery) {
    throw new JeexDbError('STANDBY_FAILED', `${describe.primary} is itself a standby (in recovery): jeex-db makes standbys of a primary only`, {
      hint: 'Point --from at the primary (`jeex-db health` there says postgresql:recovery false).',
    });
  }
  const verdict = judgeRejoin(local, remote.timeline, remote.history);
  if (!verdict.ok) {
    throw new JeexDbError('STANDBY_DIVERGED', `${describe.cluster} cannot follow ${describe.primary}: ${verdict.reason}`, {
      hint,
      context: { localTimeline: local.timeline, localEnd: formatLsn(local.lsn), primaryTimeline: remote.timeline, ...(verdict.switchLsn ? { switchLsn: verdict.switchLsn } : {}) },
    });
  }
  return { ...verdict, localEnd: formatLsn(local.lsn), localTimeline: local.timeline, primaryTimeline: remote.timeline };
}

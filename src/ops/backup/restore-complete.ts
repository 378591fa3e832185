import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JeexDbError } from '../../core/errors.ts';
import type { LocalLayout } from '../../local/layout.ts';
import { readLogSince } from '../../platform/log-file.ts';
import { readArchivedWal, type ArchivedWal } from './archived-wal.ts';
import type { BackupRecord, BackupRepo } from './repo.ts';
import { parseLsn, parseTimelineHistory } from './wal.ts';
import type { WalDamage } from './wal-reader.ts';

/** The archive's WAL read beside a recovery (both read the same segments; neither waits for the other). */
export interface ArchiveCheck {
  done: Promise<{ wal?: ArchivedWal; error?: unknown }>;
  cancel(): void;
}

/** Start reading the WAL a restore from `record` replays (see readArchivedWal); never rejects. */
export function checkArchiveBeside(repo: BackupRepo, record: BackupRecord): ArchiveCheck {
  const controller = new AbortController();
  const done = readArchivedWal(repo, record, { signal: controller.signal }).then(
    (wal) => ({ wal }),
    (error: unknown) => ({ error }),
  );
  return { done, cancel: () => controller.abort() };
}

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

/**
 * Where the replayed WAL ended: the switch point the promotion wrote into the new timeline's
 * `.history` file (the end of the last record replayed, as recovery's EndOfLog).
 */
export async function replayedTo(layout: LocalLayout, timeline: number): Promise<string | undefined> {
  try {
    const history = parseTimelineHistory(await readFile(join(layout.pgdata, 'pg_wal', `${hex8(timeline)}.history`), 'utf8'));
    return history.at(-1)?.switchLsn;
  } catch {
    return undefined;
  }
}

function damageSentence(damage: WalDamage): string {
  return damage.kind === 'missing'
    ? `WAL segment ${damage.segment} is missing from the archive (a gap at LSN ${damage.lsn})`
    : `WAL segment ${damage.segment} is damaged at offset ${damage.offset} (LSN ${damage.lsn}): ${damage.problem}`;
}

function keepAndBackUp(damage: WalDamage): string {
  return damage.kind === 'missing'
    ? 'Find the missing segment (another copy of the archive) and restore again, or take a new base backup of the source now (`jeex-db backup`): WAL after it restores.'
    : `Keep ${damage.segment} for forensics, and take a new base backup of the source now (\`jeex-db backup\`): WAL after it restores.`;
}

/**
 * A recovery that failed short of its target (RESTORE_TARGET_UNREACHABLE, RESTORE_FAILED) when
 * the archive is damaged before the target: the error says where the WAL is damaged instead of
 * "the archive ends before it". Other errors are returned as they are.
 */
export async function explainWithArchive(error: unknown, archive: ArchiveCheck): Promise<unknown> {
  if (!(error instanceof JeexDbError) || (error.code !== 'RESTORE_TARGET_UNREACHABLE' && error.code !== 'RESTORE_FAILED')) {
    archive.cancel();
    return error;
  }
  const { wal } = await archive.done;
  const damage = wal?.damage;
  if (!damage || !wal.read) return error;
  const before = wal.read.lastRecordLsn ? `--target-lsn ${wal.read.lastRecordLsn} restores everything before the damage` : 'no point after the backup can be restored from this archive';
  return new JeexDbError(error.code, `${error.message.replace(/: the archive in .* ends before it$/, '')}: ${damageSentence(damage)}; recovery stops at ${wal.read.endLsn}`, {
    hint: `Pick a target before ${damage.lsn} (${before}). ${keepAndBackUp(damage)}`,
    ...(error.logExcerpt ? { logExcerpt: error.logExcerpt } : {}),
    context: { damage, validTo: wal.read.endLsn },
    cause: error,
  });
}

const RECOVERY_STOP = /incorrect resource manager data checksum|invalid record length|invalid magic number|unexpected pageaddr|incorrect prev-link|contrecord|invalid info bits|out-of-sequence timeline|invalid resource manager ID|redo done at|archive recovery complete/;

/**
 * After a restore to the latest point: a RESTORE_INCOMPLETE error when recovery did not replay
 * the archive's WAL to its end (the archive is damaged or has a gap before it, or recovery
 * stopped short for another reason), else undefined. A restore to any other target is PostgreSQL's
 * to check: it refuses to promote before reaching it.
 */
export async function incompleteRestore(
  archive: ArchiveCheck,
  facts: { latest: boolean; to: string; layout: LocalLayout; logOffset: number; replayedTo: string | undefined; lastCommitAt: string | null },
): Promise<JeexDbError | undefined> {
  if (!facts.latest) {
    archive.cancel();
    return undefined;
  }
  const { wal, error } = await archive.done;
  if (error || !wal?.read) {
    return new JeexDbError('RESTORE_INCOMPLETE', `the restored cluster in ${facts.to} cannot be shown to hold all the archived WAL: ${error ? `reading the archive failed (${(error as Error).message})` : 'no archived WAL segment was found for the backup'}`, {
      hint: 'Check that the repository\'s wal/ directory is readable, then run the restore again.',
      ...(error ? { cause: error } : {}),
    });
  }
  const read = wal.read;
  const replayed = facts.replayedTo;
  const log = await readLogSince(facts.layout.serverLog, facts.logOffset).catch(() => [] as string[]);
  // Without the .history file, the log's "redo done at" (the last record replayed) against the archive's last valid record.
  const redoDone = /redo done at ([0-9A-F]+\/[0-9A-F]+)/.exec(log.join('\n'))?.[1];
  const reachedEnd =
    replayed !== undefined
      ? parseLsn(replayed) >= parseLsn(read.endLsn)
      : redoDone !== undefined && read.lastRecordLsn !== undefined && parseLsn(redoDone) >= parseLsn(read.lastRecordLsn);
  if (!wal.damage && reachedEnd) return undefined;
  const logExcerpt = log.filter((line) => RECOVERY_STOP.test(line)).slice(-6);
  const commit = facts.lastCommitAt ? ` (last replayed commit at ${facts.lastCommitAt})` : '';
  const stopped = `recovery stopped at ${replayed ?? (redoDone ? `the record at ${redoDone}` : 'an unknown LSN')}${commit}`;
  const context = { replayedTo: replayed ?? null, validTo: read.endLsn, archiveEnd: wal.archiveEnd ?? null, newestSegment: wal.newest ?? null, ...(wal.damage ? { damage: wal.damage } : {}) };
  const partial = `The cluster in ${facts.to} is stopped and holds only what was committed before that point`;
  if (wal.damage) {
    const exact = read.lastRecordLsn ? `; to keep it as the restore on purpose, restore again with --target-lsn ${read.lastRecordLsn} (which reaches exactly that point)` : '';
    return new JeexDbError(
      'RESTORE_INCOMPLETE',
      `restore is incomplete: ${stopped}, but the archive holds WAL up to ${wal.archiveEnd ?? 'a later point'} (${wal.newest ?? 'its newest segment'}): ${damageSentence(wal.damage)}. What was committed after ${read.endLsn} is not in the restored cluster`,
      { hint: `${partial}${exact}. ${keepAndBackUp(wal.damage)}`, logExcerpt, context },
    );
  }
  return new JeexDbError(
    'RESTORE_INCOMPLETE',
    `restore is incomplete: ${stopped}, but the archive's WAL reads as valid up to ${read.endLsn} (${wal.newest ?? 'its newest segment'})`,
    { hint: `${partial}. Read ${facts.layout.serverLog} for why recovery stopped, then restore again.`, logExcerpt, context },
  );
}

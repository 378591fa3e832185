import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { JeexDbError } from '../../core/errors.ts';
import { backupFiles } from './record.ts';
import { parseBackupRecord } from './record-schema.ts';
import { backupDir, type BackupRecord, type BackupRepo } from './repo.ts';
import type { RestoreTarget } from './restore-target.ts';

/** A backup directory whose tarball is there but whose `backup.json` cannot be relied on. */
export interface DamagedBackup {
  /** The directory's name: the backup's id. */
  id: string;
  /** `<repo>/base/<id>/backup.json`. */
  recordFile: string;
  /** What is wrong: `backup.json is missing`, `not valid JSON (...)`, a field that is wrong. */
  problem: string;
  /** `base.tar.gz` or `base.tar.gz.enc`: the data is still there. */
  tarball: string;
  /** Whether `backup_manifest` is there too (what `backups repair` rebuilds the record from). */
  manifest: boolean;
}

export interface BackupCatalog {
  /** Backups whose record is sound, oldest (by stop time) first. */
  backups: BackupRecord[];
  /** Backups whose record is damaged or missing, by id. */
  damaged: DamagedBackup[];
}

const BACKUP_ID = /^\d{8}T\d{6}Z$/;
const exists = (path: string) => stat(path).then(() => true, () => false);

/**
 * Every backup directory of the repository, read once: the sound records, and the directories
 * that hold a tarball with a `backup.json` that cannot be parsed, misses a field, or is gone
 * (never silently left out: their data may be the only copy). `<id>.partial` (unfinished) and
 * `<id>.deleting` (being pruned) directories are neither.
 *
 * @example
 * const { backups, damaged } = await readBackupCatalog(repo);
 * for (const d of damaged) console.error(`${d.recordFile}: ${d.problem}`);
 */
export async function readBackupCatalog(repo: BackupRepo): Promise<BackupCatalog> {
  const names = await readdir(repo.base).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const backups: BackupRecord[] = [];
  const damaged: DamagedBackup[] = [];
  for (const name of names.sort()) {
    if (!BACKUP_ID.test(name)) continue;
    const files = backupFiles(repo, name);
    const tarball = (await exists(files.tarball)) ? 'base.tar.gz' : (await exists(`${files.tarball}.enc`)) ? 'base.tar.gz.enc' : undefined;
    let text: string | undefined;
    let problem: string | undefined;
    try {
      text = await readFile(files.record, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') continue;
      problem = code === 'ENOENT' ? 'backup.json is missing' : `backup.json cannot be read (${code ?? String(error)})`;
    }
    if (text !== undefined) {
      const parsed = parseBackupRecord(text, name);
      if (parsed.ok) {
        backups.push(parsed.record);
        continue;
      }
      problem = `backup.json is damaged: ${parsed.problem}`;
    }
    const manifest = await exists(files.manifest);
    // No record and no manifest beside a tarball: what an interrupted deletion by an older
    // version leaves (prune's business, see prune.ts), not a backup anyone could restore.
    if (!tarball || (problem === 'backup.json is missing' && !manifest)) continue;
    damaged.push({ id: name, recordFile: files.record, problem: problem ?? 'backup.json cannot be read', tarball, manifest });
  }
  backups.sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt));
  return { backups, damaged };
}

/** BACKUP_RECORD_DAMAGED for one backup: the file, what is wrong, and how to get the backup back. */
export function damagedRecordError(repo: BackupRepo, damaged: DamagedBackup, alternative?: string): JeexDbError {
  return new JeexDbError('BACKUP_RECORD_DAMAGED', `Backup ${damaged.id} cannot be used as it is: ${damaged.recordFile}: ${damaged.problem}. Its data (${join(backupDir(repo, damaged.id), damaged.tarball)}) is still there.`, {
    hint: `Rebuild the record from the tarball, its backup_manifest and the WAL archive with \`jeex-db backups repair ${damaged.id}\`${alternative ? `, or ${alternative}` : ''}.`,
    context: { id: damaged.id, recordFile: damaged.recordFile, problem: damaged.problem, repo: repo.root },
  });
}

/**
 * The backup a command asked for by id: its sound record, or BACKUP_RECORD_DAMAGED when its
 * record is damaged, or undefined when there is no such backup.
 */
export function findBackup(repo: BackupRepo, catalog: BackupCatalog, id: string): BackupRecord | undefined {
  const record = catalog.backups.find((b) => b.id === id);
  if (record) return record;
  const damaged = catalog.damaged.find((d) => d.id === id);
  if (damaged) throw damagedRecordError(repo, damaged);
  return undefined;
}

/**
 * Damaged backups that could have been the right one for a command that picked `picked` by
 * itself: newer ones when it wanted the newest fitting backup, older ones when it wanted the
 * oldest. `startedBefore` leaves out backups that started after a target time (they cannot reach
 * it). Such a command must not go on as if they did not exist.
 */
export function damagedCandidates(damaged: readonly DamagedBackup[], picked: BackupRecord | undefined, prefer: 'newest' | 'oldest', startedBefore?: Date): DamagedBackup[] {
  const beforeTarget = (d: DamagedBackup) => !startedBefore || idTime(d.id) <= startedBefore.getTime();
  if (!picked) return damaged.filter(beforeTarget);
  return damaged.filter((d) => beforeTarget(d) && (prefer === 'newest' ? d.id > picked.id : d.id < picked.id));
}

/** The start time an id stands for (`20261125T174501Z`). */
function idTime(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(id);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) : Number.NaN;
}

/**
 * The newest backup (by start, i.e. id), for a command that defaults to it (`verify`):
 * BACKUP_RECORD_DAMAGED when the newest one's record is damaged, undefined when there is none.
 */
export function newestBackup(repo: BackupRepo, catalog: BackupCatalog): BackupRecord | undefined {
  const newest = [...catalog.backups].sort((a, b) => a.id.localeCompare(b.id)).at(-1);
  const damaged = catalog.damaged.filter((d) => !newest || d.id > newest.id).at(-1);
  if (damaged) throw damagedRecordError(repo, damaged, newest ? `name another backup (e.g. ${newest.id})` : undefined);
  return newest;
}

/**
 * For a restore that picked its backup itself: BACKUP_RECORD_DAMAGED when a backup with a
 * damaged record could have been the one to start from (see damagedCandidates), naming it and
 * the way on with the backup that was picked (`--backup <id>`).
 */
export function refuseDamagedCandidates(repo: BackupRepo, catalog: BackupCatalog, picked: BackupRecord | undefined, target: RestoreTarget): void {
  const prefer = 'xid' in target || 'name' in target ? 'oldest' : 'newest';
  const [first] = damagedCandidates(catalog.damaged, picked, prefer, 'time' in target ? target.time : undefined);
  if (!first) return;
  throw damagedRecordError(repo, first, picked ? `restore from backup ${picked.id} instead with --backup ${picked.id}` : undefined);
}

import { lstat, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { JeexDbError } from '../../core/errors.ts';
import { cleanArchiveTemp } from './archive-temp.ts';
import { renameDurable } from '../../platform/durable-fs.ts';
import { parseManifest } from './manifest.ts';
import { backupFiles } from './record.ts';
import { parseBackupRecord } from './record-schema.ts';
import type { BackupRecord, BackupRepo } from './repo.ts';
import { humanAge, planRetention, resolveRetention, type RetentionPolicy } from './retention.ts';
import { DEFAULT_WAL_SEGMENT_SIZE, listWalArchive, parseWalName, segmentNumber, walFileForLsn } from './wal.ts';

export interface PruneOptions {
  /** Keep the newest this many backups. Default: `JEEX_BACKUP_KEEP_COUNT`, else 7. */
  keepCount?: number;
  /** Keep every backup younger than this many days. Default: `JEEX_BACKUP_KEEP_DAYS`, else 14. */
  keepDays?: number;
  /** Change nothing; report what would go. */
  dryRun?: boolean;
  now?: () => Date;
  /** Where the JEEX_BACKUP_KEEP_* variables are read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

export interface PruneResult {
  /**
   * Backup ids deleted (or that would be, with `dryRun`), oldest first, followed by the
   * directories of interrupted backups (`<id>.partial`, untouched for more than a day).
   */
  deleted: string[];
  /** Complete backups that stay, oldest first. */
  kept: string[];
  /** Archive files deleted: segments, `.partial` and `.backup` files before the WAL cutoff. */
  walDeleted: string[];
  /** Backups whose backup.json is damaged or missing: never deleted, nor the WAL they need. */
  damaged: string[];
  /** basic_archive's stale temporary files (`archtemp.*`, untouched for 10 minutes) deleted. */
  archiveTempDeleted: string[];
  /** Archive files that stay (segments, `.partial`, `.backup` and `.history` files). */
  walKept: number;
  /** Bytes deleted (or that would be). */
  freedBytes: number;
  dryRun: boolean;
  /** Why each backup or directory goes or stays (also directories left alone, e.g. a running backup). */
  reasons: Record<string, string>;
  /** The policy applied. */
  policy: RetentionPolicy;
  /** The oldest kept backup's start WAL file: archive files before it were deleted. Absent without backups. */
  walCutoff?: string;
  /** Things a person should know, e.g. that every backup failed verification. */
  warnings: string[];
}

/** An interrupted backup: a `.partial` directory nothing wrote into for this long. */
const STALE_PARTIAL_MS = 86_400_000;

type BaseEntry =
  | { kind: 'backup'; name: string; record: BackupRecord }
  | { kind: 'unfinished'; name: string; lastWrite: number; why: string; now?: boolean }
  | { kind: 'damaged'; name: string; problem: string; start?: { lsn: string; timeline: number } };

/** The newest modification time of a directory and what it directly holds (a running backup writes there). */
async function lastWrite(dir: string): Promise<number> {
  let newest = (await stat(dir)).mtimeMs;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const info = await lstat(join(dir, name)).catch(() => undefined);
    if (info && info.mtimeMs > newest) newest = info.mtimeMs;
  }
  return newest;
}

async function sizeOf(path: string): Promise<number> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return 0;
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(path)) total += await sizeOf(join(path, name));
  return total;
}

async function readBase(repo: BackupRepo): Promise<BaseEntry[]> {
  const names = await readdir(repo.base, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const entries: BaseEntry[] = [];
  for (const dirent of names.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!dirent.isDirectory()) continue;
    const dir = join(repo.base, dirent.name);
    if (dirent.name.endsWith('.partial')) {
      entries.push({ kind: 'unfinished', name: dirent.name, lastWrite: await lastWrite(dir), why: 'an interrupted backup (.partial)' });
      continue;
    }
    if (dirent.name.endsWith(DELETING)) {
      // Renamed by a prune before it deleted it: finish the deletion.
      entries.push({ kind: 'unfinished', name: dirent.name, lastWrite: await lastWrite(dir), why: 'a backup whose deletion was interrupted (.deleting)', now: true });
      continue;
    }
    if (!/^\d{8}T\d{6}Z$/.test(dirent.name)) continue;
    const files = backupFiles(repo, dirent.name);
    let text: string;
    try {
      text = await readFile(files.record, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        entries.push(await damagedEntry(repo, dirent.name, `backup.json cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`));
        continue;
      }
      // No record but a manifest and a tarball: a backup whose record was lost (repairable).
      const complete = (await exists(files.manifest)) && ((await exists(files.tarball)) || (await exists(`${files.tarball}.enc`)));
      if (complete) entries.push(await damagedEntry(repo, dirent.name, 'backup.json is missing'));
      // Otherwise what an older version's interrupted deletion left (it removed the record first).
      else entries.push({ kind: 'unfinished', name: dirent.name, lastWrite: await lastWrite(dir), why: 'a backup whose deletion was interrupted (no backup.json)' });
      continue;
    }
    const parsed = parseBackupRecord(text, dirent.name);
    entries.push(parsed.ok ? { kind: 'backup', name: dirent.name, record: parsed.record } : await damagedEntry(repo, dirent.name, `backup.json is damaged: ${parsed.problem}`));
  }
  return entries;
}

const DELETING = '.deleting';
const exists = (path: string) => stat(path).then(() => true, () => false);

/** A backup with a damaged record: kept, and the WAL from its start (per its manifest) kept too. */
async function damagedEntry(repo: BackupRepo, name: string, problem: string): Promise<BaseEntry> {
  try {
    const manifest = parseManifest(await readFile(backupFiles(repo, name).manifest, 'utf8'));
    const range = manifest.walRanges[0];
    if (range) return { kind: 'damaged', name, problem, start: { lsn: range.startLsn, timeline: range.timeline } };
  } catch {
    // No readable manifest: nothing says which WAL the backup needs.
  }
  return { kind: 'damaged', name, problem };
}

/** Archive files before `cutoff`: segments, and `.partial`/`.backup` files named after one. */
function walBefore(names: string[], cutoff: bigint, segSize: number): string[] {
  return names.filter((name) => {
    const parsed = parseWalName(name.slice(0, 24));
    return parsed !== undefined && segmentNumber(parsed, segSize) < cutoff;
  });
}

function failed(action: string, repo: BackupRepo, error: unknown): JeexDbError {
  const code = (error as NodeJS.ErrnoException).code;
  return new JeexDbError('BACKUP_FAILED', `Pruning ${repo.root} failed while deleting ${action}${code ? ` (${code})` : ''}: ${error instanceof Error ? error.message : String(error)}.`, {
    hint: `Check that this user may delete files in ${repo.root} (the WAL archive belongs to the server's OS user), then run \`jeex-db backups prune\` again; what was deleted already is consistent.`,
    cause: error,
    context: { repo: repo.root },
  });
}

/**
 * Apply the retention policy to a backup repository: keep the newest `keepCount` backups and
 * those younger than `keepDays`, never the last valid one (nor, when every backup failed
 * verification, any), remove `.partial` directories untouched for a day, then delete the
 * archived WAL before the oldest kept backup's start (`.history` files always stay). Backups go
 * first and WAL second, so a crash in between never leaves a backup without its WAL.
 *
 * @example
 * const result = await pruneBackups(defaultRepo(localLayout()), { keepCount: 3, dryRun: true });
 * console.log(result.deleted, result.walDeleted.length, result.freedBytes);
 */
export async function pruneBackups(repo: BackupRepo, options: PruneOptions = {}): Promise<PruneResult> {
  const policy = resolveRetention(
    { ...(options.keepCount !== undefined ? { keepCount: options.keepCount } : {}), ...(options.keepDays !== undefined ? { keepDays: options.keepDays } : {}) },
    options.env ?? process.env,
  );
  const now = (options.now ?? (() => new Date()))();
  const dryRun = Boolean(options.dryRun);
  const entries = await readBase(repo);
  const records = entries.flatMap((e) => (e.kind === 'backup' ? [e.record] : []));
  const plan = planRetention(records, policy, now);
  const reasons: Record<string, string> = Object.fromEntries([...plan.keep, ...plan.drop]);
  const dirOf = new Map(entries.map((e) => [e.kind === 'backup' ? e.record.id : e.name, e.name]));

  const stale: string[] = [];
  const damaged = entries.flatMap((e) => (e.kind === 'damaged' ? [e] : []));
  for (const entry of entries) {
    if (entry.kind === 'damaged') reasons[entry.name] = `${entry.problem}: left alone with its WAL; run \`jeex-db backups repair ${entry.name}\` to rebuild the record from its tarball`;
    if (entry.kind !== 'unfinished') continue;
    const age = now.getTime() - entry.lastWrite;
    if (entry.now || age > STALE_PARTIAL_MS) {
      stale.push(entry.name);
      reasons[entry.name] = `${entry.why}, last written ${humanAge(age)} ago`;
    } else {
      reasons[entry.name] = `${entry.why}, last written ${humanAge(age)} ago: left alone, it may still be running`;
    }
  }

  let freedBytes = 0;
  const deleted = [...plan.drop.keys(), ...stale];
  for (const id of deleted) {
    const dir = join(repo.base, dirOf.get(id) ?? id);
    freedBytes += await sizeOf(dir);
    if (dryRun) continue;
    try {
      // Renamed first (durably): from then on no reader takes the directory for a backup, and a
      // crash halfway leaves `<id>.deleting`, which the next prune finishes.
      if (plan.drop.has(id)) {
        await renameDurable(dir, `${dir}${DELETING}`);
        await rm(`${dir}${DELETING}`, { recursive: true, force: true });
      } else await rm(dir, { recursive: true, force: true });
    } catch (error) {
      throw failed(`backup ${id}`, repo, error);
    }
  }

  // The WAL cutoff: the lowest start segment of the kept backups (the oldest one's, unless a
  // restore branched the history), compared by segment number across timelines as
  // pg_archivecleanup does. Without a kept backup nothing says what recovery needs: keep all.
  // Backups with a damaged record count as kept, from their manifest's start.
  const kept = [
    ...records.filter((r) => plan.keep.has(r.id)),
    ...damaged.map((d) => {
      // The segment size of the sound backups (the cluster's, fixed at initdb), else the default.
      const walSegmentBytes = records.find((r) => r.walSegmentBytes)?.walSegmentBytes ?? DEFAULT_WAL_SEGMENT_SIZE;
      return { id: d.name, startWalFile: d.start ? walFileForLsn(d.start.lsn, d.start.timeline, walSegmentBytes) : '', walSegmentBytes };
    }),
  ];
  let cutoff: { file: string; segno: bigint; segSize: number } | undefined;
  for (const record of kept) {
    const parsed = parseWalName(record.startWalFile);
    const segSize = record.walSegmentBytes ?? DEFAULT_WAL_SEGMENT_SIZE;
    if (!parsed) {
      cutoff = undefined;
      plan.warnings.push(`backup ${record.id} has no readable start WAL file (${JSON.stringify(record.startWalFile)}): no WAL was deleted`);
      break;
    }
    const segno = segmentNumber(parsed, segSize);
    if (!cutoff || segno < cutoff.segno) cutoff = { file: record.startWalFile, segno, segSize };
  }
  const wal = await listWalArchive(repo);
  const walFiles = [...wal.segments, ...wal.partial, ...wal.backup];
  const walDeleted = cutoff ? walBefore(walFiles, cutoff.segno, cutoff.segSize).sort() : [];
  for (const name of walDeleted) {
    const path = join(repo.wal, name);
    freedBytes += (await lstat(path).catch(() => undefined))?.size ?? 0;
    if (dryRun) continue;
    try {
      await unlink(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw failed(`WAL file ${name}`, repo, error);
    }
  }

  const temp = await cleanArchiveTemp(repo, { now: () => now, dryRun });
  freedBytes += temp.freedBytes;

  return {
    deleted,
    kept: [...plan.keep.keys()],
    damaged: damaged.map((d) => d.name),
    archiveTempDeleted: temp.removed.map((f) => f.name),
    walDeleted,
    walKept: walFiles.length + wal.history.length - walDeleted.length,
    freedBytes,
    dryRun,
    reasons,
    policy,
    ...(cutoff ? { walCutoff: cutoff.file } : {}),
    warnings: plan.warnings,
  };
}

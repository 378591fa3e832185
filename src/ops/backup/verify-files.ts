import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { list, type ReadEntry } from 'tar';
import type { EncryptionKey } from '../../crypto/keys.ts';
import { parseBackupLabel, readBackupHistory } from './backup-label.ts';
import { manifestChecksumValid, parseManifest, type Manifest } from './manifest.ts';
import { backupFiles, readBackupRecord } from './record.ts';
import { recordMismatches } from './record-consistency.ts';
import type { BackupRecord, BackupRepo } from './repo.ts';
import { openBackupTarball, tarballName } from './tarball.ts';
import { DEFAULT_WAL_SEGMENT_SIZE, checkWalContinuity, parseWalName, segmentNumber, walNameOf } from './wal.ts';

export interface FileProblem {
  /**
   * `missing`: in the manifest, not in the tarball; `extra`: the reverse; `changed`: size or
   * SHA-256 differ; `record`: backup.json disagrees with backup_label, the manifest or the
   * archived backup history file.
   */
  kind: 'missing' | 'extra' | 'changed' | 'manifest' | 'wal' | 'unreadable' | 'record';
  /** The file's path in the backup (or the WAL file name). */
  path?: string;
  message: string;
}

export interface VerifyFilesResult {
  id: string;
  ok: boolean;
  /** What was checked, one line each (for the `verified.steps` of backup.json). */
  steps: string[];
  problems: FileProblem[];
  filesChecked: number;
  bytesChecked: number;
  /** WAL segments from the backup's start to its stop that the archive lacks. */
  missingWal: string[];
}

export interface VerifyFilesOptions {
  /** Keys to decrypt an encrypted backup with (default: the environment's, see `loadKeys`). */
  keys?: readonly EncryptionKey[];
}

/**
 * Check a backup's files without starting a server: re-read `base.tar.gz` (decrypting
 * `base.tar.gz.enc` with `options.keys` or the environment's keys), hash every entry and
 * compare it with `backup_manifest` (missing, extra and changed files), check the manifest's own
 * checksum, hold backup.json against what the server wrote (backup_label in the tarball, the
 * manifest's WAL-Ranges, the archived backup history file: see recordMismatches), and check the
 * archive holds the WAL from the backup's start segment to its stop segment. This is the first half of verification; the proof by restore (amcheck, row counts) is
 * `proveRestore` in `verify-restore.ts` (both run by `verifyBackup` in verify.ts), and whoever runs both records the outcome with
 * `recordVerification` (record.ts).
 *
 * @example
 * const result = await verifyBackupFiles(defaultRepo(localLayout()), '20261125T174501Z');
 * if (!result.ok) for (const p of result.problems) console.error(p.message);
 *
 * An encrypted backup whose key is not given is a BACKUP_DECRYPT_FAILED error (it cannot be
 * checked, which says nothing about its state); one whose bytes fail authentication is a problem.
 */
export async function verifyBackupFiles(repo: BackupRepo, id: string, options: VerifyFilesOptions = {}): Promise<VerifyFilesResult> {
  const record = await readBackupRecord(repo, id);
  const paths = backupFiles(repo, id);
  const tarball = tarballName(record);
  const problems: FileProblem[] = [];
  const steps: string[] = [];
  let filesChecked = 0;
  let bytesChecked = 0;

  let manifestText: string | undefined;
  try {
    manifestText = await readFile(paths.manifest, 'utf8');
  } catch (error) {
    problems.push({ kind: 'manifest', path: 'backup_manifest', message: `backup_manifest cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})` });
  }
  const manifest = (() => {
    if (manifestText === undefined) return undefined;
    const checksum = manifestChecksumValid(manifestText);
    if (!checksum.ok) problems.push({ kind: 'manifest', path: 'backup_manifest', message: `backup_manifest's checksum does not match its contents (the manifest was changed or truncated)` });
    else steps.push('backup_manifest checksum valid');
    try {
      return parseManifest(manifestText);
    } catch (error) {
      problems.push({ kind: 'manifest', path: 'backup_manifest', message: `backup_manifest cannot be parsed: ${(error as Error).message}` });
      return undefined;
    }
  })();
  if (manifest && manifest.systemIdentifier !== record.systemIdentifier) {
    problems.push({ kind: 'manifest', message: `backup_manifest belongs to system ${manifest.systemIdentifier}, backup.json to ${record.systemIdentifier}` });
  }

  if (manifest) {
    // A key that is not given throws here: an error, not a problem of the backup.
    const scan = await scanTarball(paths.dir, record, manifest, options.keys);
    problems.push(...scan.problems);
    filesChecked = scan.filesChecked;
    bytesChecked = scan.bytesChecked;
    const backupLabel = scan.backupLabel;
    if (scan.readToEnd) steps.push(`${filesChecked} files (${bytesChecked} bytes) of ${tarball}${record.encryption ? ` (decrypted with key ${record.encryption.keyId})` : ''} re-hashed against backup_manifest`);

    // The record against what the server wrote: an edited LSN, WAL file or time is named here.
    if (scan.readToEnd) {
      const label = backupLabel === undefined ? undefined : parseBackupLabel(backupLabel);
      // Looked up by the label's start (the server's word), not the record's.
      const start = label ?? record;
      const history = await readBackupHistory(repo, start.startWalFile, start.startLsn, record.walSegmentBytes).catch(() => undefined);
      const mismatches = recordMismatches(record, {
        ...(label ? { label } : {}),
        manifest,
        ...(history ? { history } : {}),
      });
      for (const message of mismatches) problems.push({ kind: 'record', path: 'backup.json', message });
      if (mismatches.length === 0) steps.push(`backup.json agrees with backup_label, backup_manifest's WAL-Ranges${history ? ` and ${history.name}` : ' (no backup history file in the archive)'}`);
    }
  }

  const segmentBytes = record.walSegmentBytes ?? DEFAULT_WAL_SEGMENT_SIZE;
  const wal = await checkWalContinuity(repo, record.startWalFile, record.stopWalFile, segmentBytes);
  for (const name of wal.missing) problems.push({ kind: 'wal', path: name, message: `WAL file ${name} (needed from ${record.startWalFile} to ${record.stopWalFile}) is not in ${repo.wal}` });
  // A segment cut short cannot be replayed either.
  if (wal.ok) {
    for (const name of await segmentsOfWrongSize(repo.wal, record.startWalFile, record.stopWalFile, segmentBytes)) {
      problems.push({ kind: 'wal', path: name, message: `WAL file ${name} in ${repo.wal} is not ${segmentBytes} bytes long` });
    }
    if (!problems.some((p) => p.kind === 'wal')) steps.push(`WAL ${record.startWalFile} to ${record.stopWalFile} present in the archive`);
  }
  return { id, ok: problems.length === 0, steps, problems, filesChecked, bytesChecked, missingWal: wal.missing };
}

export interface TarballScan {
  problems: FileProblem[];
  filesChecked: number;
  bytesChecked: number;
  /** The text of `backup_label` inside the tarball, when it has one. */
  backupLabel?: string;
  /** The text of `PG_VERSION` (the server's major version), when it is there. */
  pgVersion?: string;
  /** The tarball was read to its end (a read, decryption or tar error stops the scan). */
  readToEnd: boolean;
}

/**
 * Read a backup's tarball to the end (decrypted when needed), hash every file and compare it
 * with the manifest (missing, extra, changed), and keep `backup_label`'s text. A key that is
 * not given throws BACKUP_DECRYPT_FAILED before anything is read.
 */
export async function scanTarball(dir: string, record: Pick<BackupRecord, 'id' | 'encryption'>, manifest: Manifest, keys?: readonly EncryptionKey[]): Promise<TarballScan> {
  const tarball = tarballName(record);
  const problems: FileProblem[] = [];
  const expected = new Map(manifest.files.map((file) => [file.path, file]));
  const seen = new Set<string>();
  const pending: Promise<void>[] = [];
  let filesChecked = 0;
  let bytesChecked = 0;
  const kept = new Map<string, string>();
  const stream = openBackupTarball(dir, record, keys);
  try {
    const parser = list({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        if (entry.type !== 'File' && entry.type !== 'OldFile') return entry.resume();
        const path = entry.path;
        const hash = createHash('sha256');
        const text: Buffer[] = [];
        const keep = path === 'backup_label' || path === 'PG_VERSION';
        let size = 0;
        entry.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
          if (keep) text.push(chunk);
        });
        pending.push(
          new Promise((resolve) =>
            entry.on('end', () => {
              seen.add(path);
              filesChecked += 1;
              bytesChecked += size;
              if (keep) kept.set(path, Buffer.concat(text).toString('utf8'));
              const want = expected.get(path);
              const sha256 = hash.digest('hex');
              if (!want) problems.push({ kind: 'extra', path, message: `${path} is in ${tarball} but not in backup_manifest` });
              else if (want.size !== size || want.sha256 !== sha256) {
                problems.push({ kind: 'changed', path, message: `${path} differs from backup_manifest (${want.size !== size ? `size ${size}, expected ${want.size}` : `SHA-256 ${sha256.slice(0, 12)}…, expected ${want.sha256.slice(0, 12)}…`})` });
              }
              resolve();
            }),
          ),
        );
      },
    });
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      parser.on('error', reject);
      parser.on('end', resolve);
      stream.pipe(parser);
    });
    await Promise.all(pending);
    for (const path of expected.keys()) if (!seen.has(path)) problems.push({ kind: 'missing', path, message: `${path} is in backup_manifest but not in ${tarball}` });
    const backupLabel = kept.get('backup_label');
    const pgVersion = kept.get('PG_VERSION')?.trim();
    return { problems, filesChecked, bytesChecked, ...(backupLabel === undefined ? {} : { backupLabel }), ...(pgVersion ? { pgVersion } : {}), readToEnd: true };
  } catch (error) {
    stream.destroy();
    problems.push({ kind: 'unreadable', path: tarball, message: `${tarball} cannot be read to the end: ${(error as Error).message}` });
    return { problems, filesChecked, bytesChecked, readToEnd: false };
  }
}

async function segmentsOfWrongSize(dir: string, first: string, last: string, segmentBytes: number): Promise<string[]> {
  const from = parseWalName(first);
  const to = parseWalName(last);
  if (!from || !to) return [];
  const wrong: string[] = [];
  for (let segno = segmentNumber(from, segmentBytes); segno <= segmentNumber(to, segmentBytes); segno++) {
    const name = walNameOf(to.timeline, segno, segmentBytes);
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info && info.size !== segmentBytes) wrong.push(name);
  }
  return wrong;
}

import { createHash } from 'node:crypto';

/**
 * `backup_manifest` in PostgreSQL's format (version 2), the one pg_basebackup writes and
 * pg_verifybackup reads: one JSON object laid out line by line, per-file SHA-256, the WAL range
 * the backup needs, and a checksum of the manifest itself.
 *
 * The text is produced exactly as the server does (backup_manifest.c), because the
 * Manifest-Checksum is the SHA-256 of the bytes up to and including the newline before the
 * `"Manifest-Checksum"` line.
 */

export interface ManifestFile {
  /** Relative to the data directory, `/`-separated. */
  path: string;
  size: number;
  mtime: Date;
  /** Lower-case hex SHA-256 of the bytes stored. */
  sha256: string;
}

export interface ManifestWalRange {
  timeline: number;
  startLsn: string;
  endLsn: string;
}

export interface Manifest {
  version: 2;
  systemIdentifier: string;
  files: ManifestFile[];
  walRanges: ManifestWalRange[];
  checksum: string;
}

/** `2026-11-25 17:45:01 GMT`, as pg_strftime("%Y-%m-%d %H:%M:%S %Z") writes it in GMT. */
export function manifestTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} GMT`;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** The manifest text. `systemIdentifier` is a decimal string (it does not fit a JS number). */
export function renderManifest(input: { systemIdentifier: string; files: ManifestFile[]; walRanges: ManifestWalRange[] }): { text: string; checksum: string } {
  if (!/^\d+$/.test(input.systemIdentifier)) throw new Error(`bad system identifier: ${input.systemIdentifier}`);
  let body = `{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": ${input.systemIdentifier},\n"Files": [`;
  input.files.forEach((file, index) => {
    body += index === 0 ? '\n' : ',\n';
    body += `{ "Path": ${JSON.stringify(file.path)}, "Size": ${file.size}, "Last-Modified": "${manifestTime(file.mtime)}", "Checksum-Algorithm": "SHA256", "Checksum": "${file.sha256}" }`;
  });
  body += '\n],\n"WAL-Ranges": [\n';
  body += input.walRanges.map((r) => `{ "Timeline": ${r.timeline}, "Start-LSN": "${r.startLsn}", "End-LSN": "${r.endLsn}" }`).join(',\n');
  body += '\n],\n';
  const checksum = sha256(body);
  return { text: `${body}"Manifest-Checksum": "${checksum}"}\n`, checksum };
}

/** Whether the text's Manifest-Checksum matches its contents (the check pg_verifybackup makes). */
export function manifestChecksumValid(text: string): { ok: boolean; expected?: string; actual: string } {
  // The checksum covers everything up to the newline before the last line (the checksum line).
  const lastLine = text.lastIndexOf('\n', text.endsWith('\n') ? text.length - 2 : text.length - 1);
  const covered = lastLine < 0 ? '' : text.slice(0, lastLine + 1);
  const actual = sha256(covered);
  const match = /"Manifest-Checksum":\s*"([0-9a-f]{64})"/.exec(text.slice(lastLine + 1));
  return match?.[1] ? { ok: match[1] === actual, expected: match[1], actual } : { ok: false, actual };
}

interface RawManifest {
  'PostgreSQL-Backup-Manifest-Version': number;
  'System-Identifier'?: number;
  Files: { Path?: string; 'Encoded-Path'?: string; Size: number; 'Last-Modified': string; 'Checksum-Algorithm'?: string; Checksum?: string }[];
  'WAL-Ranges': { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[];
  'Manifest-Checksum': string;
}

/** Parse a manifest's text (the checksum is not checked here: see manifestChecksumValid). */
export function parseManifest(text: string): Manifest {
  const raw = JSON.parse(text) as RawManifest;
  if (raw['PostgreSQL-Backup-Manifest-Version'] !== 2) throw new Error(`unsupported manifest version ${String(raw['PostgreSQL-Backup-Manifest-Version'])}`);
  // The identifier exceeds 2^53: take its digits from the text rather than the parsed number.
  const systemIdentifier = /"System-Identifier":\s*(\d+)/.exec(text)?.[1] ?? '';
  return {
    version: 2,
    systemIdentifier,
    files: raw.Files.map((f) => ({
      path: f.Path ?? Buffer.from(f['Encoded-Path'] ?? '', 'hex').toString('utf8'),
      size: f.Size,
      mtime: new Date(f['Last-Modified'].replace(' GMT', 'Z').replace(' ', 'T')),
      sha256: f['Checksum-Algorithm'] === 'SHA256' ? (f.Checksum ?? '') : '',
    })),
    walRanges: raw['WAL-Ranges'].map((r) => ({ timeline: r.Timeline, startLsn: r['Start-LSN'], endLsn: r['End-LSN'] })),
    checksum: raw['Manifest-Checksum'],
  };
}

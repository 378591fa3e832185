import { z } from 'zod';
import type { BackupRecord } from './repo.ts';

const lsn = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'an LSN like 0/2000028');
const walFile = z.string().regex(/^[0-9A-F]{24}$/, 'a WAL file name of 24 hex digits');
const time = z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'an ISO 8601 time');
const count = z.number().int().nonnegative();

/**
 * What `backup.json` must hold for restore, verify and prune to rely on it. Fields they do not
 * read (row counts aside) may be absent, as in records written by older versions.
 */
const recordSchema = z.looseObject({
  id: z.string().regex(/^\d{8}T\d{6}Z$/, 'an id like 20261125T174501Z'),
  format: z.literal('tar.gz'),
  encryption: z.object({ algorithm: z.literal('AES-256-GCM'), keyId: z.string().regex(/^[0-9a-f]{8}$/) }).optional(),
  startedAt: time,
  stoppedAt: time,
  startLsn: lsn,
  stopLsn: lsn,
  timeline: z.number().int().positive(),
  startWalFile: walFile,
  stopWalFile: walFile,
  systemIdentifier: z.string().regex(/^\d+$/),
  serverVersion: z.string(),
  sizeBytes: count,
  storedBytes: count,
  files: count,
  rowCounts: z.record(z.string(), count),
  walSegmentBytes: z.number().int().positive().optional(),
});

export type ParsedRecord = { ok: true; record: BackupRecord } | { ok: false; problem: string };

/**
 * Parse the text of `<repo>/base/<dir>/backup.json`: the record, or what is wrong with it (not
 * JSON, a field missing or of the wrong kind, an id that is not its directory's name).
 *
 * @example
 * parseBackupRecord('{"id":', '20261125T174501Z'); // { ok: false, problem: 'not valid JSON (...)' }
 */
export function parseBackupRecord(text: string, dirName: string): ParsedRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `not valid JSON (${(error as Error).message})` };
  }
  const parsed = recordSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.') || 'the record'}: ${issue.message}`);
    return { ok: false, problem: `${issues.join('; ')}${parsed.error.issues.length > 3 ? ` and ${parsed.error.issues.length - 3} more` : ''}` };
  }
  if (parsed.data.id !== dirName) return { ok: false, problem: `its id ${parsed.data.id} is not its directory's name ${dirName}` };
  return { ok: true, record: parsed.data };
}

import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { z } from 'zod';
import { writeAtomic } from './files.ts';
import type { LocalLayout } from './layout.ts';
import { parseLocalFile } from './validate.ts';

/** Where a standby's primary is: its address, and its data directory when it is on this machine. */
export interface PrimaryRef {
  host: string;
  port: number;
  /** The primary's jeex-db data directory (absolute), when it is a local cluster. */
  dataDir?: string;
}

/**
 * What `replication.json` says about a cluster:
 * - `standby`: it follows `primary` over `slot` (written by `jeex-db standby`);
 * - `primary`: it was a standby and was promoted (`jeex-db promote`), on `timeline` at `lsn`;
 * - `superseded`: it was the primary until `by` was promoted: it must never start as a primary
 *   again (there would be two), only be re-seeded as a standby.
 */
export type ReplicationRole =
  | { role: 'standby'; name: string; slot: string; primary: PrimaryRef; seededFrom: string; seededAt: string; sync: boolean }
  | { role: 'primary'; promotedAt: string; timeline: number; lsn: string; formerPrimary?: PrimaryRef }
  | { role: 'superseded'; by: PrimaryRef; at: string; timeline: number; lsn: string };

const primaryRef = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535), dataDir: z.string().min(1).optional() });
const lsn = z.string().regex(/^[0-9A-F]+\/[0-9A-F]+$/i);
const schema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('standby'), name: z.string().regex(/^[a-z0-9_]{1,63}$/), slot: z.string().regex(/^[a-z0-9_]{1,63}$/), primary: primaryRef, seededFrom: z.string(), seededAt: z.string(), sync: z.boolean() }),
  z.object({ role: z.literal('primary'), promotedAt: z.string(), timeline: z.number().int().min(1), lsn, formerPrimary: primaryRef.optional() }),
  z.object({ role: z.literal('superseded'), by: primaryRef, at: z.string(), timeline: z.number().int().min(1), lsn }),
]);

/**
 * The cluster's replication role (undefined: no file, a primary on its own). A damaged file is
 * LOCAL_STATE_DAMAGED naming the field: guessing would risk two primaries.
 *
 * @example
 * readReplication(localLayout('.jeex-db-standby'))?.role; // 'standby'
 */
export function readReplication(layout: LocalLayout): ReplicationRole | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(layout.replicationFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseLocalFile<ReplicationRole>(layout.replicationFile, 'replication', bytes, schema);
}

/** Write (atomically) the cluster's replication role; `undefined` removes the file. */
export async function writeReplication(layout: LocalLayout, role: ReplicationRole | undefined): Promise<void> {
  if (!role) {
    await rm(layout.replicationFile, { force: true });
    return;
  }
  await writeAtomic(layout.replicationFile, `${JSON.stringify(schema.parse(role), null, 2)}\n`, 0o644);
}

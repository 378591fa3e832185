import type { Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';

export interface SlotState {
  name: string;
  active: boolean;
  /** reserved / extended / unreserved / lost (pg_replication_slots.wal_status). */
  walStatus: string | null;
  restartLsn: string | null;
}

/**
 * The physical replication slot a standby streams from, created now with its WAL reserved at
 * once (so nothing the standby's base backup needs is recycled before it connects). An existing
 * slot is kept, unless `recreate` (a re-seed: the slot's position belongs to the old copy);
 * one that a standby streams from now cannot be recreated.
 *
 * @example
 * await ensureSlot(primarySql, 'standby_5419', { recreate: false });
 */
export async function ensureSlot(sql: Sql, name: string, options: { recreate: boolean }): Promise<SlotState> {
  const [existing] = await readSlot(sql, name);
  if (existing && options.recreate) {
    if (existing.active) {
      throw new JeexDbError('STANDBY_FAILED', `the primary's slot ${name} is in use by a standby streaming now`, {
        hint: 'Stop that standby (`jeex-db down --data-dir ...`) before re-seeding it, or give the new standby another --name.',
      });
    }
    await sql`SELECT pg_drop_replication_slot(${name})`;
  } else if (existing) {
    return existing;
  }
  await sql`SELECT pg_create_physical_replication_slot(${name}, true)`;
  const [created] = await readSlot(sql, name);
  if (!created) throw new JeexDbError('STANDBY_FAILED', `the primary's slot ${name} vanished right after it was created`, { hint: 'Something drops slots on the primary: look for another tool managing them.' });
  return created;
}

async function readSlot(sql: Sql, name: string): Promise<SlotState[]> {
  return sql<SlotState[]>`
    SELECT slot_name AS name, active, wal_status AS "walStatus", restart_lsn::text AS "restartLsn"
    FROM pg_replication_slots WHERE slot_name = ${name} AND slot_type = 'physical'`;
}

/** Drop a standby's slot on the primary (a standby given up: its slot would keep WAL until max_slot_wal_keep_size). */
export async function dropSlot(sql: Sql, name: string): Promise<boolean> {
  const rows = await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ${name} AND NOT active`;
  return rows.length > 0;
}

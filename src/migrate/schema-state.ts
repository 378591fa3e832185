import type { ReservedSql, Sql, TransactionSql } from 'postgres';
import { catalogObjects, type CatalogObject } from './catalog.ts';
import { migrationOwned } from './live-drift.ts';

type Db = Sql | TransactionSql | ReservedSql;

/**
 * The schema the applied migrations made, recorded by the runner after each migrate, rollback and
 * baseline/mark-applied (in our ledger's schema), so `status` and the health check can compare the
 * live catalog with it cheaply and with no more privileges than reading the ledger.
 */
export const SCHEMA_STATE = 'jeex_migrations.schema_state';
/** Rows kept: the newest is the one compared with; a few older ones help to see when drift began. */
const KEPT = 20;

export interface RecordedSchema {
  recordedAt: Date;
  /** The migrations that were applied when it was recorded, in order. */
  applied: string[];
  /** `migrate`, `rollback`, `baseline`, `mark-applied`. */
  event: string;
  objects: CatalogObject[];
}

/** Created like the ledger (under the migration lock, by the role that owns the ledger). */
export async function ensureSchemaStateTable(sql: Db): Promise<void> {
  await sql.unsafe(`
    CREATE TABLE IF NOT EXISTS ${SCHEMA_STATE} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      recorded_at timestamptz NOT NULL DEFAULT now(),
      applied text[] NOT NULL,
      event text NOT NULL,
      objects jsonb NOT NULL
    )`);
}

/** The newest record, or undefined when there is none (a database migrated before records existed). Read-only. */
export async function readRecordedSchema(sql: Db): Promise<RecordedSchema | undefined> {
  const [exists] = await sql<{ ok: boolean }[]>`SELECT to_regclass('jeex_migrations.schema_state') IS NOT NULL AS ok`;
  if (!exists?.ok) return undefined;
  const [row] = await sql<{ recordedAtMs: number; applied: string[]; event: string; objects: CatalogObject[] }[]>`
    SELECT (extract(epoch FROM recorded_at) * 1000)::float8 AS "recordedAtMs", applied, event, objects
    FROM jeex_migrations.schema_state ORDER BY id DESC LIMIT 1`;
  if (!row) return undefined;
  return { recordedAt: new Date(row.recordedAtMs), applied: row.applied, event: row.event, objects: row.objects };
}

/**
 * Record `objects` (default: the live catalog) as what the migrations in `applied` make.
 *
 * @example
 * await recordSchema(session.work, { applied: ['0000_init'], event: 'migrate' });
 */
export async function recordSchema(sql: Db, entry: { applied: string[]; event: string; objects?: CatalogObject[] }): Promise<void> {
  await ensureSchemaStateTable(sql);
  const objects = entry.objects ?? migrationOwned(await catalogObjects(sql));
  await sql`INSERT INTO jeex_migrations.schema_state (applied, event, objects) VALUES (${entry.applied}, ${entry.event}, ${sql.json(objects as never)})`;
  await sql`DELETE FROM jeex_migrations.schema_state WHERE id <= (SELECT max(id) - ${KEPT} FROM jeex_migrations.schema_state)`;
}

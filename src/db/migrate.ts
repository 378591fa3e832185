import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { JeexDbError } from './errors.ts';
import { translateDbError } from './translate-error.ts';

/** The package's generated migrations (from src/db or dist/db alike). */
export const migrationsFolder = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'drizzle');

interface Journal {
  entries: { idx: number; when: number; tag: string }[];
}

export interface MigrateResult {
  /** Tags of the migrations this run applied, in order. */
  applied: string[];
  /** Every migration in the journal. */
  total: number;
}

/** Advisory-lock key for "someone is migrating this database" ('JEEXMIGR'). */
const MIGRATION_LOCK_KEY = 0x4a4545584d494752n;

/**
 * Apply the pending migrations of `drizzle/` with drizzle-orm's migrator, under an advisory
 * lock so two `up`s at once apply each migration once. (The full runner — one transaction per
 * migration, checksums, rollbacks — is src/migrate, issue #3.)
 */
export async function applyMigrations(url: string, folder: string = migrationsFolder): Promise<MigrateResult> {
  const journal = JSON.parse(await readFile(join(folder, 'meta', '_journal.json'), 'utf8')) as Journal;
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: 'jeex-db migrate' } });
  try {
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
    // drizzle-orm's migrator applies every journal entry newer than the last one recorded.
    const pendingAfter = (last: number) => journal.entries.filter((entry) => entry.when > last).map((entry) => entry.tag);
    const before = await lastApplied(sql);
    const pending = pendingAfter(before);
    try {
      await migrate(drizzle(sql), { migrationsFolder: folder });
    } catch (error) {
      const cause = translateDbError(error);
      throw new JeexDbError('MIGRATION_FAILED', `applying ${pending.join(', ')} failed, all of them were rolled back: ${cause.message}`, {
        hint: 'Fix the migration (or the database state it conflicts with) and run again; the database is as it was before.',
        context: { pending },
        ...(cause.sqlState ? { sqlState: cause.sqlState } : {}),
        cause,
      });
    }
    const after = await lastApplied(sql);
    const applied = pending.filter((tag) => !pendingAfter(after).includes(tag));
    return { applied, total: journal.entries.length };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** `created_at` (the journal's `when`) of the newest recorded migration; 0 when none. */
async function lastApplied(sql: postgres.Sql): Promise<number> {
  const [table] = await sql<{ exists: boolean }[]>`
    SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists`;
  if (!table?.exists) return 0;
  const [row] = await sql<{ last: string | null }[]>`SELECT max(created_at)::text AS last FROM drizzle.__drizzle_migrations`;
  return Number(row?.last ?? 0);
}

import { randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';
import { withDatabase } from '../db/conn-string.ts';
import { connect } from '../db/connect.ts';
import { maskUrl } from '../db/url.ts';
import { JeexDbError } from '../core/errors.ts';
import type { CatalogObject } from './catalog.ts';
import type { MigrationTarget } from './target.ts';
import { compareSchemas, hasMigrationObjects } from './live-drift.ts';
import { liveObjects } from './live-drift-status.ts';
import { migrate } from './runner.ts';
import { loadMigrations } from './source.ts';

/** Where a reference database (the migrations applied to an empty database) can be made. */
export interface ReferenceOptions {
  /** An empty database to migrate and read; it is emptied again afterwards. */
  referenceUrl?: string;
  /**
   * URLs of roles on the same server that may CREATE DATABASE, tried in order: a scratch
   * database is created from template0, migrated, read and dropped.
   */
  serverUrls?: string[];
}

/**
 * Where the CLI builds references: `--reference-url` when given, else a scratch database made by
 * the target's own role, or by the local cluster's superuser when the target is the local cluster.
 */
export function referenceFor(target: MigrationTarget, referenceUrl?: string): ReferenceOptions {
  if (referenceUrl) return { referenceUrl };
  return { serverUrls: [target.url, target.superuserUrl].filter((url): url is string => Boolean(url)) };
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
const client = (url: string, max = 2) => connect(url, { max, onnotice: () => {}, connection: { application_name: 'jeex-db reference' } });

const unavailable = (why: string) =>
  new JeexDbError('MIGRATION_REFERENCE_UNAVAILABLE', `no reference database could be built to compare the schema with: ${why}`, {
    hint: 'Pass --reference-url postgres://... naming an empty database (on a PostgreSQL server of the same major version; it is emptied after use), or run as a role with CREATEDB (the local cluster\'s superuser is used when the target is the local cluster). For `baseline`, `--force` records without the check.',
  });

/** The first server URL whose role may create databases. */
async function creator(urls: string[]): Promise<string> {
  const refused: string[] = [];
  for (const url of urls) {
    const sql = client(url, 1);
    try {
      const [row] = await sql<{ may: boolean; role: string }[]>`SELECT rolcreatedb OR rolsuper AS may, rolname AS role FROM pg_roles WHERE rolname = current_user`;
      if (row?.may) return url;
      refused.push(`${row?.role ?? '?'} at ${maskUrl(url)} may not CREATE DATABASE`);
    } catch (error) {
      refused.push(`${maskUrl(url)}: ${(error as Error).message}`);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
  throw unavailable(refused.join('; ') || 'no server URL and no --reference-url');
}

/** Drop what the runs made in a user-given reference database, so it is empty for the next use. */
async function schemaNames(sql: Sql): Promise<string[]> {
  return (await sql<{ name: string }[]>`SELECT nspname AS name FROM pg_namespace`).map((row) => row.name);
}

/** Drop what the runs made in a user-given reference database: the schemas that were not there (`kept`), and everything in public. */
async function empty(sql: Sql, kept: string[]): Promise<void> {
  for (const name of await schemaNames(sql)) {
    if (!kept.includes(name)) await sql.unsafe(`DROP SCHEMA ${quote(name)} CASCADE`);
  }
  // The ledger, created in schemas that `roles apply` may have made beforehand.
  await sql.unsafe('DROP TABLE IF EXISTS jeex_migrations.ledger, jeex_migrations.schema_state, drizzle.__drizzle_migrations CASCADE');
  const own = `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = o.oid AND d.deptype = 'e')`;
  const objects = await sql.unsafe<{ statement: string }[]>(`
    SELECT format('DROP %s IF EXISTS %s CASCADE', CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, o.oid::regclass) AS statement
    FROM pg_class o WHERE o.relnamespace = 'public'::regnamespace AND o.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${own}
    UNION ALL
    SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', o.oid::regprocedure) FROM pg_proc o WHERE o.pronamespace = 'public'::regnamespace AND ${own}
    UNION ALL
    SELECT format('DROP TYPE IF EXISTS %s CASCADE', o.oid::regtype) FROM pg_type o
    WHERE o.typnamespace = 'public'::regnamespace AND o.typtype IN ('e', 'd', 'c', 'r') AND (o.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = o.typrelid) = 'c') AND ${own}`);
  for (const { statement } of objects) await sql.unsafe(statement);
}

/**
 * The schema the migrations make at each of `points` (migration names, in order), read from a reference database: one scratch database, migrated with our runner to
 * each point in turn, or the empty database of `referenceUrl`.
 *
 * @example
 * const [at0003] = await referenceSchemas({ serverUrls: [superuserUrl] }, 'drizzle', ['0003_encrypt_users']);
 */
export async function referenceSchemas(reference: ReferenceOptions, migrationsDir: string, points: string[]): Promise<CatalogObject[][]> {
  if (reference.referenceUrl) {
    const sql = client(reference.referenceUrl);
    try {
      const present = await liveObjects(sql);
      const [ledger] = await sql<{ rows: boolean }[]>`SELECT to_regclass('jeex_migrations.ledger') IS NOT NULL AS rows`;
      if (hasMigrationObjects(present) || ledger?.rows) {
        throw new JeexDbError('INVALID_CONFIG', `--reference-url ${maskUrl(reference.referenceUrl)} is not an empty database (it has tables, types, functions or a migration ledger)`, {
          hint: 'Create an empty database for it (`CREATE DATABASE jeex_reference`): jeex-db migrates it, reads its catalog and empties it again.',
        });
      }
      const kept = await schemaNames(sql);
      try {
        return await migrateThrough(sql, migrationsDir, points);
      } finally {
        await empty(sql, kept);
      }
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
  const server = await creator(reference.serverUrls ?? []);
  const name = `jeex_reference_${randomBytes(6).toString('hex')}`;
  const admin = client(server, 1);
  try {
    await admin.unsafe(`CREATE DATABASE ${quote(name)} TEMPLATE template0`);
    const sql = client(withDatabase(server, name));
    try {
      return await migrateThrough(sql, migrationsDir, points);
    } finally {
      await sql.end({ timeout: 5 });
    }
  } finally {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`).catch(() => undefined);
    await admin.end({ timeout: 5 });
  }
}

async function migrateThrough(sql: Sql, migrationsDir: string, points: string[]): Promise<CatalogObject[][]> {
  const schemas: CatalogObject[][] = [];
  const quiet = { migrationsDir, restorePoint: false, recordSchema: false, lockWaitMs: 0 } as const;
  for (const point of points) {
    await migrate(sql, { ...quiet, to: point, allowOutOfOrder: true });
    schemas.push(await liveObjects(sql));
  }
  return schemas;
}

/**
 * Which migration a schema matches: the migrations are applied one by one to a reference
 * database and the schema compared at each; the one with no difference, else the closest.
 *
 * @example
 * const match = await matchMigration(await liveObjects(sql), { serverUrls }, 'drizzle'); // { tag: '0004_audit_trail', differences: 0 }
 */
export async function matchMigration(live: CatalogObject[], reference: ReferenceOptions, migrationsDir: string): Promise<{ tag?: string; differences?: number }> {
  const tags = (await loadMigrations(migrationsDir)).migrations.map((m) => m.tag);
  const schemas = await referenceSchemas(reference, migrationsDir, tags);
  let best: { tag?: string; differences?: number } = {};
  schemas.forEach((schema, i) => {
    const count = compareSchemas(schema, live).length;
    if (best.differences === undefined || count <= best.differences) best = { tag: tags[i], differences: count };
  });
  return best;
}

/** For `migrate`'s `identifySchema`: the matching migration, or undefined when no reference can be built. */
export function schemaIdentifier(reference: ReferenceOptions, migrationsDir: string): (live: CatalogObject[]) => Promise<{ tag?: string; differences?: number } | undefined> {
  return async (live) => {
    try {
      return await matchMigration(live, reference, migrationsDir);
    } catch {
      return undefined;
    }
  };
}

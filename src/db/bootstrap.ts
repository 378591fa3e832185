import type { Sql } from 'postgres';
import { scramMatches, scramVerifier } from './scram.ts';

export interface BootstrapOptions {
  database: string;
  migrator: { user: string; password: string };
  app: { user: string; password: string };
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Create (or bring back in line) the application's roles and database. Idempotent: `up` runs
 * it on every start.
 *
 * - the migrator owns the database and therefore the `public` schema and every object the
 *   migrations create;
 * - the app role may connect and read/write rows, never change the schema, and is not a
 *   superuser (the earlier implementation connected as one).
 *
 * `admin` must be a superuser connection to any database of the cluster; `connectTo(db)` opens
 * a superuser connection to another database (for per-database grants).
 */
export async function bootstrapDatabase(
  admin: Sql,
  connectTo: (database: string) => Sql,
  options: BootstrapOptions,
): Promise<{ createdDatabase: boolean }> {
  for (const role of [options.migrator, options.app]) {
    const [existing] = await admin<{ rolpassword: string | null }[]>`SELECT rolpassword FROM pg_authid WHERE rolname = ${role.user}`;
    const verb = existing ? 'ALTER' : 'CREATE';
    // Keep a verifier that already matches: a new salt on every start would change what
    // PgBouncer's auth file must hold, and log a new verifier each time.
    const password = existing && scramMatches(existing.rolpassword, role.password) ? '' : ` PASSWORD '${scramVerifier(role.password)}'`;
    await admin.unsafe(`${verb} ROLE ${ident(role.user)} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS${password}`);
  }
  // The migration runner names the sessions that block it (their state and query), which
  // pg_stat_activity shows another role only with pg_read_all_stats.
  await admin.unsafe(`GRANT pg_read_all_stats TO ${ident(options.migrator.user)}`);
  // Timeouts for the application's sessions as role settings, not startup parameters: PgBouncer
  // rejects unknown startup parameters, and a role setting applies on every server connection.
  await admin.unsafe(`ALTER ROLE ${ident(options.app.user)} SET statement_timeout = '30s'`);
  await admin.unsafe(`ALTER ROLE ${ident(options.app.user)} SET lock_timeout = '10s'`);
  const [db] = await admin`SELECT 1 FROM pg_database WHERE datname = ${options.database}`;
  if (!db) {
    await admin.unsafe(`CREATE DATABASE ${ident(options.database)} OWNER ${ident(options.migrator.user)} ENCODING 'UTF8'`);
  }
  await admin.unsafe(`REVOKE ALL ON DATABASE ${ident(options.database)} FROM PUBLIC`);
  await admin.unsafe(`GRANT CONNECT, TEMPORARY ON DATABASE ${ident(options.database)} TO ${ident(options.app.user)}`);

  const inDb = connectTo(options.database);
  try {
    await grantAppPrivileges(inDb, options.migrator.user, options.app.user);
  } finally {
    await inDb.end({ timeout: 5 });
  }
  return { createdDatabase: !db };
}

/**
 * The app role's privileges inside the database: row access on every table the migrator
 * creates, now and later (default privileges), and the extensions the package relies on.
 */
export async function grantAppPrivileges(sql: Sql, migrator: string, app: string): Promise<void> {
  await sql.unsafe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  // The migration runner marks "just before migration X" for point-in-time recovery.
  await sql.unsafe(`GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO ${ident(migrator)}`);
  await sql.unsafe(`GRANT USAGE ON SCHEMA public TO ${ident(app)}`);
  await sql.unsafe(
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(migrator)} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${ident(app)}`,
  );
  await sql.unsafe(
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(migrator)} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${ident(app)}`,
  );
  await sql.unsafe(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${ident(app)}`);
  await sql.unsafe(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${ident(app)}`);
}

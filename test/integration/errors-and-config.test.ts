import { sql as dsql } from 'drizzle-orm';
import { inspect } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { resolveDbConfig } from '../../src/db/config.ts';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { getUser } from '../../src/db/queries/users.ts';
import { translateDbError } from '../../src/db/translate-error.ts';
import { uuidv7 } from '../../src/core/uuid.ts';
import { freePort } from '../../src/platform/port.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { rejection } from '../helpers/rejections.ts';
import { rawUser, testKeys } from '../helpers/users.ts';

/** Open a client, run `use` with it, close it. */
async function withClient<T>(client: JeexDb, use: (client: JeexDb) => Promise<T>): Promise<T> {
  try {
    return await use(client);
  } finally {
    await client.close(1);
  }
}

/** A raw statement as the client's role, with errors translated as the query functions do. */
async function attempt(client: JeexDb, statement: string): Promise<JeexDbError> {
  return rejection(client.db.execute(dsql.raw(statement)).catch((error: unknown) => Promise.reject(translateDbError(error))));
}

describe('connection errors through createDb', () => {
  const t = useTestDatabase();

  it('a closed port gives CONNECTION_FAILED, naming the address and what to do', async () => {
    const port = await freePort();
    const error = await withClient(createDb({ url: `postgres://app:secret@127.0.0.1:${port}/jeex`, connectTimeout: 5, keys: testKeys() }, {}), (c) =>
      rejection(getUser(c.db, uuidv7())),
    );
    expect(error.code).toBe('CONNECTION_FAILED');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.hint).toMatch(/jeex-db up/);
    expect(error.hint).toMatch(/DATABASE_URL/);
    expect(JSON.stringify(error)).not.toContain('secret');
  });

  it('a wrong password gives AUTHENTICATION_FAILED without revealing the password', async () => {
    const url = new URL(t.appUrl);
    const wrongPassword = 'Wr0ng-Passw0rd-do-not-print';
    url.password = wrongPassword;
    const error = await withClient(createDb({ url: url.toString(), keys: testKeys() }, {}), (c) => rejection(getUser(c.db, uuidv7())));
    expect(error.code).toBe('AUTHENTICATION_FAILED');
    expect(error.sqlState).toBe('28P01');
    expect(error.message).toMatch(/password authentication failed/);
    expect(error.hint).toMatch(/DATABASE_URL|PGPASSWORD/);
    for (const text of [error.message, error.hint ?? '', JSON.stringify(error), inspect(error, { depth: 5 }), String(error)]) {
      expect(text).not.toContain(wrongPassword);
      expect(text).not.toContain(encodeURIComponent(wrongPassword));
    }
  });

  it('an unknown database gives CONNECTION_FAILED saying the database does not exist', async () => {
    const url = new URL(t.appUrl);
    url.pathname = '/jeex_no_such_database';
    const error = await withClient(createDb({ url: url.toString(), keys: testKeys() }, {}), (c) => rejection(getUser(c.db, uuidv7())));
    expect(error.code).toBe('CONNECTION_FAILED');
    expect(error.sqlState).toBe('3D000');
    expect(error.message).toContain('jeex_no_such_database');
    expect(error.hint).toMatch(/[Cc]reate it|database name/);
  });
});

describe('configuration from the environment', () => {
  const t = useTestDatabase();

  it('connects with DATABASE_URL alone', async () => {
    const client = createDb({}, { DATABASE_URL: t.appUrl });
    expect(client.config.source).toBe('DATABASE_URL');
    const [row] = await withClient(client, (c) => c.sql<{ user: string; db: string }[]>`SELECT current_user AS user, current_database() AS db`);
    expect(row).toEqual({ user: decodeURIComponent(new URL(t.appUrl).username), db: t.name });
  });

  it('connects with the libpq PG* variables alone', async () => {
    const url = new URL(t.appUrl);
    const env = {
      PGHOST: url.hostname,
      PGPORT: url.port,
      PGUSER: decodeURIComponent(url.username),
      PGPASSWORD: decodeURIComponent(url.password),
      PGDATABASE: decodeURIComponent(url.pathname.slice(1)),
      // The run's server takes TLS only (verify-full against its CA), as libpq would be told.
      ...(url.searchParams.has('sslmode') ? { PGSSLMODE: url.searchParams.get('sslmode') ?? '' } : {}),
      ...(url.searchParams.has('sslrootcert') ? { PGSSLROOTCERT: url.searchParams.get('sslrootcert') ?? '' } : {}),
    };
    const client = createDb({}, env);
    expect(client.config.source).toBe('PG*');
    const [row] = await withClient(client, (c) => c.sql<{ user: string; db: string }[]>`SELECT current_user AS user, current_database() AS db`);
    expect(row).toEqual({ user: env.PGUSER, db: env.PGDATABASE });
  });

  it('an option overrides DATABASE_URL', async () => {
    const client = createDb({ url: t.appUrl }, { DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/nowhere' });
    expect(client.config.source).toBe('option');
    const [row] = await withClient(client, (c) => c.sql<{ db: string }[]>`SELECT current_database() AS db`);
    expect(row?.db).toBe(t.name);
  });

  it('reports every bad variable at once, each by name (INVALID_CONFIG)', () => {
    let error: unknown;
    try {
      resolveDbConfig({}, { JEEX_DB_POOL_MAX: 'x', JEEX_DB_CONNECT_TIMEOUT: '0', DATABASE_URL: 'mysql://a' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(JeexDbError);
    const e = error as JeexDbError;
    expect(e.code).toBe('INVALID_CONFIG');
    const problems = e.context?.problems as string[];
    expect(problems).toHaveLength(3);
    expect(problems.find((p) => p.startsWith('DATABASE_URL'))).toMatch(/postgres:\/\//);
    expect(problems.find((p) => p.startsWith('JEEX_DB_POOL_MAX'))).toMatch(/whole number.*"x"/);
    expect(problems.find((p) => p.startsWith('JEEX_DB_CONNECT_TIMEOUT'))).toMatch(/duration from 1s.*"0"/);
    for (const name of ['DATABASE_URL', 'JEEX_DB_POOL_MAX', 'JEEX_DB_CONNECT_TIMEOUT']) expect(e.message).toContain(name);
  });

  it('a configuration error opens no connection: createDb throws before connecting', () => {
    expect(() => createDb({}, { DATABASE_URL: t.appUrl, JEEX_DB_POOL_MAX: '0' })).toThrow(/JEEX_DB_POOL_MAX/);
  });
});

describe('least privilege: the application role', () => {
  const t = useTestDatabase();

  it.each([
    ['CREATE TABLE', 'CREATE TABLE app_made (id int)'],
    ['ALTER TABLE users ADD COLUMN', 'ALTER TABLE users ADD COLUMN sneaky text'],
    ['DROP TABLE', 'DROP TABLE exports'],
    ['TRUNCATE users', 'TRUNCATE users'],
    ['CREATE FUNCTION', "CREATE FUNCTION app_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'"],
    ['CREATE SCHEMA', 'CREATE SCHEMA app_schema'],
    ['CREATE INDEX', 'CREATE INDEX app_idx ON users (name)'],
  ])('is refused %s with INSUFFICIENT_PRIVILEGE', async (_what, statement) => {
    const error = await attempt(t.client, statement);
    expect(error.code).toBe('INSUFFICIENT_PRIVILEGE');
    expect(error.sqlState).toBe('42501');
    expect(error.hint).toMatch(/role/);
  });

  it('left the schema as it was after the refused statements', async () => {
    const [row] = await t.admin<{ tables: number; columns: number; functions: number }[]>`
      SELECT (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('app_made', 'exports')) AS tables,
             (SELECT count(*)::int FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'sneaky') AS columns,
             (SELECT count(*)::int FROM pg_proc WHERE proname = 'app_fn') AS functions`;
    expect(row).toEqual({ tables: 1, columns: 0, functions: 0 });
  });

  it('is no superuser and cannot create roles or databases', async () => {
    const [row] = await t.client.sql<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolbypassrls: boolean }[]>`
      SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = current_user`;
    expect(row).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false });
  });

  it('cannot record a migration in drizzle.__drizzle_migrations', async () => {
    const error = await attempt(
      t.client,
      "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('forged', 0)",
    );
    expect(error.code).toBe('INSUFFICIENT_PRIVILEGE');
    const [row] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations WHERE hash = 'forged'`;
    expect(row?.n).toBe(0);
  });

  it('can still read and write rows', async () => {
    const u = rawUser('rows@example.com', 'Rows');
    const [row] = await t.client.sql<{ n: number }[]>`
      WITH u AS (INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name}) RETURNING id)
      SELECT count(*)::int AS n FROM u`;
    expect(row?.n).toBe(1);
    await t.client.sql`DELETE FROM users WHERE email_hash = ${u.email_hash}`;
  });

  it('the migrator role, by contrast, can create and drop a table, which the owner role owns', async () => {
    const migrator = createDb({ url: t.migratorUrl, max: 1 }, {});
    await withClient(migrator, async (c) => {
      await c.sql`CREATE TABLE migrator_made (id int)`;
      const [row] = await c.sql<{ owner: string }[]>`SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'migrator_made'`;
      // Its sessions run as the NOLOGIN owner role (ALTER ROLE ... SET role), so ownership never splits.
      expect(row?.owner).toBe(inject('testServer').roles.owner);
      await c.sql`DROP TABLE migrator_made`;
    });
  });
});

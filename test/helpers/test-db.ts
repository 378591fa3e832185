import { randomBytes } from 'node:crypto';
import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, inject } from 'vitest';
import { applyDatabasePrivileges } from '../../src/ops/roles/database-privileges.ts';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { withDatabase } from './urls.ts';
import { testKeys } from './users.ts';

export interface TestDatabase {
  name: string;
  /** Superuser on this database. */
  adminUrl: string;
  /** The migrator: runs migrations, as the owner role (its sessions SET ROLE to it). */
  migratorUrl: string;
  /** The application role: row access only. What the code under test uses. */
  appUrl: string;
  /** The application role through the run's PgBouncer (transaction mode), when there is one. */
  pooledAppUrl?: string;
  drop(): Promise<void>;
}

function admin(): Sql {
  return connect(inject('testServer').adminUrl, { max: 1, onnotice: () => {} });
}

/**
 * A fresh database for one test file: a copy of the migrated template, or an empty one
 * (`{ empty: true }`) for tests that run migrations themselves.
 */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const server = inject('testServer');
  const name = `jeex_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const sql = admin();
  try {
    const template = options.empty ? 'template0' : server.templateDatabase;
    const { roles } = server;
    // As `roles apply` leaves a database: the owner role owns it, PUBLIC may not even connect.
    await sql.unsafe(`CREATE DATABASE ${name} TEMPLATE ${template} OWNER ${roles.owner}`);
    await sql.unsafe(`REVOKE ALL ON DATABASE ${name} FROM PUBLIC`);
    await sql.unsafe(`GRANT CONNECT ON DATABASE ${name} TO ${roles.migrator}, ${roles.readonly}, ${roles.backup}, ${roles.monitor}`);
    await sql.unsafe(`GRANT CONNECT, TEMPORARY ON DATABASE ${name} TO ${roles.app}`);
  } finally {
    await sql.end();
  }
  const adminUrl = withDatabase(server.adminUrl, name);
  if (options.empty) {
    const inDb = connect(adminUrl, { max: 1, onnotice: () => {} });
    try {
      await applyDatabasePrivileges(inDb, server.roles);
    } finally {
      await inDb.end();
    }
  }
  return {
    name,
    adminUrl,
    migratorUrl: withDatabase(server.adminUrl, name, server.migrator),
    appUrl: withDatabase(server.adminUrl, name, server.app),
    ...(server.pooler ? { pooledAppUrl: pooled(withDatabase(server.adminUrl, name, server.app), server.pooler.port) } : {}),
    drop: async () => {
      const dropper = admin();
      try {
        await dropper.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

function pooled(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}

export interface UsedTestDatabase extends TestDatabase {
  /** The package's client, connected as the application role, with the run's column-cipher keys. */
  client: JeexDb;
  /** A superuser connection to the same database, for setup and inspection. */
  admin: Sql;
}

/**
 * Give the calling test file its own migrated database, connected as the application role.
 *
 * @example
 * const t = useTestDatabase();
 * it('...', async () => { await createUser(t.client.db, { ... }) });
 */
export function useTestDatabase(): UsedTestDatabase {
  const handle = {} as UsedTestDatabase;
  beforeAll(async () => {
    Object.assign(handle, await createTestDatabase());
    handle.client = createDb({ url: handle.appUrl, max: 4, keys: testKeys() }, {});
    handle.admin = connect(handle.adminUrl, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await handle.client?.close();
    await handle.admin?.end();
    await handle.drop?.();
  });
  return handle;
}

import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres, { type Sql } from 'postgres';
import * as schema from '../schema/index.ts';
import { resolveDbConfig, type DbConfig, type DbConfigInput } from './config.ts';

/** The Drizzle client over the jeex schema. Query functions take it as their first argument. */
export type Database = PostgresJsDatabase<typeof schema>;

export interface JeexDb {
  /** Drizzle, typed with the schema: `db.select().from(users)`, `db.query.projects.findMany()`. */
  db: Database;
  /** The postgres.js client underneath, for raw SQL and for ops code that takes `sql`. */
  sql: Sql;
  /** The resolved configuration (URL with its password; mask it before printing). */
  config: DbConfig;
  /** Close every connection; waits up to `timeoutSeconds` for running queries. */
  close(timeoutSeconds?: number): Promise<void>;
}

/**
 * Open a pooled client. Options override DATABASE_URL / PG* / JEEX_DB_* (see `resolveDbConfig`).
 *
 * @example
 * const { db, close } = createDb();
 * const user = await createUser(db, { email: 'ada@example.com', name: 'Ada' });
 * await close();
 */
export function createDb(input: DbConfigInput = {}, env: NodeJS.ProcessEnv = process.env): JeexDb {
  const config = resolveDbConfig(input, env);
  const sql = postgres(config.url, {
    max: config.max,
    idle_timeout: config.idleTimeout,
    connect_timeout: config.connectTimeout,
    max_lifetime: config.maxLifetime,
    prepare: config.prepare,
    connection: { application_name: config.applicationName },
    onnotice: () => {},
  });
  const db = drizzle(sql, { schema });
  return {
    db,
    sql,
    config,
    close: (timeoutSeconds = 5) => sql.end({ timeout: timeoutSeconds }),
  };
}

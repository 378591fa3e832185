/** What the global setup hands every test file: one PostgreSQL 18 server for the run. */
export interface TestServer {
  /** How the server was obtained: `embedded`, `TEST_DATABASE_URL` or `testcontainers`. */
  source: string;
  /** A superuser URL (any database); tests create and drop their databases with it. */
  adminUrl: string;
  /** The migrated database that test databases are copied from. */
  templateDatabase: string;
  migrator: { user: string; password: string };
  app: { user: string; password: string };
  /** The run's roles (`roles apply` with the prefix jeex_test): the NOLOGIN owner and the other login roles. */
  roles: { owner: string; migrator: string; app: string; readonly: string; backup: string; monitor: string; replicator: string };
  readonly: { user: string; password: string };
  backup: { user: string; password: string };
  monitor: { user: string; password: string };
  /** The embedded server's log directory (server.log, server.json); none for other sources. */
  logDir?: string;
  /** A PgBouncer (transaction mode) in front of the server, when the binary is installed. */
  pooler?: { port: number; version: string; preparedStatements: boolean };
  /** Why there is none. */
  poolerMissing?: string;
  /** The embedded server's WAL archive directory (`<temp dir>/backups/wal`); none for other sources. */
  walArchive?: string;
  /** The column cipher's keys for the run (base64), random each run: see test/helpers/users.ts. */
  keys: { data: string; blindIndex: string };
  /**
   * The embedded server's TLS files (its development CA): the admin URL carries
   * sslmode=verify-full&sslrootcert=<caFile>, so every test connection is TLS 1.3. None for
   * TEST_DATABASE_URL (its URL says what it needs) or testcontainers.
   */
  tls?: { caFile: string; certFile: string; keyFile: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    testServer: TestServer;
  }
}

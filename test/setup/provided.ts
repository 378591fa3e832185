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
}

declare module 'vitest' {
  export interface ProvidedContext {
    testServer: TestServer;
  }
}

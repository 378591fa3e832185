import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sql as dsql } from 'drizzle-orm';
import type postgres from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { urlFor } from '../../src/db/config.ts';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { appendDocumentVersion } from '../../src/db/queries/document-versions.ts';
import { createProject } from '../../src/db/queries/projects.ts';
import { createUser } from '../../src/db/queries/users.ts';
import { ensurePooler, stopPoolerIn } from '../../src/ops/pooler/local.ts';
import { translateDbError } from '../../src/db/translate-error.ts';
import type { DocumentVersion } from '../../src/schema/types.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { freePort } from '../../src/platform/port.ts';
import { reachableTempDir } from '../helpers/cli.ts';
import { refusal } from '../helpers/rejections.ts';
import { startRelay } from '../helpers/relay.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { emailHash, testKeys } from '../helpers/users.ts';

// Transaction pooling, for real: the application role through the run's PgBouncer (the same
// settings `jeex-db up` derives), compared with what a direct connection does.

const server = inject('testServer');

/** A barrier: `wait()` resolves once `open()` was called. */
function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe('through PgBouncer in transaction mode', () => {
  const t = useTestDatabase();
  const opened: JeexDb[] = [];
  /** A client of the package on the pooled URL, closed after the file. */
  const pooledClient = (options: { max?: number; prepare?: boolean; applicationName?: string } = {}) => {
    const client = createDb({ url: t.pooledAppUrl, pooler: 'pgbouncer', max: 1, keys: testKeys(), ...options }, {});
    opened.push(client);
    return client;
  };
  let userId: string;

  beforeAll(async () => {
    const user = await createUser(t.client.db, { email: `pooled-${randomUUID()}@example.com`, name: 'Pooled', profileData: {} });
    userId = user.id;
  });
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
  });

  /** Users are found by the blind index of their (encrypted) email. */
  const byEmail = (email: string) => `email_hash = decode('${emailHash(email).toString('hex')}', 'hex')`;
  const countRows = async (table: 'users' | 'projects', where: string) =>
    Number((await t.admin.unsafe<{ n: string }[]>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`))[0]?.n);

  it("resolves prepare: false for pooler: 'pgbouncer' on this PgBouncer (no prepared statements before 1.21)", (ctx) => {
    const pooler = requirePooler(ctx, server) as NonNullable<typeof server.pooler>;
    const { config } = pooledClient();
    expect(config.pooler).toBe('pgbouncer');
    expect(config.prepare).toBe(pooler.preparedStatements);
    expect(config.url).toContain(`:${pooler.port}/`);
  });

  it('runs Drizzle transactions on one server connection: a commit keeps every row, a rollback none', async (ctx) => {
    requirePooler(ctx, server);
    const { db } = pooledClient({ max: 2 });
    const email = `tx-${randomUUID()}@example.com`;

    const committed = await db.transaction(async (tx) => {
      const user = await createUser(tx, { email, name: 'Committed', profileData: {} });
      const project = await createProject(tx, { name: 'Committed project', createdBy: user.id, metadata: {} });
      const [a] = await tx.execute<{ pid: number }>(dsql`SELECT pg_backend_pid() AS pid`);
      const [b] = await tx.execute<{ pid: number }>(dsql`SELECT pg_backend_pid() AS pid`);
      expect(a?.pid).toBe(b?.pid);
      return { user, project };
    });
    expect(await countRows('users', `id = '${committed.user.id}'`)).toBe(1);
    expect(await countRows('projects', `id = '${committed.project.id}'`)).toBe(1);

    // An error inside the transaction undoes what it wrote before.
    const rolledBackEmail = `rollback-${randomUUID()}@example.com`;
    const failed = await db
      .transaction(async (tx) => {
        await createUser(tx, { email: rolledBackEmail, name: 'Rolled back', profileData: {} });
        await createUser(tx, { email, name: 'Duplicate', profileData: {} }); // users_email_hash_unique
      })
      .catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(JeexDbError);
    expect((failed as JeexDbError).code).toBe('UNIQUE_VIOLATION');
    expect((failed as JeexDbError).constraint).toBe('users_email_hash_unique');
    expect(await countRows('users', byEmail(rolledBackEmail))).toBe(0);

    // An explicit rollback too.
    const explicitEmail = `explicit-${randomUUID()}@example.com`;
    await db
      .transaction(async (tx) => {
        await createUser(tx, { email: explicitEmail, name: 'Explicit', profileData: {} });
        tx.rollback();
      })
      .catch(() => undefined);
    expect(await countRows('users', byEmail(explicitEmail))).toBe(0);
  });

  it('numbers 30 racing appendDocumentVersion calls 1..30 while they share at most pool + reserve server connections', { timeout: 60_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const writers = Array.from({ length: 30 }, (_, i) => pooledClient({ applicationName: `pooled-writer-${i}` }));
    await Promise.all(writers.map((w) => w.sql`SELECT 1`));
    const project = await createProject(t.client.db, { name: 'Pooled race', createdBy: userId, metadata: {} });
    const append = (w: JeexDb, content: string, expectedVersion?: number) =>
      appendDocumentVersion(w.db, {
        projectId: project.id,
        documentType: 'specs',
        content,
        createdBy: userId,
        metadata: {},
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
      });

    const results = await Promise.allSettled(writers.map((w, i) => append(w, `writer ${i}`)));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const versions = results.map((r) => (r as PromiseFulfilledResult<DocumentVersion>).value.version).toSorted((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));

    // Thirty clients, but PgBouncer opened no more server connections than its pool and reserve.
    const [{ n } = { n: '0' }] = await t.admin<{ n: string }[]>`
      SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND usename = ${server.app.user}`;
    expect(Number(n)).toBeGreaterThan(0);
    expect(Number(n)).toBeLessThanOrEqual(25);

    // expectedVersion still gives exactly one winner among writers on the same base.
    const edits = await Promise.allSettled(writers.map((w, i) => append(w, `edit ${i}`, 30)));
    const codes = edits.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as JeexDbError).code));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(1);
    expect(codes.filter((c) => c === 'VERSION_CONFLICT')).toHaveLength(29);
  });

  it('applies SET LOCAL only inside its transaction; the server connection goes back as it was', async (ctx) => {
    requirePooler(ctx, server);
    const { db } = pooledClient();
    const inside = await db.transaction(async (tx) => {
      await tx.execute(dsql`SET LOCAL statement_timeout = '150ms'`);
      const [row] = await tx.execute<{ pid: number; timeout: string }>(dsql`SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS timeout`);
      return row;
    });
    expect(inside?.timeout).toBe('150ms');

    // It really applies there: a slow statement in such a transaction is cancelled.
    const cancelled = await refusal(
      db.transaction(async (tx) => {
        await tx.execute(dsql`SET LOCAL statement_timeout = '150ms'`);
        await tx.execute(dsql`SELECT pg_sleep(2)`);
      }),
    );
    expect(cancelled.code).toBe('STATEMENT_TIMEOUT');

    // The next transaction gets the same server connection back (PgBouncer lends the most recently
    // used one first) and sees the role's setting again.
    const after = await db.transaction(async (tx) => {
      const [row] = await tx.execute<{ pid: number; timeout: string }>(dsql`SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS timeout`);
      return row;
    });
    expect(after?.pid).toBe(inside?.pid);
    expect(after?.timeout).toBe('30s');
  });

  it('does not keep a session-level SET with its client: its next transaction runs elsewhere, and another client inherits it', async (ctx) => {
    requirePooler(ctx, server);
    // This is why the package never uses session SET (or LISTEN, or session advisory locks) on the
    // pooled URL: nine clients share the server connections, and state left on one reaches whoever
    // borrows it next.
    const setter = pooledClient({ applicationName: 'session-setter' });
    const others = Array.from({ length: 8 }, (_, i) => pooledClient({ applicationName: `session-other-${i}` }));
    await Promise.all([setter, ...others].map((c) => c.sql`SELECT 1`));
    const tenant = `tenant-${randomUUID()}`;
    // set_config(..., false) is exactly `SET jeex.tenant = ...`: for the rest of the session.
    const [set] = await setter.sql<{ pid: number }[]>`SELECT set_config('jeex.tenant', ${tenant}, false), pg_backend_pid() AS pid`;

    const seen: { pid: number; tenant: string | null }[] = [];
    const allRead = latch();
    const release = latch();
    const holders = others.map((c) =>
      c.db.transaction(async (tx) => {
        const [row] = await tx.execute<{ pid: number; tenant: string | null }>(dsql`SELECT pg_backend_pid() AS pid, current_setting('jeex.tenant', true) AS tenant`);
        if (row) seen.push(row);
        if (seen.length === others.length) allRead.open();
        await release.wait;
      }),
    );
    await allRead.wait;
    const [mine] = await setter.db.transaction(async (tx) =>
      tx.execute<{ pid: number; tenant: string | null }>(dsql`SELECT pg_backend_pid() AS pid, current_setting('jeex.tenant', true) AS tenant`),
    );
    release.open();
    await Promise.all(holders);

    expect(mine?.pid).not.toBe(set?.pid);
    expect(mine?.tenant).not.toBe(tenant);
    const inherited = seen.filter((row) => row.tenant === tenant);
    expect(inherited).toHaveLength(1);
    expect(inherited[0]?.pid).toBe(set?.pid);
  });

  it('with prepare: true, a statement prepared on one server connection is missing on the next one (SQLSTATE 26000); prepare: false works', async (ctx) => {
    const pooler = requirePooler(ctx, server) as NonNullable<typeof server.pooler>;
    if (pooler.preparedStatements) ctx.skip(`PgBouncer ${pooler.version} keeps prepared statements (max_prepared_statements)`);
    const holder = pooledClient({ applicationName: 'prepare-holder' });

    async function sameQueryInATransactionElsewhere(client: JeexDb): Promise<{ x: number; pid: number } | JeexDbError> {
      await Promise.all([holder.sql`SELECT 1`, client.sql`SELECT 1`]);
      // Prepared (with prepare: true) on the connection PgBouncer lends now...
      const [first] = await client.sql<{ x: number; pid: number }[]>`SELECT ${1}::int AS x, pg_backend_pid() AS pid`;
      // ... which another client's transaction then holds (the most recently used one is lent first) ...
      const held = latch();
      const release = latch();
      let holderPid: number | undefined;
      const holding = holder.sql.begin(async (tx) => {
        [{ pid: holderPid } = { pid: -1 }] = await tx<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        held.open();
        await release.wait;
      });
      await held.wait;
      expect(holderPid).toBe(first?.pid);
      // ... so the same statement in a transaction runs on another server connection.
      try {
        const [row] = await client.sql.begin(async (tx) => tx<{ x: number; pid: number }[]>`SELECT ${2}::int AS x, pg_backend_pid() AS pid`);
        if (!row) throw new Error('no row');
        return row;
      } catch (error) {
        return translateDbError(error);
      } finally {
        release.open();
        await holding;
      }
    }

    const broken = await sameQueryInATransactionElsewhere(pooledClient({ prepare: true, applicationName: 'prepare-true' }));
    expect(broken).toBeInstanceOf(JeexDbError);
    const error = broken as JeexDbError;
    expect(error.code).toBe('QUERY_FAILED');
    expect(error.sqlState).toBe('26000');
    expect(error.message).toMatch(/prepared statement "[^"]+" does not exist/);
    expect(error.hint).toMatch(/prepare: false/);

    const working = await sameQueryInATransactionElsewhere(pooledClient({ applicationName: 'prepare-default' }));
    expect(working).not.toBeInstanceOf(JeexDbError);
    expect(working).toMatchObject({ x: 2 });
  });

  it('with prepare: false, a statement already used on the connection goes out in one write (no describe first), on any server connection', async (ctx) => {
    const pooler = requirePooler(ctx, server) as NonNullable<typeof server.pooler>;
    if (pooler.preparedStatements) ctx.skip(`PgBouncer ${pooler.version} keeps prepared statements: nothing to emulate`);
    // A relay in front of PgBouncer counts what the client sends (TLS records: one per write here).
    let chunks = 0;
    const relay = await startRelay(pooler.port, { onClientData: () => chunks++ });
    try {
      const url = new URL(t.pooledAppUrl ?? '');
      url.port = String(relay.port);
      const client = createDb({ url: url.toString(), pooler: 'pgbouncer', max: 1, keys: testKeys(), applicationName: 'unnamed-one-write' }, {});
      opened.push(client);
      expect(client.config.prepare).toBe(false);
      const read = async (i: number) => (await client.sql<{ x: number; pid: number }[]>`SELECT ${i}::int AS x, pg_backend_pid() AS pid`)[0];
      expect((await read(0))?.x).toBe(0); // first use: described first
      const before = chunks;
      for (let i = 1; i <= 20; i++) expect((await read(i))?.x).toBe(i);
      // Two round trips each (describe, then bind) would be 40 writes.
      expect(chunks - before).toBe(20);

      // The same statement while another client holds the server connection it ran on: another
      // server connection runs it, since every batch carries its own Parse.
      const holder = pooledClient({ applicationName: 'unnamed-holder' });
      await holder.sql`SELECT 1`;
      const held = latch();
      const release = latch();
      const holding = holder.sql.begin(async (tx) => {
        await tx`SELECT pg_backend_pid()`;
        held.open();
        await release.wait;
      });
      await held.wait;
      const [inTransaction] = await client.sql.begin(async (tx) => tx<{ x: number }[]>`SELECT ${21}::int AS x`);
      release.open();
      await holding;
      expect(inTransaction?.x).toBe(21);
    } finally {
      await relay.close();
    }
  });

  it('with prepare: false, a statement whose result changed under it (ALTER TABLE) is decoded with the new column types', async (ctx) => {
    requirePooler(ctx, server);
    const table = `shape_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    await t.admin.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, v int)`);
    await t.admin.unsafe(`INSERT INTO ${table} VALUES (1, 42)`);
    await t.admin.unsafe(`GRANT SELECT ON ${table} TO ${server.app.user}`);
    try {
      const client = pooledClient({ applicationName: 'unnamed-shape' });
      const read = async () => (await client.sql.unsafe<{ id: number; v: unknown }[]>(`SELECT * FROM ${table} WHERE id = $1`, [1]))[0];
      expect(await read()).toEqual({ id: 1, v: 42 });
      expect(await read()).toEqual({ id: 1, v: 42 });
      await t.admin.unsafe(`ALTER TABLE ${table} ALTER COLUMN v TYPE jsonb USING jsonb_build_object('n', v), ADD COLUMN w text DEFAULT 'new'`);
      expect(await read()).toEqual({ id: 1, v: { n: 42 }, w: 'new' });
    } finally {
      await t.admin.unsafe(`DROP TABLE ${table}`);
    }
  });

  it("gets statement_timeout and lock_timeout from the role's settings, and refuses them as startup parameters", async (ctx) => {
    const pooler = requirePooler(ctx, server);
    const { sql } = pooledClient();
    const [row] = await sql<{ statement_timeout: string; lock_timeout: string; who: string }[]>`
      SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout, current_user AS who`;
    expect(row).toEqual({ statement_timeout: '30s', lock_timeout: '10s', who: server.app.user });
    // Where they come from: ALTER ROLE ... SET (bootstrapDatabase), not PgBouncer or the client.
    const [role] = await t.admin<{ setconfig: string[] }[]>`
      SELECT setconfig FROM pg_db_role_setting WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = ${server.app.user}) AND setdatabase = 0`;
    expect(role?.setconfig).toEqual(expect.arrayContaining(['statement_timeout=30s', 'lock_timeout=10s']));

    // postgres.js's `connection: { statement_timeout }` is a startup parameter: PgBouncer refuses it.
    const url = new URL(t.appUrl);
    url.hostname = '127.0.0.1';
    url.port = String(pooler.port);
    const raw = connect(url.toString(), { max: 1, prepare: false, onnotice: () => {}, connection: { statement_timeout: '1s' } as Record<string, string> });
    try {
      const refused = await refusal(raw`SELECT 1`);
      expect(refused.code).toBe('INVALID_CONFIG');
      expect(refused.sqlState).toBe('08P01');
      expect(refused.message).toContain('unsupported startup parameter: statement_timeout');
      expect(refused.hint).toMatch(/ALTER ROLE|SET LOCAL/);
    } finally {
      await raw.end();
    }
  });

  it("sends session work (LISTEN/NOTIFY) to the direct URL: urlFor(config, 'session'); through PgBouncer a notification is lost", async (ctx) => {
    requirePooler(ctx, server);
    const { config } = createDb({ url: t.pooledAppUrl, pooler: 'pgbouncer', directUrl: t.appUrl }, {});
    expect(urlFor(config, 'queries')).toBe(t.pooledAppUrl);
    expect(urlFor(config, 'session')).toBe(t.appUrl);
    const noDirect = createDb({ url: t.pooledAppUrl, pooler: 'pgbouncer' }, {}).config;
    expect(() => urlFor(noDirect, 'session')).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }) as Error);

    const channel = `jeex_${randomUUID().replaceAll('-', '')}`;
    const viaPooler: string[] = [];
    const viaSession: string[] = [];
    const pooledListener = connect(urlFor(config, 'queries'), { max: 1, prepare: false, onnotice: () => {} });
    const sessionListener = connect(urlFor(config, 'session'), { max: 1, onnotice: () => {} });
    const notifier = connect(t.appUrl, { max: 1, onnotice: () => {} });
    try {
      // LISTEN "succeeds" through PgBouncer: it ran on a server connection that went back to the pool.
      await pooledListener.listen(channel, (payload) => viaPooler.push(payload));
      await sessionListener.listen(channel, (payload) => viaSession.push(payload));
      for (const payload of ['one', 'two']) await notifier`SELECT pg_notify(${channel}, ${payload})`;
      for (let i = 0; i < 100 && viaSession.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(viaSession).toEqual(['one', 'two']);
      expect(viaPooler).toEqual([]);
    } finally {
      await Promise.all([pooledListener.end(), sessionListener.end(), notifier.end()]);
    }
  });
});

describe("PgBouncer's own errors, provoked on PgBouncers of this file's own", () => {
  const t = useTestDatabase();
  const serverUrl = new URL(server.adminUrl);
  const host = serverUrl.hostname === 'localhost' ? '127.0.0.1' : serverUrl.hostname;
  const admin = connect(server.adminUrl, { max: 1, onnotice: () => {} });
  const dirs: string[] = [];
  const clients: { end: () => Promise<unknown> }[] = [];
  let root: string | undefined;

  /** A PgBouncer in front of `serverPort` with these settings overridden; its app URL for this file's database. */
  async function dedicatedPooler(name: string, serverPort: number, overrides: Record<string, string>, previousPort?: number): Promise<string> {
    root ??= await reachableTempDir('jeex-pgbouncer-errors-');
    const dir = join(root, name);
    const result = await ensurePooler({
      dir,
      as: await serverOsUser(),
      host,
      server: { port: serverPort },
      admin,
      roles: [server.app.user],
      console: { user: `jeex_t_console_${name}`, password: `console-password-${name}` },
      cpus: 2,
      previousPort: previousPort ?? (await freePort(host)),
      overrides,
      progress: () => {},
      ...(server.tls ? { tls: { ...server.tls, verifyHostname: true } } : {}),
    });
    if (result.status === 'absent') throw new Error(result.reason);
    if (!dirs.includes(dir)) dirs.push(dir);
    statuses.push(result.status);
    const url = new URL(t.appUrl);
    url.hostname = host;
    url.port = String(result.port);
    return url.toString();
  }
  const statuses: string[] = [];
  const raw = (url: string) => {
    const sql = connect(url, { max: 1, prepare: false, onnotice: () => {} });
    clients.push(sql);
    return sql;
  };
  const client = (url: string, applicationName: string) => {
    const db = createDb({ url, pooler: 'pgbouncer', max: 1, applicationName }, {});
    // After a PgBouncer FATAL, postgres.js may keep a query it will never finish: do not wait 5 s for it.
    clients.push({ end: () => db.close(1) });
    return db;
  };

  /**
   * PgBouncer's error for the next query. postgres.js reports a FATAL that arrives while a query
   * runs as CONNECTION_CLOSED and hands the real error to the next query on that client
   * (porsager/postgres#1223), so this asks up to three times and returns the first error that
   * came from PgBouncer itself.
   */
  async function poolerErrorOf(sql: postgres.Sql): Promise<postgres.PostgresError & { severity_local?: string }> {
    const seen: unknown[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const error = await sql`SELECT 1`.then(() => undefined, (e: unknown) => e);
      seen.push(error);
      if (error && typeof error === 'object' && /^[0-9A-Z]{5}$/.test(String((error as { code?: unknown }).code))) return error as postgres.PostgresError;
    }
    throw new Error(`no PgBouncer error in three queries: ${seen.map((e) => (e instanceof Error ? `${(e as { code?: string }).code} ${e.message}` : String(e))).join('; ')}`);
  }

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
    for (const dir of dirs) await stopPoolerIn(dir);
    await admin.end();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('query_wait_timeout (a client queued longer than PgBouncer allows) becomes POOL_TIMEOUT', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    // One server connection, and a second of patience.
    const url = await dedicatedPooler('queue', Number(serverUrl.port || 5432), { default_pool_size: '1', reserve_pool_size: '0', query_wait_timeout: '1' });
    const holder = client(url, 'queue-holder');
    const waiter = client(url, 'queue-waiter');
    const rawWaiter = raw(url);
    // Connected (and postgres.js's type query done) before the pool fills up.
    for (const sql of [holder.sql, waiter.sql, rawWaiter]) await sql`SELECT 1`;

    const held = latch();
    const release = latch();
    const holding = holder.sql.begin(async (tx) => {
      await tx`SELECT 1`;
      held.open();
      await release.wait;
    });
    await held.wait;
    try {
      // What PgBouncer sends: SQLSTATE 08P01, the bare text, severity FATAL (and no non-localized severity).
      const started = Date.now();
      const bare = await poolerErrorOf(rawWaiter);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(bare.code).toBe('08P01');
      expect(bare.message).toBe('query_wait_timeout');
      expect(bare.severity_local).toBe('FATAL');
      const translated = translateDbError(bare);
      expect(translated.code).toBe('POOL_TIMEOUT');
      expect(translated.message).toMatch(/PgBouncer's queue timed out.*query_wait_timeout/);
      expect(translated.hint).toMatch(/default_pool_size|query_wait_timeout/);

      // Through the package's client, a read that waits too long fails the same way, in about a second.
      const readStarted = Date.now();
      const error = await refusal(waiter.sql`SELECT 1`);
      expect(error.code).toBe('POOL_TIMEOUT');
      expect(error.message).toContain('query_wait_timeout');
      expect(Date.now() - readStarted).toBeLessThan(10_000);
    } finally {
      release.open();
      await holding;
    }
    // Once the connection is free again, the same client works.
    expect(await waiter.sql<{ n: number }[]>`SELECT 2 AS n`).toEqual([{ n: 2 }]);
  });

  it('max_client_conn (too many clients on PgBouncer) becomes TOO_MANY_CONNECTIONS', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const url = await dedicatedPooler('clients', Number(serverUrl.port || 5432), { max_client_conn: '2' });
    for (const sql of [raw(url), raw(url)]) await sql`SELECT 1`;

    const bare = await poolerErrorOf(raw(url));
    expect(bare.code).toBe('08P01');
    expect(bare.message).toBe('no more connections allowed (max_client_conn)');
    const translated = translateDbError(bare);
    expect(translated.code).toBe('TOO_MANY_CONNECTIONS');
    expect(translated.hint).toMatch(/max_client_conn/);

    const error = await refusal(client(url, 'one-too-many').sql`SELECT 1`);
    expect(error.code).toBe('TOO_MANY_CONNECTIONS');
  });

  it('ensurePooler on a running PgBouncer keeps the port it listens on, whatever port it is offered', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const serverPort = Number(serverUrl.port || 5432);
    const url = await dedicatedPooler('again', serverPort, {});
    const again = await dedicatedPooler('again', serverPort, {}, await freePort(host));
    expect(statuses.slice(-2)).toEqual(['started', 'already-running']);
    expect(again).toBe(url);
    const [row] = await raw(again)<{ ok: number }[]>`SELECT 1 AS ok`;
    expect(row?.ok).toBe(1);
  });

  it('a server PgBouncer cannot reach becomes CONNECTION_FAILED naming PgBouncer\'s log', { timeout: 60_000 }, async (ctx) => {
    requirePooler(ctx, server);
    // PgBouncer -> a TCP relay -> PostgreSQL; closing the relay is the network (or the server) going away.
    const relay = await startRelay(Number(serverUrl.port || 5432), { host });
    const relayPort = relay.port;
    const url = await dedicatedPooler('unreachable', relayPort, { query_wait_timeout: '1', server_connect_timeout: '2' });
    const first = raw(url);
    const second = raw(url);
    const packaged = client(url, 'unreachable-reader');
    for (const sql of [first, second, packaged.sql]) await sql`SELECT 1`;

    await relay.close();

    // The client that asks first waits for a server connection that never comes.
    expect((await poolerErrorOf(first)).message).toBe('query_wait_timeout');
    // After that failed login, PgBouncer turns clients away at once until a login works again.
    const bare = await poolerErrorOf(second);
    expect(bare.code).toBe('08P01');
    expect(bare.message).toBe('server login has been failing, try again later (server_login_retry)');
    const translated = translateDbError(bare);
    expect(translated.code).toBe('CONNECTION_FAILED');
    expect(translated.message).toContain('PgBouncer cannot log in to PostgreSQL');
    expect(translated.hint).toMatch(/pgbouncer\.log/);

    const error = await refusal(packaged.sql`SELECT 1`);
    expect(error.code).toBe('CONNECTION_FAILED');
    expect(error.hint).toMatch(/pgbouncer\.log/);
  });
});

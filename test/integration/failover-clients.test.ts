import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatConnString, parseConnString } from '../../src/db/conn-string.ts';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { connect } from '../../src/db/connect.ts';
import { translateDbError } from '../../src/db/translate-error.ts';
import { localUrl, readLocalState } from '../../src/local/state.ts';
import { freePort } from '../../src/platform/port.ts';
import { down, up } from '../../src/stack/up.ts';
import { startBackupCluster, type BackupCluster } from '../helpers/backup-cluster.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { rawUser, testKeys } from '../helpers/users.ts';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createStandby, type StandbyResult } from '../../src/stack/standby.ts';
import { promote } from '../../src/stack/promote.ts';

/** The URL with `dead` hosts (ports nothing listens on) put in front of its own. */
function withDeadHostsFirst(url: string, ...dead: number[]): string {
  const parsed = parseConnString(url);
  return formatConnString({ ...parsed, hosts: [...dead.map((port) => ({ host: '127.0.0.1', port })), ...parsed.hosts] });
}

const opened: JeexDb[] = [];
function client(...args: Parameters<typeof createDb>): JeexDb {
  const made = createDb(...args);
  opened.push(made);
  return made;
}
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close(1)));
});

describe('a multi-host DATABASE_URL', () => {
  const t = useTestDatabase();

  it('whose first host is a dead port reaches the second (TLS verify-full checked per host), and createDb works', async () => {
    const url = withDeadHostsFirst(t.appUrl, await freePort());
    expect(parseConnString(url).hosts).toHaveLength(2);
    const jeex = client({}, { DATABASE_URL: url, JEEX_DB_DATA_DIR: '/nonexistent' });
    expect(jeex.config.url).toBe(url);
    const started = performance.now();
    const [row] = await jeex.sql<{ port: number; ssl: boolean }[]>`SELECT inet_server_port() AS port, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl`;
    expect(row?.port).toBe(parseConnString(t.appUrl).hosts[0]?.port);
    expect(row?.ssl).toBe(parseConnString(t.appUrl).params.some(([k, v]) => k === 'sslmode' && v === 'verify-full'));
    expect(performance.now() - started).toBeLessThan(2000);
    // Drizzle and a write through it, on the host that answered.
    const u = rawUser(`multi-host-${Date.now()}@example.com`, 'Multi host');
    await jeex.sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
    const [{ n } = { n: 0 }] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE id = ${u.id}`;
    expect(n).toBe(1);
  });

  it('with every host dead fails after the failover window with CONNECTION_FAILED naming each host', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const url = formatConnString({ ...parseConnString(t.appUrl), hosts: [{ host: '127.0.0.1', port: a }, { host: '127.0.0.1', port: b }] });
    const jeex = client({ url, failoverWindow: 600, keys: testKeys() }, {});
    const started = performance.now();
    const error = await jeex.sql`SELECT 1`.then(
      () => undefined,
      (e: unknown) => translateDbError(e),
    );
    const elapsed = performance.now() - started;
    expect(error?.code).toBe('CONNECTION_FAILED');
    expect(error?.message).toContain(`cannot reach PostgreSQL at any of 127.0.0.1:${a}, 127.0.0.1:${b} (ECONNREFUSED)`);
    expect(error?.message).toMatch(/over the failover window of 600ms \(JEEX_DB_FAILOVER_WINDOW\).*nothing of it ran/);
    expect(JSON.stringify(error)).not.toContain(parseConnString(t.appUrl).password ?? 'no password');
    expect(elapsed).toBeGreaterThanOrEqual(595);
    expect(elapsed).toBeLessThan(2500);
  });

  it('connect() takes the same host lists', async () => {
    const sql = connect(withDeadHostsFirst(t.appUrl, await freePort(), await freePort()), { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<{ one: number }[]>`SELECT 1 AS one`;
      expect(row?.one).toBe(1);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});

describe('the failover window, on a server of its own', () => {
  let cluster: BackupCluster | undefined;
  let appUrl = '';
  let port = 0;
  beforeAll(async () => {
    cluster = await startBackupCluster('jeex-failover-window-');
    appUrl = localUrl(cluster.layout, 'app', { database: cluster.database }) ?? '';
    port = readLocalState(cluster.layout)?.port ?? 0;
  }, 120_000);
  afterAll(async () => {
    await cluster?.sql.end({ timeout: 1 });
    if (cluster) {
      await down({ dataDir: cluster.dataDir });
      await rm(cluster.root, { recursive: true, force: true });
    }
  });

  const restart = () => up({ dataDir: cluster?.dataDir ?? '', port, memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });

  it('a statement sent while the server is down succeeds once it is back within the window, and a write is applied once', { timeout: 120_000 }, async () => {
    const jeex = client({ url: appUrl, failoverWindow: 30_000, max: 2, keys: testKeys() }, {});
    expect(await jeex.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    await down({ dataDir: cluster?.dataDir ?? '' });
    const stoppedAt = performance.now();
    const u = rawUser(`window-${Date.now()}@example.com`, 'Sent again');
    const write = Promise.resolve(jeex.sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name}) RETURNING id`);
    const read = Promise.resolve(jeex.sql<{ up: boolean }[]>`SELECT true AS up`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await restart();
    const upAt = performance.now();
    expect((await read)[0]?.up).toBe(true);
    expect(await write).toEqual([{ id: u.id }]);
    const answeredAt = performance.now();
    // Answered within about a second of the server being back (the pauses are at most 1 s).
    expect(answeredAt - upAt).toBeLessThan(1500);
    expect(answeredAt - stoppedAt).toBeLessThan(30_000);
    const [{ n } = { n: 0 }] = await jeex.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE id = ${u.id}`;
    expect(n).toBe(1);
  });

  it('left stopped, the statement fails after about the window with CONNECTION_FAILED saying so', { timeout: 120_000 }, async () => {
    const jeex = client({ url: appUrl, failoverWindow: 3000, max: 1, keys: testKeys() }, {});
    expect(await jeex.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    await down({ dataDir: cluster?.dataDir ?? '' });
    try {
      const started = performance.now();
      const error = await jeex.sql`SELECT 1`.then(
        () => undefined,
        (e: unknown) => translateDbError(e),
      );
      const elapsed = performance.now() - started;
      expect(error?.code).toBe('CONNECTION_FAILED');
      expect(error?.message).toMatch(new RegExp(`cannot reach PostgreSQL at (localhost|127\\.0\\.0\\.1|::1):${port} \\(ECONNREFUSED\\); it was sent \\d+ times over the failover window of 3s`));
      expect(error?.hint).toMatch(/raise JEEX_DB_FAILOVER_WINDOW/);
      expect(error?.context).toMatchObject({ failoverWindowMs: 3000 });
      expect(elapsed).toBeGreaterThanOrEqual(2990);
      expect(elapsed).toBeLessThan(4500);
    } finally {
      await restart();
    }
  });

  it('JEEX_DB_READ_URL opens a pool of its own for reads that opt in; without it they go to the primary client', async () => {
    const readonlyUrl = localUrl(cluster?.layout ?? (undefined as never), 'readonly', { database: cluster?.database ?? 'jeex' }) ?? '';
    const withReplica = client({ keys: testKeys() }, { DATABASE_URL: appUrl, JEEX_DB_READ_URL: readonlyUrl, JEEX_DB_DATA_DIR: '/nonexistent' });
    expect(withReplica.read.replica).toBe(true);
    const [reader] = await withReplica.read.sql<{ who: string }[]>`SELECT current_user AS who`;
    const [writer] = await withReplica.sql<{ who: string }[]>`SELECT current_user AS who`;
    expect(reader?.who).toMatch(/_readonly$/);
    expect(writer?.who).toMatch(/_app$/);
    expect(withReplica.read.pool().open).toBe(1);
    const without = client({ keys: testKeys() }, { DATABASE_URL: appUrl, JEEX_DB_DATA_DIR: '/nonexistent' });
    expect(without.read.replica).toBe(false);
    expect(without.read.db).toBe(without.db);
    expect(without.read.sql).toBe(without.sql);
  });
});

describe('a hot standby listed first (createStandby), and a failover to it', () => {
  let cluster: BackupCluster | undefined;
  let standby: StandbyResult | undefined;
  let primaryPort = 0;
  /** The primary's app URL with the hosts replaced: `ports` in that order, `params` added. */
  let urlWith: (ports: number[], params: [string, string][]) => string = () => '';
  beforeAll(async () => {
    cluster = await startBackupCluster('jeex-failover-standby-');
    primaryPort = readLocalState(cluster.layout)?.port ?? 0;
    standby = await createStandby({ dataDir: join(cluster.root, 'standby'), from: cluster.dataDir, pooler: false });
    const parsed = parseConnString(localUrl(cluster.layout, 'app', { database: cluster.database }) ?? '');
    const host = parsed.hosts[0]?.host ?? '127.0.0.1';
    urlWith = (ports, params) => formatConnString({ ...parsed, hosts: ports.map((port) => ({ host, port })), params: [...parsed.params, ...params] });
  }, 180_000);
  afterAll(async () => {
    await cluster?.sql.end({ timeout: 1 });
    if (cluster) {
      await down({ dataDir: join(cluster.root, 'standby') });
      await down({ dataDir: cluster.dataDir });
      await rm(cluster.root, { recursive: true, force: true });
    }
  });

  const recoveryOf = async (jeex: JeexDb, sql = jeex.sql) => (await sql<{ recovery: boolean; port: number }[]>`SELECT pg_is_in_recovery() AS recovery, inet_server_port() AS port`)[0];

  it('target_session_attrs=read-write (and primary) skips the standby and reaches the primary; any takes the standby', async () => {
    const standbyPort = standby?.port ?? 0;
    for (const attrs of ['read-write', 'primary']) {
      const jeex = client({ url: urlWith([standbyPort, primaryPort], [['target_session_attrs', attrs]]), max: 1, keys: testKeys() }, {});
      const started = performance.now();
      expect(await recoveryOf(jeex)).toEqual({ recovery: false, port: primaryPort });
      // Dropped at login and tried last from then on: no failover-window pause is needed twice.
      expect(performance.now() - started).toBeLessThan(1500);
      const u = rawUser(`tsa-${attrs}-${Date.now()}@example.com`, 'On the primary');
      await jeex.sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
    }
    const any = client({ url: urlWith([standbyPort, primaryPort], []), max: 1, keys: testKeys() }, {});
    expect(await recoveryOf(any)).toEqual({ recovery: true, port: standbyPort });
    const onStandby = client({ url: urlWith([primaryPort, standbyPort], [['target_session_attrs', 'standby']]), max: 1, keys: testKeys() }, {});
    expect(await recoveryOf(onStandby)).toEqual({ recovery: true, port: standbyPort });
  });

  it('JEEX_DB_READ_URL with prefer-standby reads from the standby; the primary client stays on the primary', async () => {
    const standbyPort = standby?.port ?? 0;
    const jeex = client(
      { keys: testKeys() },
      {
        DATABASE_URL: urlWith([standbyPort, primaryPort], [['target_session_attrs', 'primary']]),
        JEEX_DB_READ_URL: urlWith([primaryPort, standbyPort], [['target_session_attrs', 'prefer-standby']]),
        JEEX_DB_DATA_DIR: '/nonexistent',
      },
    );
    expect(await recoveryOf(jeex)).toEqual({ recovery: false, port: primaryPort });
    expect(await recoveryOf(jeex, jeex.read.sql)).toEqual({ recovery: true, port: standbyPort });
    const refused = await jeex.read.sql`CREATE TEMP TABLE nope (x int)`.then(
      () => undefined,
      (e: unknown) => translateDbError(e),
    );
    expect(refused?.message).toMatch(/read-only transaction/);
  });

  it('a statement sent while the primary is down reaches the promoted standby within the failover window', { timeout: 120_000 }, async () => {
    const standbyPort = standby?.port ?? 0;
    const jeex = client({ url: urlWith([primaryPort, standbyPort], [['target_session_attrs', 'read-write']]), failoverWindow: 30_000, max: 2, keys: testKeys() }, {});
    expect(await recoveryOf(jeex)).toEqual({ recovery: false, port: primaryPort });
    await down({ dataDir: cluster?.dataDir ?? '' });
    const u = rawUser(`failover-${Date.now()}@example.com`, 'After the failover');
    const write = Promise.resolve(jeex.sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name}) RETURNING id`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const promoted = await promote({ dataDir: join(cluster?.root ?? '', 'standby') });
    const promotedAt = performance.now();
    expect(await write).toEqual([{ id: u.id }]);
    const answeredAt = performance.now();
    expect(promoted.timeline).toBeGreaterThan(1);
    expect(await recoveryOf(jeex)).toEqual({ recovery: false, port: standbyPort });
    const [{ n } = { n: 0 }] = await jeex.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE id = ${u.id}`;
    expect(n).toBe(1);
    expect(answeredAt - promotedAt).toBeLessThan(1500);
  });
});

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { JeexDbError } from '../../src/core/errors.ts';
import { scramVerifier } from '../../src/db/scram.ts';
import { poolerAdmin, showConfig, showVersion } from '../../src/ops/pooler/admin.ts';
import { findPgbouncer, supportsPreparedStatements, type PgbouncerBinary } from '../../src/ops/pooler/binary.ts';
import { renderAuthFile, renderPgbouncerIni } from '../../src/ops/pooler/ini.ts';
import { poolerFiles, startPooler, stopPooler, type PoolerFiles } from '../../src/ops/pooler/process.ts';
import { DIRECT_HEADROOM, derivePoolerSettings, type PoolerSetting } from '../../src/ops/pooler/settings.ts';
import { buildUrl } from '../../src/local/state.ts';
import { pgbouncerTemplate, userlistQuery } from '../../src/ops/pooler/template.ts';
import { opsDir } from '../../src/stack/configure.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { freePort } from '../../src/platform/port.ts';
import { reachableTempDir } from '../helpers/cli.ts';
import { requirePooler } from '../helpers/skip.ts';
import { withDatabase } from '../helpers/urls.ts';

const OPS_INI = readFileSync(join(opsDir, 'pgbouncer.ini'), 'utf8');
const byName = (settings: PoolerSetting[]) => new Map(settings.map((s) => [s.name, s.value]));
const num = (settings: PoolerSetting[], name: string) => Number(byName(settings).get(name));

describe('ops/pgbouncer.ini', () => {
  it('is exactly what renderPgbouncerIni writes for the reference server (max_connections 100, 2 CPUs, PgBouncer < 1.21)', () => {
    // The header is the file's own leading comment block; everything after it must be the renderer's.
    const header = OPS_INI.split('\n')
      .slice(0, OPS_INI.split('\n').indexOf(''))
      .map((line) => line.replace(/^; ?/, ''));
    expect(header.length).toBeGreaterThan(5);
    const rendered = renderPgbouncerIni({
      settings: derivePoolerSettings({ serverMaxConnections: 100, cpus: 2, preparedStatements: false }),
      listenAddr: '0.0.0.0',
      listenPort: 6432,
      server: { host: 'postgres', port: 5432 },
      authFile: '/etc/pgbouncer/userlist.txt',
      adminUser: 'jeex_pgbouncer',
      logfile: '/var/log/postgresql/pgbouncer.log',
      pidfile: '/var/run/postgresql/pgbouncer.pid',
      header,
      tls: { certFile: '/etc/pgbouncer/tls/server.crt', keyFile: '/etc/pgbouncer/tls/server.key', caFile: '/etc/pgbouncer/tls/ca.crt', verifyHostname: true },
    });
    expect(OPS_INI).toBe(rendered);
    // ... and what the regeneration command in its header prints for that server.
    expect(pgbouncerTemplate({ serverMaxConnections: 100, cpus: 2, preparedStatements: false })).toBe(OPS_INI);
  });

  it('fronts the compose service and the server that ops/jeex-tuning.conf describes', () => {
    const compose = parse(readFileSync(join(opsDir, 'compose.yaml'), 'utf8')) as { services: Record<string, { ports: string[] }> };
    expect(OPS_INI).toMatch(/^\* = host=postgres port=5432$/m);
    expect(compose.services.postgres?.ports.some((p) => p.endsWith(':5432'))).toBe(true);
    const tuning = /^max_connections = (\d+)$/m.exec(readFileSync(join(opsDir, 'jeex-tuning.conf'), 'utf8'))?.[1];
    expect(OPS_INI).toContain(`max_connections = ${tuning} and 2 CPUs`);
    expect(OPS_INI).toMatch(/^max_db_connections = 85$/m);
  });

  it('says how to make the auth file from pg_authid, with no plaintext password anywhere', () => {
    expect(OPS_INI).toContain(userlistQuery(['jeex_app', 'jeex_pgbouncer']).replaceAll('"', '\\"'));
    expect(OPS_INI).toMatch(/^auth_type = scram-sha-256$/m);
    expect(OPS_INI).toMatch(/^auth_file = \/etc\/pgbouncer\/userlist\.txt$/m);
    expect(OPS_INI).not.toMatch(/password=/i);
    expect(OPS_INI).toMatch(/^pool_mode = transaction$/m);
    expect(OPS_INI).not.toMatch(/^max_prepared_statements/m);
  });
});

describe('derivePoolerSettings', () => {
  it('sizes the pools from max_connections and the CPUs, leaving headroom for direct connections', () => {
    const reference = derivePoolerSettings({ serverMaxConnections: 100, cpus: 2, preparedStatements: false });
    expect([num(reference, 'max_db_connections'), num(reference, 'default_pool_size'), num(reference, 'reserve_pool_size')]).toEqual([85, 20, 5]);

    const big = derivePoolerSettings({ serverMaxConnections: 400, cpus: 16, preparedStatements: false });
    expect([num(big, 'max_db_connections'), num(big, 'default_pool_size'), num(big, 'reserve_pool_size')]).toEqual([385, 160, 40]);

    // Many CPUs, few server connections: the pool is capped at half of max_db_connections.
    const capped = derivePoolerSettings({ serverMaxConnections: 100, cpus: 8, preparedStatements: false });
    expect(num(capped, 'default_pool_size')).toBe(42);

    // A tiny server still gets a usable pool and a reserve.
    const tiny = derivePoolerSettings({ serverMaxConnections: 20, cpus: 1, preparedStatements: false });
    expect([num(tiny, 'max_db_connections'), num(tiny, 'default_pool_size'), num(tiny, 'reserve_pool_size')]).toEqual([10, 5, 2]);
  });

  it('never lends more server connections than the server has room for', () => {
    for (const serverMaxConnections of [25, 50, 100, 150, 400, 1000]) {
      for (const cpus of [1, 2, 4, 8, 32, 128]) {
        const settings = derivePoolerSettings({ serverMaxConnections, cpus, preparedStatements: false });
        const maxDb = num(settings, 'max_db_connections');
        expect(maxDb).toBe(Math.max(10, serverMaxConnections - DIRECT_HEADROOM));
        expect(num(settings, 'default_pool_size') + num(settings, 'reserve_pool_size')).toBeLessThanOrEqual(maxDb);
        expect(num(settings, 'reserve_pool_size')).toBeGreaterThanOrEqual(2);
      }
    }
  });

  it('runs transaction pooling with a bounded queue, server checks and recycling, and says why for each', () => {
    const settings = derivePoolerSettings({ serverMaxConnections: 100, cpus: 2, preparedStatements: false });
    const values = byName(settings);
    expect(values.get('pool_mode')).toBe('transaction');
    expect(Number(values.get('query_wait_timeout'))).toBeGreaterThan(0);
    expect(Number(values.get('server_lifetime'))).toBeGreaterThan(0);
    expect(Number(values.get('server_idle_timeout'))).toBeGreaterThan(0);
    expect(values.get('server_check_query')).toBe('SELECT 1');
    expect(Number(values.get('max_client_conn'))).toBeGreaterThan(num(settings, 'max_db_connections'));
    expect(settings.every((s) => s.reason.length > 10)).toBe(true);
    expect(new Set(settings.map((s) => s.name)).size).toBe(settings.length);
  });

  it('adds max_prepared_statements only for a PgBouncer that supports it (1.21+)', () => {
    expect(byName(derivePoolerSettings({ serverMaxConnections: 100, cpus: 2, preparedStatements: false })).has('max_prepared_statements')).toBe(false);
    expect(byName(derivePoolerSettings({ serverMaxConnections: 100, cpus: 2, preparedStatements: true })).get('max_prepared_statements')).toBe('200');
    expect(supportsPreparedStatements({ major: 1, minor: 18 })).toBe(false);
    expect(supportsPreparedStatements({ major: 1, minor: 20 })).toBe(false);
    expect(supportsPreparedStatements({ major: 1, minor: 21 })).toBe(true);
    expect(supportsPreparedStatements({ major: 1, minor: 24 })).toBe(true);
    expect(supportsPreparedStatements({ major: 2, minor: 0 })).toBe(true);
  });

  it('takes overrides in place (marked as such) and appends settings it does not derive', () => {
    const base = derivePoolerSettings({ serverMaxConnections: 100, cpus: 2, preparedStatements: false });
    const settings = derivePoolerSettings({
      serverMaxConnections: 100,
      cpus: 2,
      preparedStatements: false,
      overrides: { default_pool_size: '1', query_wait_timeout: '1', server_connect_timeout: '3' },
    });
    expect(settings.map((s) => s.name)).toEqual([...base.map((s) => s.name), 'server_connect_timeout']);
    expect(settings.find((s) => s.name === 'default_pool_size')).toEqual({ name: 'default_pool_size', value: '1', reason: 'overridden (derived: 20)' });
    expect(byName(settings).get('query_wait_timeout')).toBe('1');
    expect(byName(settings).get('server_connect_timeout')).toBe('3');
    expect(byName(settings).get('max_db_connections')).toBe('85');
  });
});

describe('the real pgbouncer binary with the ops settings', () => {
  const server = inject('testServer');
  const consoleRole = `jeex_t_console_${randomBytes(4).toString('hex')}`;
  const consolePassword = randomBytes(24).toString('base64url');
  let binary: PgbouncerBinary | undefined;
  let root: string;
  const started: PoolerFiles[] = [];
  const admin = connect(server.adminUrl, { max: 1, onnotice: () => {} });

  beforeAll(async () => {
    binary = await findPgbouncer();
    root = await reachableTempDir('jeex-pooler-config-');
    // The console user's verifier lives in a role that cannot log in to PostgreSQL, as the header says.
    await admin.begin(async (tx) => {
      await tx`SET LOCAL password_encryption = 'scram-sha-256'`;
      await tx.unsafe(`CREATE ROLE ${consoleRole} NOLOGIN PASSWORD '${consolePassword}'`);
    });
  });
  afterAll(async () => {
    for (const files of started) await stopPooler(files);
    await admin.unsafe(`DROP ROLE IF EXISTS ${consoleRole}`);
    await admin.end();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** pgbouncer.ini with the given settings in a directory of its own, owned by the server's OS user. */
  async function writeFiles(name: string, settings: PoolerSetting[], port: number, userlist: string): Promise<PoolerFiles> {
    const files = poolerFiles(join(root, name));
    const as = await serverOsUser();
    await mkdir(files.dir, { recursive: true, mode: 0o700 });
    const serverUrl = new URL(server.adminUrl);
    const ini = renderPgbouncerIni({
      settings,
      listenAddr: '127.0.0.1',
      listenPort: port,
      server: { host: serverUrl.hostname, port: Number(serverUrl.port || 5432) },
      authFile: files.authFile,
      adminUser: consoleRole,
      logfile: files.logfile,
      pidfile: files.pidfile,
      ...(server.tls ? { tls: { ...server.tls, verifyHostname: true } } : {}),
    });
    await writeFile(files.ini, ini, { mode: 0o600 });
    await writeFile(files.authFile, userlist, { mode: 0o600 });
    if (as) for (const path of [files.dir, files.ini, files.authFile]) await chown(path, as.uid, as.gid);
    return files;
  }

  it('starts with the reference settings, takes the auth file the header describes, and serves the app role', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    if (!binary) throw new Error('the run has a PgBouncer, but findPgbouncer() found none');
    const settings = derivePoolerSettings({ serverMaxConnections: 100, cpus: 2, preparedStatements: supportsPreparedStatements(binary) });
    // The documented query, run as a superuser, makes the whole auth file.
    const rows = await admin.unsafe<{ format: string }[]>(userlistQuery([server.app.user, consoleRole]));
    expect(rows).toHaveLength(2);
    const userlist = `${rows.map((r) => r.format).join('\n')}\n`;
    expect(userlist).not.toContain(server.app.password);
    expect(userlist.match(/"SCRAM-SHA-256\$4096:/g)).toHaveLength(2);

    const port = await freePort();
    const files = await writeFiles('reference', settings, port, userlist);
    await startPooler(binary, files, { host: '127.0.0.1', port }, await serverOsUser());
    started.push(files);

    // The app role logs in with its own password (SCRAM against the copied verifier) and PgBouncer
    // logs in to PostgreSQL with the client's keys: no plaintext anywhere.
    const appUrl = new URL(withDatabase(server.adminUrl, server.templateDatabase, server.app));
    appUrl.hostname = '127.0.0.1';
    appUrl.port = String(port);
    const app = connect(appUrl.toString(), { max: 1, prepare: false, onnotice: () => {} });
    try {
      const [row] = await app<{ who: string }[]>`SELECT current_user AS who`;
      expect(row?.who).toBe(server.app.user);
    } finally {
      await app.end();
    }

    // Every derived setting is in force, as PgBouncer reports it on its console.
    const consoleSql = poolerAdmin(
      buildUrl({ user: consoleRole, password: consolePassword, host: '127.0.0.1', port, database: 'pgbouncer', ...(server.tls ? { tls: { rootCert: server.tls.caFile } } : {}) }),
    );
    try {
      expect(await showVersion(consoleSql)).toContain(`PgBouncer ${binary.version}`);
      const config = await showConfig(consoleSql);
      for (const setting of settings) {
        const shown = config.get(setting.name);
        expect(shown, `SHOW CONFIG has no ${setting.name}`).toBeDefined();
        expect(shown?.replace(/^(\d+)(\.0+)?$/, '$1'), setting.name).toBe(setting.value);
      }
      // TLS 1.3 both ways when the run's server has TLS (the embedded one always does).
      if (server.tls) {
        expect([config.get('client_tls_sslmode'), config.get('client_tls_protocols'), config.get('server_tls_sslmode'), config.get('server_tls_protocols')]).toEqual([
          'require',
          'tlsv1.3',
          'verify-full',
          'tlsv1.3',
        ]);
      }
    } finally {
      await consoleSql.end();
    }
  });

  it('refuses to start with max_prepared_statements before 1.21, which is why it is derived only when supported', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    if (!binary) throw new Error('the run has a PgBouncer, but findPgbouncer() found none');
    if (supportsPreparedStatements(binary)) ctx.skip(`PgBouncer ${binary.version} supports max_prepared_statements`);
    const settings = derivePoolerSettings({ serverMaxConnections: 100, cpus: 2, preparedStatements: true });
    const port = await freePort();
    const files = await writeFiles('prepared', settings, port, renderAuthFile([{ user: consoleRole, verifier: scramVerifier(consolePassword) }]));
    const error = await startPooler(binary, files, { host: '127.0.0.1', port }, await serverOsUser()).then(
      () => {
        started.push(files);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(JeexDbError);
    expect((error as JeexDbError).code).toBe('POOLER_START_FAILED');
    expect((error as JeexDbError).logExcerpt?.join('\n')).toMatch(/unknown parameter: pgbouncer\/max_prepared_statements/);
  });
});

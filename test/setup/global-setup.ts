import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/db/connect.ts';
import type { TestProject } from 'vitest/node';

// eslint-disable-next-line @typescript-eslint/consistent-type-imports -- loaded lazily: only with JEEX_TEST_PG=testcontainers
type TestcontainersPostgres = typeof import('@testcontainers/postgresql');
import { formatKey, generateKey } from '../../src/crypto/keys.ts';
import { applyRoles } from '../../src/ops/roles/apply.ts';
import { roleNames } from '../../src/ops/roles/names.ts';
import { migrate } from '../../src/migrate/runner.ts';
import { freePort } from '../../src/platform/port.ts';
import { ensurePooler, stopPoolerIn } from '../../src/ops/pooler/local.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { down, up } from '../../src/stack/up.ts';
import { tlsFiles } from '../../src/ops/tls/files.ts';
import { withDatabase } from '../helpers/urls.ts';
import type { TestServer } from './provided.ts';

const TEMPLATE = 'jeex_test_template';

/** Start (or find) one PostgreSQL 18 for the whole run and prepare a migrated template database. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const { adminUrl, source, teardown, walArchive, logDir, tls } = await obtainServer();
  const roles = roleNames('jeex_test');
  const login = (user: string) => ({ user, password: randomBytes(24).toString('base64url') });
  const [migrator, app, readonly, backup, monitor, replicator] = [login(roles.migrator), login(roles.app), login(roles.readonly), login(roles.backup), login(roles.monitor), login(roles.replicator)];

  const admin = connect(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [{ num } = { num: '0' }] = await admin<{ num: string }[]>`SELECT current_setting('server_version_num') AS num`;
    if (Number(num) < 180000) throw new Error(`the test server runs PostgreSQL ${num}; the tests need 18 (${source})`);
    // A template from an earlier, interrupted run would be stale: rebuild it.
    await admin.unsafe(`DROP DATABASE IF EXISTS ${TEMPLATE} WITH (FORCE)`);
    await applyRoles(admin, (database) => connect(withDatabase(adminUrl, database), { max: 1, onnotice: () => {} }), {
      database: TEMPLATE,
      roles,
      passwords: { migrator: migrator.password, app: app.password, readonly: readonly.password, backup: backup.password, monitor: monitor.password, replicator: replicator.password },
      // The whole run shares these roles: many files connect and migrate at once, so no
      // connection limits, and no statement log of every test query (test/integration/roles-*.test.ts
      // checks both on roles of their own).
      settings: { auditReads: false, connectionLimits: { migrator: -1, app: -1, readonly: -1, backup: -1, monitor: -1, replicator: -1 } },
    });
  } finally {
    await admin.end();
  }
  const migratorSql = connect(withDatabase(adminUrl, TEMPLATE, migrator), { max: 2, onnotice: () => {} });
  try {
    await migrate(migratorSql);
  } finally {
    await migratorSql.end();
  }

  const pooler = await startTestPooler(adminUrl, app.user, tls);
  // Users' email and name are encrypted: one data key and one blind-index key for the run.
  const keys = { data: formatKey(generateKey()), blindIndex: formatKey(generateKey()) };
  const server: TestServer = {
    source,
    adminUrl,
    templateDatabase: TEMPLATE,
    migrator,
    app,
    keys,
    roles,
    readonly,
    backup,
    monitor,
    ...pooler.provided,
    ...(walArchive ? { walArchive } : {}),
    ...(logDir ? { logDir } : {}),
    ...(tls ? { tls } : {}),
  };
  project.provide('testServer', server);
  const via = pooler.provided.pooler ? `, PgBouncer ${pooler.provided.pooler.version} on ${pooler.provided.pooler.port}` : `, no PgBouncer (${pooler.provided.poolerMissing ?? ''})`;
  process.stderr.write(`[test] PostgreSQL 18 from ${source}${tls ? ' (TLS 1.3, verify-full)' : ''}${via} ready in ${Date.now() - started} ms\n`);
  return async () => {
    await pooler.stop();
    await teardown();
  };
}

/** One PgBouncer for the run, in front of the test server, knowing the test app role. */
async function startTestPooler(adminUrl: string, appRole: string, tls: TestServer['tls']): Promise<{ provided: Pick<TestServer, 'pooler' | 'poolerMissing'>; stop: () => Promise<unknown> }> {
  const dir = await mkdtemp(join(tmpdir(), 'jeex-test-pgbouncer-'));
  await chmod(dir, 0o755);
  const server = new URL(adminUrl);
  const admin = connect(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const result = await ensurePooler({
      dir: join(dir, 'pgbouncer'),
      as: await serverOsUser(),
      host: '127.0.0.1',
      server: { port: Number(server.port || 5432) },
      admin,
      roles: [appRole],
      console: { user: 'jeex_test_pgbouncer', password: randomBytes(24).toString('base64url') },
      cpus: 2,
      previousPort: await freePort(),
      progress: () => {},
      ...(tls ? { tls: { ...tls, verifyHostname: true } } : {}),
    });
    const stop = () => stopPoolerIn(join(dir, 'pgbouncer')).then(() => rm(dir, { recursive: true, force: true }));
    if (result.status === 'absent') {
      await stop();
      return { provided: { poolerMissing: result.reason }, stop: async () => {} };
    }
    return { provided: { pooler: { port: result.port, version: result.version, preparedStatements: result.preparedStatements } }, stop };
  } finally {
    await admin.end();
  }
}

type ObtainedServer = { adminUrl: string; source: string; teardown: () => Promise<void>; walArchive?: string; logDir?: string; tls?: TestServer['tls'] };

async function obtainServer(): Promise<ObtainedServer> {
  if (process.env.TEST_DATABASE_URL) {
    return { adminUrl: process.env.TEST_DATABASE_URL, source: 'TEST_DATABASE_URL', teardown: async () => {} };
  }
  if (process.env.JEEX_TEST_PG === 'testcontainers') {
    const container = await startContainer();
    if (container) return container;
  }
  return startEmbedded();
}

async function startEmbedded(): Promise<ObtainedServer> {
  const dir = await mkdtemp(join(tmpdir(), 'jeex-test-pg-'));
  await chmod(dir, 0o755); // the server's OS user must reach it when the tests run as root
  const result = await up({ dataDir: dir, port: await freePort(), memoryBytes: 1024 ** 3, startTimeoutSeconds: 60, pooler: false });
  const adminUrl = result.urls.superuser;
  if (!adminUrl) throw new Error('the embedded cluster did not report a superuser URL');
  if (result.tls?.status !== 'on' || !adminUrl.includes('sslmode=verify-full')) throw new Error(`the embedded cluster runs without TLS: ${JSON.stringify(result.tls)}`);
  const files = tlsFiles(dir);
  return {
    adminUrl,
    source: `embedded (${dir})`,
    tls: { caFile: files.caCert, certFile: files.serverCert, keyFile: files.serverKey },
    ...(result.walArchive ? { walArchive: result.walArchive.dir } : {}),
    logDir: join(dir, 'log'),
    teardown: async () => {
      await down({ dataDir: dir });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** postgres:18 through Testcontainers, when a Docker engine answers; otherwise undefined and a message. */
async function startContainer(): Promise<{ adminUrl: string; source: string; teardown: () => Promise<void> } | undefined> {
  const strict = process.env.JEEX_TEST_STRICT === '1';
  let module: TestcontainersPostgres;
  try {
    module = await import('@testcontainers/postgresql');
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
  } catch (error) {
    const message = `JEEX_TEST_PG=testcontainers, but no Docker engine is reachable (${(error as Error).message.split('\n')[0]}); skipping the testcontainers path and using the embedded PostgreSQL 18`;
    if (strict) throw new Error(message);
    process.stderr.write(`[test] ${message}\n`);
    return undefined;
  }
  const container = await new module.PostgreSqlContainer('postgres:18').start();
  return {
    adminUrl: container.getConnectionUri(),
    source: 'testcontainers postgres:18',
    teardown: async () => {
      await container.stop();
    },
  };
}

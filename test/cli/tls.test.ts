import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { freePort } from '../../src/platform/port.ts';
import { createCertificateAuthority } from '../../src/ops/tls/certificate-authority.ts';
import { issueServerCertificate } from '../../src/ops/tls/server-certificate.ts';
import { expectExit, listening, localEnv, parseJson, reachableTempDir, runCli } from '../helpers/cli.ts';

// End-to-end: the built binary makes the development CA, and starts a real cluster with TLS off,
// then on, then with "real" certificate files under production rules.

const CLUSTER_TIMEOUT = 90_000;
const TUNING = ['--memory', '512MiB', '--cpus', '2', '--no-pooler'];

interface Certificate {
  file: string;
  keyFile: string;
  fingerprint: string;
  notAfter: string;
  status: 'created' | 'reused' | 'renewed';
}
interface TlsInitJson {
  ok: boolean;
  dir: string;
  ca: Certificate;
  server: Certificate & { hosts: string[] };
}
interface UpJson {
  ok: boolean;
  status: string;
  urls: { app: string; superuser: string };
  tls: { status: 'on'; source: string; rootCert: string; minProtocol: string; sslmode: string } | { status: 'off'; warning: string };
}
interface ErrorJson {
  ok: false;
  error: { code: string; message: string; hint?: string };
  exitCode: number;
}

async function sessionTls(url: string): Promise<{ ssl: boolean; version: string | null }> {
  const sql: postgres.Sql = connect(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ ssl: boolean; version: string | null }[]>`SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
    return row ?? { ssl: false, version: null };
  } finally {
    await sql.end({ timeout: 2 });
  }
}

async function refusedWith(url: string): Promise<string> {
  const sql = connect(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await sql`SELECT 1`;
    return 'accepted';
  } catch (error) {
    return String((error as { code?: unknown }).code);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

describe('jeex-db tls init', () => {
  let root: string;
  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-tls-init-');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('creates the CA and a server certificate for the local names and --host, keys 0600 (server.key owned by the server OS user); a second run keeps them', async () => {
    const dataDir = join(root, 'db');
    const first = await runCli(['tls', 'init', '--data-dir', dataDir, '--host', 'db.local', '--host', '10.0.0.7', '--json']);
    expectExit(first, 0);
    const made = parseJson<TlsInitJson>(first);
    expect(made.ok).toBe(true);
    expect([made.ca.status, made.server.status]).toEqual(['created', 'created']);
    expect(made.server.hosts).toEqual(['localhost', '127.0.0.1', '::1', 'db.local', '10.0.0.7']);
    expect(made.dir).toBe(join(dataDir, 'tls'));
    expect(made.ca.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    for (const file of [made.ca.keyFile, made.server.keyFile]) expect((await stat(file)).mode & 0o777).toBe(0o600);
    const as = await serverOsUser();
    expect((await stat(made.server.keyFile)).uid).toBe(as ? as.uid : process.getuid?.());
    expect((await stat(made.ca.keyFile)).uid).toBe(process.getuid?.());

    const again = await runCli(['tls', 'init', '--data-dir', dataDir]);
    expectExit(again, 0);
    expect(again.stdout).toContain(`${made.ca.file} (kept`);
    expect(again.stdout).toContain(`SHA-256 ${made.ca.fingerprint}`);
    expect(again.stdout).toContain(`SHA-256 ${made.server.fingerprint}`);
    expect(again.stdout).toContain('for localhost, db.local, 127.0.0.1, ::1, 10.0.0.7');
    expect(again.stderr).toContain(`sslmode=verify-full&sslrootcert=${made.ca.file}`);
    expect(await readFile(made.ca.file, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('a --host that is not a host name exits 2', async () => {
    const result = await runCli(['tls', 'init', '--data-dir', join(root, 'bad'), '--host', 'not a host', '--json']);
    expectExit(result, 2);
    expect(parseJson<ErrorJson>(result).error.message).toContain('"not a host"');
  });
});

describe('jeex-db up: TLS off, on, and production', () => {
  let root: string;
  let dataDir: string;
  let port: number;
  let files: { certFile: string; keyFile: string; caFile: string; otherKeyFile: string };

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-tls-up-');
    dataDir = join(root, 'db');
    port = await freePort();
    // "Real" certificates: another CA, a certificate for 127.0.0.1 from it, and a key of another one.
    const ca = await createCertificateAuthority({ name: 'jeex-db test production CA' });
    const server = await issueServerCertificate(ca, ['127.0.0.1', 'db.example.internal']);
    const other = await issueServerCertificate(ca, ['127.0.0.1']);
    const given = join(root, 'given');
    await mkdir(given);
    files = { certFile: join(given, 'db.crt'), keyFile: join(given, 'db.key'), caFile: join(given, 'ca.crt'), otherKeyFile: join(given, 'other.key') };
    await writeFile(files.certFile, server.certPem);
    await writeFile(files.keyFile, server.keyPem, { mode: 0o600 });
    await writeFile(files.otherKeyFile, other.keyPem, { mode: 0o600 });
    await writeFile(files.caFile, ca.certPem);
  });
  afterAll(async () => {
    await runCli(['down', '--data-dir', dataDir]);
    await rm(root, { recursive: true, force: true });
  });

  it('up --no-tls warns loudly (stderr and JSON) and serves plain TCP; up again (running) turns TLS 1.3 on with a reload', { timeout: CLUSTER_TIMEOUT }, async () => {
    const off = await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--detach', '--json', '--no-tls', ...TUNING]);
    expectExit(off, 0);
    expect(off.stderr).toMatch(/WARNING TLS is OFF \(--no-tls\)/);
    const plain = parseJson<UpJson>(off);
    expect(plain.tls).toEqual({ status: 'off', warning: expect.stringContaining('unencrypted') as unknown });
    expect(plain.urls.superuser).not.toContain('sslmode');
    expect(await sessionTls(plain.urls.superuser)).toEqual({ ssl: false, version: null });
    const human = await runCli(['up', '--data-dir', dataDir, '--detach', '--no-tls', ...TUNING]);
    expect(human.stderr).toMatch(/WARNING TLS is OFF/);
    expect(human.stdout).toMatch(/tls +OFF/);

    const on = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...TUNING]);
    expectExit(on, 0);
    const secure = parseJson<UpJson>(on);
    expect(secure.status).toBe('already-running');
    expect(secure.tls).toMatchObject({ status: 'on', source: 'dev-ca', minProtocol: 'TLSv1.3', sslmode: 'verify-full', rootCert: join(dataDir, 'tls', 'ca.crt') });
    expect(secure.urls.superuser).toContain(`?sslmode=verify-full&sslrootcert=${join(dataDir, 'tls', 'ca.crt')}`);
    expect(on.stderr).not.toContain('WARNING');
    expect(await sessionTls(secure.urls.superuser)).toEqual({ ssl: true, version: 'TLSv1.3' });
    expect(await refusedWith(plain.urls.superuser)).toBe('28000');
    // `jeex-db url` gives the same verifying URL.
    const url = await runCli(['url', 'superuser', '--data-dir', dataDir]);
    expect(url.stdout.trim()).toBe(secure.urls.superuser);
    expectExit(await runCli(['down', '--data-dir', dataDir]), 0);
  });

  it('in production (NODE_ENV=production) up refuses without real certificate files (exit 34) and starts nothing; a key of another certificate exits 35', { timeout: CLUSTER_TIMEOUT }, async () => {
    const refused = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...TUNING], localEnv({ NODE_ENV: 'production' }));
    expectExit(refused, 34);
    const error = parseJson<ErrorJson>(refused);
    expect(error.error.code).toBe('TLS_REQUIRED');
    expect(error.error.hint).toContain('JEEX_TLS_CERT_FILE');
    expect(refused.stderr).toContain('refusing to start without TLS in production');
    expect(await listening(port)).toBe(false);

    expectExit(await runCli(['up', '--data-dir', dataDir, '--detach', '--production', '--no-tls', ...TUNING]), 34);

    const mismatched = await runCli(
      ['up', '--data-dir', dataDir, '--detach', '--json', '--production', '--tls-cert', files.certFile, '--tls-key', files.otherKeyFile, '--tls-ca', files.caFile, ...TUNING],
    );
    expectExit(mismatched, 35);
    expect(parseJson<ErrorJson>(mismatched).error).toMatchObject({ code: 'TLS_CERT_INVALID', message: expect.stringContaining('does not belong to it') as unknown });
    expect(await listening(port)).toBe(false);
  });

  it('in production up takes real certificate files from JEEX_TLS_*_FILE: clients verify them against that CA over TLS 1.3', { timeout: CLUSTER_TIMEOUT }, async () => {
    const env = localEnv({ NODE_ENV: 'production', JEEX_TLS_CERT_FILE: files.certFile, JEEX_TLS_KEY_FILE: files.keyFile, JEEX_TLS_CA_FILE: files.caFile });
    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...TUNING], env);
    expectExit(result, 0);
    const up = parseJson<UpJson>(result);
    const rootCert = join(dataDir, 'tls', 'provided', 'ca.crt');
    expect(up.tls).toMatchObject({ status: 'on', source: 'files', rootCert });
    expect(await readFile(rootCert, 'utf8')).toBe(await readFile(files.caFile, 'utf8'));
    expect(up.urls.superuser).toContain(`sslrootcert=${rootCert}`);
    expect(await sessionTls(up.urls.superuser)).toEqual({ ssl: true, version: 'TLSv1.3' });
    // The development CA of the earlier runs is no longer what the server's certificate comes from.
    expect(await refusedWith(up.urls.superuser.replace(rootCert, join(dataDir, 'tls', 'ca.crt')))).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});

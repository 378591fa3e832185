import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it, type TestContext } from 'vitest';
import { clientTarget } from '../../src/db/client-tls.ts';
import { connect } from '../../src/db/connect.ts';
import { createDb } from '../../src/db/create-db.ts';
import type { JeexDbError } from '../../src/core/errors.ts';
import { openTlsSocket } from '../../src/db/tls-socket.ts';
import { translateDbError } from '../../src/db/translate-error.ts';
import { ensurePooler, stopPoolerIn } from '../../src/ops/pooler/local.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { freePort } from '../../src/platform/port.ts';
import { createCertificateAuthority } from '../../src/ops/tls/certificate-authority.ts';
import { issueServerCertificate } from '../../src/ops/tls/server-certificate.ts';
import { reachableTempDir } from '../helpers/cli.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

const server = inject('testServer');
const t = useTestDatabase();
// Reachable by the server's OS user: PgBouncer (run as that user when we are root) reads a CA here.
const root = await reachableTempDir('jeex-tls-');
// A CA the run's server has nothing to do with.
const otherCa = await createCertificateAuthority({ name: 'not the server CA' });
const otherCaFile = join(root, 'other-ca.crt');
await writeFile(otherCaFile, otherCa.certPem, { mode: 0o644 });
afterAll(() => rm(root, { recursive: true, force: true }));

/**
 * The run's TLS files. These tests are about the server `up` configures; another one
 * (TEST_DATABASE_URL, testcontainers) has its own TLS setup, or none, so they are skipped there
 * (not a missing tool: JEEX_TEST_STRICT does not turn this into a failure).
 */
function tlsOf(ctx: TestContext): NonNullable<typeof server.tls> {
  if (!server.tls) {
    ctx.skip(`the run's server (${server.source}) is not the embedded one, with the TLS setup of \`jeex-db up\``);
    throw new Error('unreachable: ctx.skip() throws');
  }
  return server.tls;
}

/** The same URL with query parameters set (a string) or removed (null). */
function withParams(url: string, params: Record<string, string | null>): string {
  const parsed = new URL(url);
  for (const [name, value] of Object.entries(params)) {
    if (value === null) parsed.searchParams.delete(name);
    else parsed.searchParams.set(name, value);
  }
  return parsed.toString();
}

type Outcome = { ssl: boolean; version: string | null } | { error: unknown; translated: JeexDbError };

/** Connect with postgres.js (through connect()) and read this session's TLS from pg_stat_ssl, or what refused it. */
async function outcome(url: string): Promise<Outcome> {
  const sql = connect(url, { max: 1, prepare: false, connect_timeout: 5, onnotice: () => {} });
  try {
    const [row] = await sql<{ ssl: boolean; version: string | null }[]>`SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
    return row ?? { ssl: false, version: null };
  } catch (error) {
    return { error, translated: translateDbError(error) };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const code = (result: Outcome) => ('error' in result ? String((result.error as { code?: unknown }).code) : 'connected');

describe('TLS 1.3 to PostgreSQL', () => {
  it('a client that verifies the server (verify-full, the run CA) connects over TLS 1.3: pg_stat_ssl says so', async (ctx) => {
    tlsOf(ctx);
    expect(new URL(t.appUrl).searchParams.get('sslmode')).toBe('verify-full');
    expect(await outcome(t.appUrl)).toEqual({ ssl: true, version: 'TLSv1.3' });
    // The package's pool negotiates TLS itself (the guard reads the messages above it): also 1.3.
    const client = createDb({ url: t.appUrl, max: 1 }, {});
    try {
      expect(await client.sql<{ ssl: boolean; version: string }[]>`SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).toEqual([{ ssl: true, version: 'TLSv1.3' }]);
    } finally {
      await client.close();
    }
  });

  it('plain TCP is refused by pg_hba.conf before any password is sent (SQLSTATE 28000, "no encryption")', async (ctx) => {
    tlsOf(ctx);
    const result = await outcome(withParams(t.appUrl, { sslmode: 'disable' }));
    if (!('error' in result)) throw new Error(`plain TCP was accepted: ${JSON.stringify(result)}`);
    expect((result.error as { code: string }).code).toBe('28000');
    expect((result.error as Error).message).toMatch(/^pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "jeex_test_app", database "jeex_t_\w+", no encryption$/);
    expect(result.translated.code).toBe('AUTHENTICATION_FAILED');
    expect(result.translated.hint).toContain('sslmode=verify-full');
  });

  it('a client that offers only TLS 1.2 is refused: the server takes TLS 1.3 only', async (ctx) => {
    tlsOf(ctx);
    const result = await outcome(withParams(t.appUrl, { ssl_min_protocol_version: 'TLSv1.2', ssl_max_protocol_version: 'TLSv1.2' }));
    if (!('error' in result)) throw new Error(`a TLS 1.2 client was accepted: ${JSON.stringify(result)}`);
    // The server's alert, as OpenSSL words it (Node: EPROTO on a socket it was handed).
    expect((result.error as Error).message).toMatch(/tlsv1 alert protocol version/);
    expect(result.translated.code).toBe('CONNECTION_FAILED');
    expect(result.translated.message).toMatch(/TLS/);
    expect(result.translated.hint).toMatch(/TLS 1\.3/);
  });

  it('a client that trusts another CA, or only the system CAs, is refused', async (ctx) => {
    tlsOf(ctx);
    const other = await outcome(withParams(t.appUrl, { sslrootcert: otherCaFile }));
    expect(code(other)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    const system = await outcome(withParams(t.appUrl, { sslrootcert: 'system' }));
    expect(code(system)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    if (!('error' in other)) throw new Error('unreachable');
    expect(other.translated.code).toBe('CONNECTION_FAILED');
    expect(other.translated.hint).toMatch(/sslrootcert/);
  });

  it('a host name the certificate does not name is refused (the right CA is not enough)', async (ctx) => {
    tlsOf(ctx);
    // The server's certificate names localhost, 127.0.0.1 and ::1: reach it at 127.0.0.1 but
    // expect another name (libpq's hostaddr), as a client of a DNS name pointing here would.
    const url = new URL(t.appUrl);
    url.hostname = 'db.not-in-the-certificate.example';
    url.searchParams.set('hostaddr', '127.0.0.1');
    const result = await outcome(url.toString());
    expect(code(result)).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    if (!('error' in result)) throw new Error('unreachable');
    expect(result.translated.code).toBe('CONNECTION_FAILED');
    expect(result.translated.message).toContain('db.not-in-the-certificate.example');
  });

  it('with a second certificate, for 127.0.0.1 only: connecting as "localhost" is refused, as 127.0.0.1 the handshake passes', async () => {
    const cert = await issueServerCertificate(otherCa, ['127.0.0.1']);
    // A stand-in for PostgreSQL: answers the SSL request, does the TLS 1.3 handshake with that
    // certificate, counts it, and refuses the login that follows (a FATAL error, so the client
    // does not try again).
    const handshakes: string[] = [];
    const fields = ['SFATAL', 'VFATAL', 'C28000', 'Mstand-in server: handshake done'].map((f) => Buffer.from(`${f}\0`));
    const body = Buffer.concat([...fields, Buffer.from([0])]);
    const refusal = Buffer.concat([Buffer.from('E'), Buffer.from([0, 0, 0, 0]), body]);
    refusal.writeInt32BE(body.length + 4, 1);
    const fake = createTcpServer((socket: Socket) => {
      socket.once('data', () => {
        socket.write('S');
        const secure = new TLSSocket(socket, { isServer: true, cert: cert.certPem, key: cert.keyPem, minVersion: 'TLSv1.3' });
        secure.once('secure', () => handshakes.push(secure.getProtocol() ?? '?'));
        secure.once('data', () => secure.end(refusal));
        secure.on('error', () => secure.destroy());
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const port = (fake.address() as AddressInfo).port;
      const base = `postgres://u:p@localhost:${port}/d?sslmode=verify-full&sslrootcert=${encodeURIComponent(otherCaFile)}&hostaddr=127.0.0.1`;
      expect(code(await outcome(base))).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      expect(handshakes).toEqual([]);
      const byAddress = await outcome(base.replace('localhost', '127.0.0.1').replace('&hostaddr=127.0.0.1', ''));
      expect(code(byAddress)).toBe('28000');
      expect(byAddress).toMatchObject({ error: { message: 'stand-in server: handshake done' } });
      expect(handshakes).toEqual(['TLSv1.3']);
    } finally {
      fake.close();
    }
  });
});

describe('TLS 1.3 through PgBouncer', () => {
  it('plain TCP is refused ("SSL required"), TLS 1.2 too; TLS 1.3 is accepted, and PgBouncer reaches PostgreSQL over TLS 1.3', async (ctx) => {
    const tls = tlsOf(ctx);
    const pooler = requirePooler(ctx, server);
    const pooled = t.pooledAppUrl ?? '';
    expect(new URL(pooled).port).toBe(String(pooler.port));

    const plain = await outcome(withParams(pooled, { sslmode: 'disable' }));
    if (!('error' in plain)) throw new Error('plain TCP was accepted by PgBouncer');
    expect((plain.error as Error).message).toBe('SSL required');
    expect(plain.translated.code).toBe('CONNECTION_FAILED');
    expect(plain.translated.hint).toContain('sslmode=verify-full');
    const old = await outcome(withParams(pooled, { ssl_min_protocol_version: 'TLSv1.2', ssl_max_protocol_version: 'TLSv1.2' }));
    expect('error' in old && (old.error as Error).message).toMatch(/tlsv1 alert protocol version/);
    expect(code(await outcome(withParams(pooled, { sslrootcert: otherCaFile })))).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    // The client side: what PgBouncer negotiates with a verifying client.
    const target = clientTarget(pooled);
    const socket = (await openTlsSocket({ host: '127.0.0.1', port: pooler.port }, { tls: target.ssl as object, timeoutMs: 5000 })) as TLSSocket;
    const protocol = await new Promise<string | null>((resolve, reject) => {
      socket.once('secureConnect', () => resolve(socket.getProtocol()));
      socket.once('error', reject);
    });
    socket.destroy();
    expect(protocol).toBe('TLSv1.3');
    expect(tls.caFile).toBe(new URL(pooled).searchParams.get('sslrootcert'));

    // The server side: the query runs on PgBouncer's server connection, which is TLS 1.3.
    expect(await outcome(pooled)).toEqual({ ssl: true, version: 'TLSv1.3' });
  });

  describe('PgBouncer verifies PostgreSQL (server_tls_sslmode = verify-full)', () => {
    let dir = '';
    beforeAll(async () => {
      dir = join(await reachableTempDir('jeex-tls-pgbouncer-'), 'pgbouncer');
    });
    afterAll(async () => {
      await stopPoolerIn(dir);
      await rm(join(dir, '..'), { recursive: true, force: true });
    });

    it('with another CA as server_tls_ca_file it cannot log in to PostgreSQL, and its log says why', { timeout: 30_000 }, async (ctx) => {
      const tls = tlsOf(ctx);
      requirePooler(ctx, server);
      const admin = connect(server.adminUrl, { max: 1, onnotice: () => {} });
      let port: number;
      try {
        const result = await ensurePooler({
          dir,
          as: await serverOsUser(),
          host: '127.0.0.1',
          server: { port: Number(new URL(server.adminUrl).port) },
          admin,
          roles: [server.app.user],
          console: { user: 'jeex_t_tls_console', password: 'tls-console-password' },
          cpus: 2,
          previousPort: await freePort(),
          overrides: { query_wait_timeout: '2', server_connect_timeout: '2' },
          progress: () => {},
          tls: { ...tls, caFile: otherCaFile, verifyHostname: true },
        });
        if (result.status === 'absent') throw new Error(result.reason);
        port = result.port;
      } finally {
        await admin.end();
      }
      const url = new URL(t.pooledAppUrl ?? t.appUrl);
      url.port = String(port);
      const result = await outcome(url.toString());
      // The client reached PgBouncer over TLS (its certificate is the server's, from the run's CA),
      // but PgBouncer refused the server's certificate.
      expect(code(result)).toBe('08P01');
      const log = await readFile(join(dir, 'pgbouncer.log'), 'utf8');
      expect(log).toMatch(/certificate verify failed/);
    });
  });
});

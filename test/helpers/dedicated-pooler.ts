import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/db/connect.ts';
import { inject } from 'vitest';
import { buildUrl } from '../../src/local/state.ts';
import { ensurePooler, stopPoolerIn } from '../../src/ops/pooler/local.ts';
import { poolerFiles, poolerPid } from '../../src/ops/pooler/process.ts';
import { freePort } from '../../src/platform/port.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';

export interface DedicatedPooler {
  port: number;
  /** Its directory (pgbouncer.ini, the pidfile, the log): what `supervisePooler` watches. */
  dir: string;
  /** The running PgBouncer's pid (undefined when none runs). */
  pid(): Promise<number | undefined>;
  version: string;
  /** The admin console (virtual database "pgbouncer"). */
  consoleUrl: string;
  /** The same URL (role, password, database) through this PgBouncer. */
  through(url: string): string;
  /** Stop it (safe shutdown), leaving its files. */
  stop(): Promise<void>;
  /** Start it again on the same port. */
  start(): Promise<void>;
  /** Stop it and remove its directory. */
  remove(): Promise<void>;
}

/**
 * A PgBouncer of its own for one test file, in front of the run's server and knowing the app
 * role, so a test may stop, restart or saturate it without disturbing other files (`serverPort`:
 * put it in front of something else, e.g. a port nothing listens on). Undefined when
 * the binary is missing (the caller skips through `requirePooler`).
 */
export async function startDedicatedPooler(options: { overrides?: Record<string, string>; serverPort?: number } = {}): Promise<DedicatedPooler | undefined> {
  const { overrides } = options;
  const server = inject('testServer');
  const root = await mkdtemp(join(tmpdir(), 'jeex-test-own-pgbouncer-'));
  await chmod(root, 0o755); // PgBouncer runs as the server's OS user when the tests run as root
  const dir = join(root, 'pgbouncer');
  const console = { user: 'jeex_test_own_pgbouncer', password: randomBytes(24).toString('base64url') };
  const serverPort = options.serverPort ?? Number(new URL(server.adminUrl).port || 5432);
  const as = await serverOsUser();
  const ensure = async (port: number) => {
    const admin = connect(server.adminUrl, { max: 1, onnotice: () => {} });
    try {
      return await ensurePooler({
        dir,
        as,
        host: '127.0.0.1',
        server: { port: serverPort },
        admin,
        roles: [server.app.user],
        console,
        cpus: 2,
        previousPort: port,
        progress: () => {},
        ...(overrides ? { overrides } : {}),
        ...(server.tls ? { tls: { ...server.tls, verifyHostname: true } } : {}),
      });
    } finally {
      await admin.end();
    }
  };
  const first = await ensure(await freePort());
  if (first.status === 'absent') {
    await rm(root, { recursive: true, force: true });
    return undefined;
  }
  const port = first.port;
  const through = (url: string) => {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(port);
    return parsed.toString();
  };
  return {
    port,
    dir,
    pid: () => poolerPid(poolerFiles(dir)),
    version: first.version,
    consoleUrl: buildUrl({ ...console, host: '127.0.0.1', port, database: 'pgbouncer', ...(server.tls ? { tls: { rootCert: server.tls.caFile } } : {}) }),
    through,
    stop: async () => {
      await stopPoolerIn(dir);
    },
    start: async () => {
      const again = await ensure(port);
      if (again.status === 'absent' || again.port !== port) throw new Error(`PgBouncer came back ${again.status === 'absent' ? 'not at all' : `on port ${again.port}, not ${port}`}`);
    },
    remove: async () => {
      await stopPoolerIn(dir);
      await rm(root, { recursive: true, force: true });
    },
  };
}

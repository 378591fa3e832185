import { JeexDbError } from '../core/errors.ts';
import { clientTarget } from '../db/client-tls.ts';
import { connect } from '../db/connect.ts';
import { translateDbError } from '../db/translate-error.ts';
import { migrateUrl } from './steps/migrate.ts';
import { MIN_SERVER_VERSION_NUM, type UpOptions, type UpResult } from './up-types.ts';

/**
 * `up` with DATABASE_URL: check the server (verified TLS in production, PostgreSQL 18 or newer),
 * then apply the migrations. Nothing is started, so nothing is undone.
 */
export async function upExternal(url: string, options: UpOptions): Promise<UpResult> {
  const started = Date.now();
  const env = options.env ?? process.env;
  const sslmode = clientTarget(url).sslmode;
  if ((options.tls?.production || env.NODE_ENV === 'production') && sslmode !== 'verify-full' && sslmode !== 'verify-ca') {
    throw new JeexDbError('TLS_REQUIRED', `refusing DATABASE_URL without a verified TLS connection in production (NODE_ENV=production or --production): its sslmode is ${sslmode}`, {
      hint: 'Add sslmode=verify-full and sslrootcert=<the CA file> (or sslrootcert=system for a public CA) to DATABASE_URL.',
    });
  }
  const progress = options.onProgress ?? (() => {});
  progress('connecting to DATABASE_URL');
  const sql = connect(url, { max: 1, connect_timeout: options.startTimeoutSeconds ?? 10, onnotice: () => {} });
  let version: { version: string; num: number };
  try {
    const [row] = await sql<{ version: string; num: string }[]>`
      SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num`;
    version = { version: row?.version ?? '', num: Number(row?.num) };
  } catch (error) {
    throw translateDbError(error);
  } finally {
    await sql.end({ timeout: 2 });
  }
  if (version.num < MIN_SERVER_VERSION_NUM) {
    throw new JeexDbError('UNSUPPORTED_SERVER', `the server at DATABASE_URL runs PostgreSQL ${version.version}; jeex-db needs 18 or newer`, {
      hint: 'The schema uses PostgreSQL 18 features (uuidv7()). Point DATABASE_URL at a PostgreSQL 18 server, or unset it to use the local one.',
    });
  }
  progress('applying migrations');
  const migrations = await migrateUrl(url, progress);
  return {
    mode: 'external',
    status: 'external',
    created: false,
    urls: { app: url },
    pooler: { status: 'external', reason: 'DATABASE_URL is used as given' },
    serverVersion: version.version,
    migrations,
    durationMs: Date.now() - started,
  };
}

import postgres from 'postgres';
import { clientTarget } from './client-tls.ts';

/**
 * `postgres(url, options)` that understands libpq's TLS parameters: the one way this package (and
 * its tests and benchmarks) opens a postgres.js client. `sslmode=verify-full&sslrootcert=FILE`
 * verifies the server against that CA and host name over TLS 1.3; postgres.js alone would send
 * `sslrootcert` to the server as a setting (the login fails) and, for verify-full, trust only
 * Node's built-in CAs. See `clientTarget` for every parameter. An explicit `options.ssl` wins.
 *
 * @example
 * const sql = connect('postgres://jeex_app:...@127.0.0.1:5418/jeex?sslmode=verify-full&sslrootcert=/srv/.jeex-db/tls/ca.crt', { max: 4 });
 */
export function connect(url: string, options: postgres.Options<Record<string, postgres.PostgresType>> = {}): postgres.Sql {
  const target = clientTarget(url);
  return postgres(target.url, {
    ...(target.hostaddr ? { host: target.hostaddr } : {}),
    ssl: target.ssl,
    ...options,
  });
}

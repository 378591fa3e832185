import postgres from 'postgres';
import { clientTarget, socketTls } from './client-tls.ts';
import { openTlsSocket } from './tls-socket.ts';

/**
 * `postgres(url, options)` that understands libpq's TLS parameters: the one way this package (and
 * its tests and benchmarks) opens a postgres.js client. `sslmode=verify-full&sslrootcert=FILE`
 * verifies the server against that CA and host name over TLS 1.3; postgres.js alone would send
 * `sslrootcert` to the server as a setting (the login fails) and, for verify-full, trust only
 * Node's built-in CAs. See `clientTarget` for every parameter. The TLS connection is made by
 * `openTlsSocket` (Nagle off: 40 ms less per connection); an explicit `options.ssl` or
 * `options.socket` leaves it to postgres.js.
 *
 * @example
 * const sql = connect('postgres://jeex_app:...@127.0.0.1:5418/jeex?sslmode=verify-full&sslrootcert=/srv/.jeex-db/tls/ca.crt', { max: 4 });
 */
export function connect(url: string, options: postgres.Options<Record<string, postgres.PostgresType>> = {}): postgres.Sql {
  const target = clientTarget(url);
  const own = target.single && options.ssl === undefined && !('socket' in options) ? socketTls(target) : undefined;
  const timeoutMs = Number(options.connect_timeout ?? 30) * 1000;
  return postgres(target.url, {
    ...(target.hostaddr ? { host: target.hostaddr } : {}),
    ssl: own ? false : target.ssl,
    ...(own ? { socket: ((parsed: { host: string[]; port: number[] }) => openTlsSocket({ host: parsed.host[0] ?? 'localhost', port: parsed.port[0] ?? 5432 }, { ...own, timeoutMs })) as never } : {}),
    ...options,
  });
}

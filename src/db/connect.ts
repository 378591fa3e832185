import type { Socket } from 'node:net';
import postgres from 'postgres';
import { clientTarget, postgresJsArgs, socketTls, tlsFor } from './client-tls.ts';
import { addressLabel, type ServerAddress } from './conn-string.ts';
import { HostList } from './host-list.ts';
import { checkSessionRole } from './session-attrs.ts';
import { failingSocket, openTlsSocket } from './tls-socket.ts';

/**
 * `postgres(url, options)` that understands libpq's connection strings: the one way this package
 * (and its tests and benchmarks) opens a postgres.js client. `sslmode=verify-full&sslrootcert=FILE`
 * verifies the server against that CA and host name over TLS 1.3; postgres.js alone would send
 * `sslrootcert` to the server as a setting (the login fails) and, for verify-full, trust only
 * Node's built-in CAs. See `clientTarget` for every parameter. The TLS connection is made by
 * `openTlsSocket` (Nagle off: 40 ms less per connection). Several hosts
 * (`postgres://u:p@h1:5432,h2:5433/db`, `host=h1,h2`) are tried in order (`HostList`), each
 * host's certificate checked against its own name, and `target_session_attrs` as libpq means it
 * (`checkSessionRole`). An explicit `options.ssl` or `options.socket` leaves all that to postgres.js
 * (its `target_session_attrs` mapped: `postgresJsSessionAttrs`).
 *
 * @example
 * const sql = connect('postgres://jeex_app:...@127.0.0.1:5418/jeex?sslmode=verify-full&sslrootcert=/srv/.jeex-db/tls/ca.crt', { max: 4 });
 */
export function connect(url: string, options: postgres.Options<Record<string, postgres.PostgresType>> = {}): postgres.Sql {
  const target = clientTarget(url);
  const callerOwns = options.ssl !== undefined || 'socket' in options;
  const timeoutMs = Number(options.connect_timeout ?? 30) * 1000;
  const watch = (socket: Socket, where: string, hosts?: HostList, address?: ServerAddress) => {
    checkSessionRole(socket, target.sessionAttrs, where, () => address && hosts?.markFailed(address), () => (address && hosts?.othersLeft(address)) ?? false);
    return socket;
  };
  let socket: ((parsed: { host: string[]; port: number[] }) => Socket | Promise<Socket>) | undefined;
  if (!callerOwns && target.hosts.length > 1) {
    const hosts = new HostList(target.hosts, { tls: (address) => tlsFor(target, address), connectTimeoutMs: timeoutMs });
    socket = () =>
      hosts.open().then(
        ({ socket: opened, address }) => watch(Object.assign(opened, { host: address.host, port: address.port }), addressLabel(address), hosts, address),
        (error: unknown) => failingSocket(error as Error),
      );
  } else if (!callerOwns && target.single) {
    const own = socketTls(target);
    if (own) socket = (parsed) => openTlsSocket({ host: parsed.host[0] ?? 'localhost', port: parsed.port[0] ?? 5432 }, { ...own, timeoutMs }).then((s) => watch(s, `${parsed.host[0] ?? 'localhost'}:${parsed.port[0] ?? 5432}`));
  }
  const { url: clientUrl, options: hostOptions } = postgresJsArgs(target, { ownSocket: socket !== undefined && target.hosts.length > 1 });
  return postgres(clientUrl, {
    ...hostOptions,
    ssl: socket ? false : target.ssl,
    ...(socket ? { socket } : {}),
    ...options,
    // postgres.js types `host`/`port` as one value; it takes arrays too (its multi-host form).
  } as unknown as postgres.Options<Record<string, postgres.PostgresType>>);
}

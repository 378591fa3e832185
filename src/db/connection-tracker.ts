import { connect, type Socket } from 'node:net';
import { addressLabel, type ServerAddress } from './conn-string.ts';
import { guardSocket } from './guarded-socket.ts';
import type { HostList } from './host-list.ts';
import { checkSessionRole, type SessionAttrs } from './session-attrs.ts';
import { failingSocket, openTlsSocket, type TlsSocketOptions } from './tls-socket.ts';

export interface ConnectionTracker {
  /** Connections open right now (logged in and usable). */
  open(): number;
  /** postgres.js's `socket` option: opens the TCP connection itself, so it can count and time it. */
  socket: (options: { host: string[]; port: number[]; path?: string | false }) => Socket | Promise<Socket>;
}

/**
 * Count the pool's connections and time how long each takes to become usable: from the TCP
 * connect until the server's first ReadyForQuery (authentication included, and the TLS handshake
 * when `tls` holds its options: the socket then negotiates TLS itself, see openTlsSocket, so the
 * guard still reads the messages). With `tls: 'opaque'` (postgres.js does TLS inside the socket)
 * the messages cannot be read: a connection counts from its TCP connect and that time is
 * recorded, unguarded.
 *
 * The socket is handed to postgres.js before it connects, as postgres.js does itself: a refused or
 * slow connect then reaches postgres.js as the socket's `error`/`close`, so its connect_timeout
 * covers it and the connection is recycled. (Failing the factory's promise instead leaves the
 * connection stuck in postgres.js's "connecting" list for good, and the pool shrinks by one.)
 * Cancel requests open short connections through the same factory; they never reach
 * ReadyForQuery, so they are not counted. Plain sockets also get `guardSocket`, which keeps a
 * dying connection from crashing the process (see there).
 *
 * With `hosts` (a multi-host connection string) the host is chosen by `HostList.open` (the first
 * that connects, TLS per host), and with `sessionAttrs` a server whose role does not fit is
 * dropped at login (`checkSessionRole`) and tried last from then on.
 */
export function trackConnections(
  onCreated: (seconds: number) => void,
  options: {
    tls: false | 'opaque' | Omit<TlsSocketOptions, 'timeoutMs'>;
    setupStatements: number;
    connectTimeoutMs: number;
    unnamedStatements?: boolean;
    hosts?: HostList;
    sessionAttrs?: SessionAttrs;
  },
): ConnectionTracker {
  let open = 0;
  return {
    open: () => open,
    socket: (target) => {
      const started = performance.now();
      const tls = options.tls;
      const track = (socket: Socket, address: ServerAddress = { host: target.host[0] ?? 'localhost', port: target.port[0] ?? 5432 }): Socket => {
        const { host, port } = address;
        // postgres.js reads these for TLS's servername and for its error messages.
        Object.assign(socket, { host, port });
        const established = () => {
          open++;
          socket.once('close', () => open--);
          onCreated((performance.now() - started) / 1000);
        };
        if (tls === 'opaque') socket.once('connect', established);
        else {
          guardSocket(socket, {
            address: target.path || host,
            ...(target.path ? {} : { port }),
            setupStatements: options.setupStatements,
            onReady: established,
            ...(options.unnamedStatements ? { unnamedStatements: true } : {}),
          });
        }
        // Outermost: a server of the wrong role is dropped before the guard counts it as logged in.
        const hosts = options.hosts;
        if (options.sessionAttrs) checkSessionRole(socket, options.sessionAttrs, addressLabel(address), () => hosts?.markFailed(address), () => hosts?.othersLeft(address) ?? false);
        return socket;
      };
      if (options.hosts) {
        return options.hosts.open().then(
          ({ socket, address }) => track(socket, address),
          (error: unknown) => failingSocket(error as Error),
        );
      }
      const host = target.host[0] ?? 'localhost';
      const port = target.port[0] ?? 5432;
      if (!target.path && typeof tls === 'object') return openTlsSocket({ host, port }, { ...tls, timeoutMs: options.connectTimeoutMs }).then((socket) => track(socket));
      return track(target.path ? connect(target.path) : connect(port, host));
    },
  };
}

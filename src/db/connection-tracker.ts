import { connect, type Socket } from 'node:net';
import { guardSocket } from './guarded-socket.ts';
import { openTlsSocket, type TlsSocketOptions } from './tls-socket.ts';

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
 */
export function trackConnections(
  onCreated: (seconds: number) => void,
  options: { tls: false | 'opaque' | Omit<TlsSocketOptions, 'timeoutMs'>; setupStatements: number; connectTimeoutMs: number; unnamedStatements?: boolean },
): ConnectionTracker {
  let open = 0;
  return {
    open: () => open,
    socket: (target) => {
      const started = performance.now();
      const host = target.host[0] ?? 'localhost';
      const port = target.port[0] ?? 5432;
      const tls = options.tls;
      const track = (socket: Socket): Socket => {
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
        return socket;
      };
      if (!target.path && typeof tls === 'object') return openTlsSocket({ host, port }, { ...tls, timeoutMs: options.connectTimeoutMs }).then(track);
      return track(target.path ? connect(target.path) : connect(port, host));
    },
  };
}

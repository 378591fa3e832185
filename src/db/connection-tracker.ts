import { connect, type Socket } from 'node:net';

export interface ConnectionTracker {
  /** Connections open right now. */
  open(): number;
  /** postgres.js's `socket` option: opens the TCP connection itself, so it can count and time it. */
  socket: (options: { host: string[]; port: number[]; path?: string | false }) => Promise<Socket>;
}

/**
 * Count the pool's connections and time how long each takes to become usable: from the TCP
 * connect until the server's first ReadyForQuery (authentication included). Over TLS the
 * messages cannot be read, so the TCP connect time is recorded instead.
 */
export function trackConnections(onCreated: (seconds: number) => void, tls: boolean): ConnectionTracker {
  let open = 0;
  return {
    open: () => open,
    socket: (options) =>
      new Promise((resolve, reject) => {
        const started = performance.now();
        const socket = options.path ? connect(options.path) : connect(options.port[0] ?? 5432, options.host[0] ?? 'localhost');
        socket.once('error', reject);
        socket.once('connect', () => {
          socket.off('error', reject);
          open++;
          socket.once('close', () => open--);
          if (tls) onCreated((performance.now() - started) / 1000);
          else watchForReady(socket, () => onCreated((performance.now() - started) / 1000));
          resolve(socket);
        });
      }),
  };
}

/** Read the server's messages (type byte, int32 length) until the first ReadyForQuery ('Z'). */
function watchForReady(socket: Socket, ready: () => void): void {
  let buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 5) {
      const type = buffer[0];
      const length = buffer.readInt32BE(1);
      if (length < 4) return socket.off('data', onData);
      if (type === 0x5a) {
        socket.off('data', onData);
        ready();
        return;
      }
      if (buffer.length < 1 + length) return;
      buffer = buffer.subarray(1 + length);
    }
  };
  socket.on('data', onData);
}

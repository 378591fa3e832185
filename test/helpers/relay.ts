import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../src/server/port.ts';

export interface Relay {
  port: number;
  /** Stop listening and drop every connection: the network (or the server) going away. */
  close(): Promise<void>;
}

/**
 * A TCP relay 127.0.0.1:port → host:target. Either side failing or closing takes the other
 * down, as a real network path would. `port`: listen there again after a close.
 */
export async function startRelay(
  target: number,
  options: { host?: string; port?: number; /** Sees each chunk the client sends, as it passes. */ onClientData?: (chunk: Buffer) => void } = {},
): Promise<Relay> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const server: Server = createServer((incoming) => {
    const outgoing = connect(target, host);
    const drop = () => {
      incoming.destroy();
      outgoing.destroy();
    };
    for (const socket of [incoming, outgoing]) {
      sockets.add(socket);
      socket.on('error', drop);
      socket.on('close', () => {
        sockets.delete(socket);
        drop();
      });
    }
    if (options.onClientData) incoming.on('data', options.onClientData);
    incoming.pipe(outgoing).pipe(incoming);
  });
  const port = options.port ?? (await freePort(host));
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

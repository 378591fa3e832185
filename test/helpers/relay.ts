import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../src/platform/port.ts';

export interface Relay {
  port: number;
  /** Stop listening and drop every connection: the network (or the server) going away. */
  close(): Promise<void>;
  /**
   * The next chunk a client sends is forwarded; the answer to it is not: the first bytes back
   * close both sides instead (the request reached the server, its answer was lost on the way).
   * Resolves once that happened.
   */
  cutAfterNextRequest(): Promise<void>;
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
  // Armed by cutAfterNextRequest: the connection whose client writes next is cut at its answer.
  let arm: { done: () => void; pending?: { incoming: Socket; outgoing: Socket } } | undefined;
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
    incoming.on('data', (chunk: Buffer) => {
      options.onClientData?.(chunk);
      if (arm && !arm.pending) arm.pending = { incoming, outgoing };
      outgoing.write(chunk);
    });
    outgoing.on('data', (chunk: Buffer) => {
      if (arm?.pending?.outgoing === outgoing) {
        const { done } = arm;
        arm = undefined;
        // A reset, as when the path breaks: nothing of the answer reaches the client.
        incoming.resetAndDestroy();
        outgoing.destroy();
        done();
        return;
      }
      incoming.write(chunk);
    });
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
    cutAfterNextRequest: () => new Promise<void>((resolve) => (arm = { done: resolve })),
  };
}

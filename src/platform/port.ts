import { createServer } from 'node:net';
import { JeexDbError } from '../core/errors.ts';

/** Resolve true when `port` on `host` can be bound right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ask the OS for a port that is free right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function portInUse(port: number, host: string, logExcerpt?: string[]): JeexDbError {
  return new JeexDbError('PORT_IN_USE', `port ${port} on ${host} is already in use, so PostgreSQL cannot listen on it`, {
    hint: `Choose another port with --port N, or find what holds it: \`ss -ltnp 'sport = :${port}'\`.`,
    context: { port, host },
    ...(logExcerpt ? { logExcerpt } : {}),
  });
}

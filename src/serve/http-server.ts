import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HEALTH_CONTENT_TYPE, type HealthDocument, type HealthStatus } from '../ops/health/types.ts';
import { translateDbError } from '../db/translate-error.ts';
import { withTimeout } from '../core/timeout.ts';
import { cached } from './cached.ts';

export interface HealthServerOptions {
  port: number;
  /** Default 127.0.0.1; '0.0.0.0' to be probed from outside (a container). */
  host?: string;
  /**
   * One cheap round trip through the path the application uses (its pool, PgBouncer): resolves
   * when the database answers, throws when not.
   */
  ready: () => Promise<void>;
  /**
   * Asked when `ready` fails or gives no answer within `readyTimeoutMs`: a description when the path is
   * saturated (PgBouncer's server connections, or the app pool's, all busy with clients queued
   * behind them) but up, undefined when it is not. Saturated is ready (200, status `warn`): every
   * instance would be taken out at once otherwise, while the database serves. It gets
   * `readyTimeoutMs` of its own; a throw counts as not saturated.
   */
  saturation?: () => Promise<string | undefined>;
  /** The full health document (checkHealth on the monitoring connection). */
  health: () => Promise<HealthDocument>;
  /** How long a readiness answer is reused (default 1500 ms). */
  readyCacheMs?: number;
  /** How long a health document is reused (default 2000 ms). */
  healthCacheMs?: number;
  /** A readiness probe that takes longer fails (default 2000 ms). */
  readyTimeoutMs?: number;
  /** A health document that takes longer fails (default 10000 ms). */
  healthTimeoutMs?: number;
  /** `GET /metrics`: the Prometheus exposition, when configured. */
  metrics?: (request: IncomingMessage, response: ServerResponse) => void;
  /** `GET /alerts`: the pending and firing alerts, when alerts run. */
  alerts?: () => unknown;
  version?: string;
}

export interface RunningHealthServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** pass and warn are served (200); fail is not (503). */
export const httpStatusFor = (status: HealthStatus): number => (status === 'fail' ? 503 : 200);

function send(response: ServerResponse, code: number, body: unknown, type = HEALTH_CONTENT_TYPE): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  response.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  response.end(response.req.method === 'HEAD' ? undefined : text);
}

/**
 * `jeex-db serve`: `/livez` (the process answers; never touches the database), `/readyz` (the
 * database answers through the application's path, or that path is only saturated: 200 `warn`;
 * cached for `readyCacheMs`), `/health` (the
 * whole document), and `/metrics`, `/alerts` when configured. Health documents are served as
 * `application/health+json`, 200 for pass and warn, 503 for fail.
 *
 * @example
 * const server = await startHealthServer({ port: 8081, ready: async () => { await sql`SELECT 1`; }, health: () => checkHealth(monitor) });
 * // curl -i localhost:8081/readyz
 * await server.close();
 */
export async function startHealthServer(options: HealthServerOptions): Promise<RunningHealthServer> {
  const version = options.version ? { version: options.version } : {};
  const readyTimeoutMs = options.readyTimeoutMs ?? 2000;
  const readiness = cached(options.readyCacheMs ?? 1500, async (): Promise<HealthDocument> => {
    const time = new Date().toISOString();
    const started = performance.now();
    try {
      await withTimeout(options.ready(), readyTimeoutMs, () => new Error(`no answer within ${readyTimeoutMs} ms`));
      const observed = performance.now() - started;
      return {
        status: 'pass',
        ...version,
        checks: {
          'postgresql:reachable': [{ componentType: 'datastore', observedValue: true, status: 'pass', time }],
          'postgresql:responseTime': [{ componentType: 'datastore', observedValue: Math.round(observed * 100) / 100, observedUnit: 'ms', status: 'pass', time }],
        },
      };
    } catch (error) {
      // Late, or refused by the queue (PgBouncer's query_wait_timeout, the pool's POOL_TIMEOUT):
      // saturation decides, from what PgBouncer and the pool report, not from the error.
      const saturated = options.saturation ? await withTimeout(options.saturation(), readyTimeoutMs, () => new Error('no answer')).catch(() => undefined) : undefined;
      if (saturated) {
        const output = `the application's path is saturated, not down: ${saturated}. This instance stays ready (every instance would be taken out at once); /health warns and the alerts say so`;
        return {
          status: 'warn',
          ...version,
          output,
          checks: {
            'postgresql:reachable': [{ componentType: 'datastore', observedValue: true, status: 'pass', time }],
            'readiness:saturated': [{ componentType: 'datastore', observedValue: true, status: 'warn', time, output }],
          },
        };
      }
      const reason = error instanceof Error && !('code' in error) ? error.message : translateDbError(error).message;
      const output = `the database does not answer through the application's path: ${reason}. Check that PostgreSQL and PgBouncer run (\`jeex-db up\` locally); /health and \`jeex-db health\` say which part fails`;
      return {
        status: 'fail',
        ...version,
        output,
        checks: { 'postgresql:reachable': [{ componentType: 'datastore', observedValue: false, status: 'fail', time, output }] },
      };
    }
  });
  const health = cached(options.healthCacheMs ?? 2000, async (): Promise<HealthDocument> => {
    try {
      return await withTimeout(options.health(), options.healthTimeoutMs ?? 10_000, () => new Error(`the health checks took longer than ${options.healthTimeoutMs ?? 10_000} ms`));
    } catch (error) {
      const output = error instanceof Error ? error.message : String(error);
      const time = new Date().toISOString();
      return { status: 'fail', ...version, output, checks: { 'health:completed': [{ observedValue: false, status: 'fail', time, output }] } };
    }
  });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      send(response, 405, { error: `${request.method ?? ''} is not allowed; use GET` }, 'application/json');
      return;
    }
    switch (path) {
      case '/livez':
        send(response, 200, { status: 'pass', ...version });
        return;
      case '/readyz': {
        const document = await readiness();
        send(response, httpStatusFor(document.status), document);
        return;
      }
      case '/health': {
        const document = await health();
        send(response, httpStatusFor(document.status), document);
        return;
      }
      case '/metrics':
        if (options.metrics) {
          options.metrics(request, response);
          return;
        }
        break;
      case '/alerts':
        if (options.alerts) {
          send(response, 200, { alerts: options.alerts() }, 'application/json');
          return;
        }
        break;
      default:
        break;
    }
    const known = ['/livez', '/readyz', '/health', ...(options.metrics ? ['/metrics'] : []), ...(options.alerts ? ['/alerts'] : [])];
    send(response, 404, { error: `no ${path} here; try ${known.join(', ')}` }, 'application/json');
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, { error: error instanceof Error ? error.message : String(error) }, 'application/json');
      else response.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

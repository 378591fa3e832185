import { JeexDbError } from '../core/errors.ts';
import type { LocalLayout } from '../local/layout.ts';
import type { LocalState } from '../local/state.ts';
import { configuredPort } from './configure.ts';
import type { ServerStatus } from '../cluster/pg-ctl.ts';
import { isPortFree, portInUse } from '../platform/port.ts';

/**
 * The port of this start, checked before anything is created (a failed first `up` leaves no
 * cluster behind). A running server keeps the port it listens on (postmaster.pid), whatever
 * state.json or --port say: a difference is noted and state.json corrected, never waited on.
 * Otherwise: --port, else the remembered port (state.json, else jeex-local.conf of an existing
 * cluster), else 5418 or, for a new cluster, the next free port.
 */
export async function choosePort(
  given: { layout: LocalLayout; status: ServerStatus; previous: LocalState | undefined; cluster: 'new' | 'existing'; asked: number | undefined; host: string; defaultPort: number },
  progress: (message: string) => void,
  notes: string[],
): Promise<number> {
  const { layout, status, previous, cluster, asked, host, defaultPort } = given;
  if (status.running) {
    const port = status.port ?? previous?.port ?? asked ?? defaultPort;
    if (status.port !== undefined && previous && previous.port !== status.port) {
      notes.push(`${layout.stateFile} said port ${previous.port}, but PostgreSQL (pid ${status.pid ?? '?'}) listens on ${status.port} (its postmaster.pid): state.json now says ${status.port}. To move the cluster to ${previous.port}: \`jeex-db down\`, then \`jeex-db up --port ${previous.port}\`.`);
    }
    if (asked !== undefined && asked !== port) {
      notes.push(`PostgreSQL is already running on port ${port}; --port ${asked} takes effect after \`jeex-db down\` (then \`jeex-db up --port ${asked}\`).`);
    }
    // A server that says it is ready but does not listen there would only time out.
    if (status.state === 'ready' && (await isPortFree(port, host))) {
      throw new JeexDbError('SERVER_START_FAILED', `PostgreSQL (pid ${status.pid ?? '?'}) is running, but nothing listens on ${host}:${port}`, {
        hint: `postgresql.local.conf (or ALTER SYSTEM) probably overrides port or listen_addresses: remove the override, then \`jeex-db down\` and \`jeex-db up\`.`,
        context: { pid: status.pid, port },
      });
    }
    return port;
  }
  const remembered = previous?.port ?? (cluster === 'existing' ? await configuredPort(layout) : undefined);
  const port = asked ?? remembered ?? defaultPort;
  if (await isPortFree(port, host)) return port;
  // A new cluster with no port asked for: take the next free one (another project's cluster
  // often holds 5418) and remember it. An asked-for or remembered port is never changed.
  if (asked !== undefined || remembered !== undefined) throw portInUse(port, host);
  const free = await firstFreePort(defaultPort + 1, defaultPort + 20, host);
  if (free === undefined) throw portInUse(port, host);
  progress(`port ${port} is taken; this cluster uses ${free} (remembered in state.json)`);
  return free;
}

async function firstFreePort(from: number, to: number, host: string): Promise<number | undefined> {
  for (let port = from; port <= to; port++) if (await isPortFree(port, host)) return port;
  return undefined;
}

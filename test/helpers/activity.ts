import { randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An application_name no other test uses, to find a client's backends in pg_stat_activity. */
export function uniqueAppName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export interface Backend {
  pid: number;
  state: string | null;
  query: string;
}

/** The server backends of the clients called `applicationName` (seen through a superuser connection). */
export async function backendsOf(admin: Sql, applicationName: string): Promise<Backend[]> {
  return admin<Backend[]>`
    SELECT pid, state, query FROM pg_stat_activity
    WHERE application_name = ${applicationName} AND pid <> pg_backend_pid() ORDER BY backend_start`;
}

/** Poll until `accept` holds for the client's backends (or fail after `timeoutMs`). */
export async function waitForBackends(admin: Sql, applicationName: string, accept: (backends: Backend[]) => boolean, timeoutMs = 5000): Promise<Backend[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const backends = await backendsOf(admin, applicationName);
    if (accept(backends)) return backends;
    if (Date.now() > deadline) throw new Error(`pg_stat_activity never showed the expected backends of ${applicationName}: ${JSON.stringify(backends)}`);
    await sleep(20);
  }
}

/** The backend running a statement that contains `fragment`, once it runs. */
export async function runningBackend(admin: Sql, applicationName: string, fragment: string, exclude: number[] = []): Promise<Backend> {
  const [backend] = await waitForBackends(admin, applicationName, (all) =>
    all.some((b) => b.state === 'active' && b.query.includes(fragment) && !exclude.includes(b.pid)),
  ).then((all) => all.filter((b) => b.state === 'active' && b.query.includes(fragment) && !exclude.includes(b.pid)));
  if (!backend) throw new Error('unreachable');
  return backend;
}

/** pg_terminate_backend for each pid; resolves once they are gone from pg_stat_activity. */
export async function terminate(admin: Sql, pids: number[]): Promise<void> {
  await admin`SELECT pg_terminate_backend(pid) FROM unnest(${pids}::int[]) AS pid`;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const [row] = await admin<{ left: number }[]>`SELECT count(*)::int AS left FROM pg_stat_activity WHERE pid = ANY(${pids}::int[])`;
    if (row?.left === 0) return;
    await sleep(10);
  }
  throw new Error(`backends ${pids.join(', ')} did not exit`);
}

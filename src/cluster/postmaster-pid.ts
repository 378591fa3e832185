import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '../platform/process-alive.ts';
import { sleep } from '../core/sleep.ts';

/**
 * What a running postmaster wrote to `<pgdata>/postmaster.pid`: its pid (line 1), the port it
 * listens on (line 4) and its state (line 8: `starting`, `ready`, `stopping`, `standby`). The
 * port is the one the server really uses, whatever state.json says.
 */
export interface PostmasterPid {
  pid: number;
  port?: number;
  status?: string;
}

export async function readPostmasterPid(pgdata: string): Promise<PostmasterPid | undefined> {
  let text: string;
  try {
    text = await readFile(join(pgdata, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const port = Number(lines[3]);
  const status = lines[7]?.trim();
  return { pid, ...(Number.isInteger(port) && port > 0 && port <= 65535 ? { port } : {}), ...(status ? { status } : {}) };
}

/** The command name of a live process (`/proc/<pid>/comm`), or undefined when it cannot be read. */
export async function processName(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/**
 * Wait until a dead process is gone from the process table. A killed postmaster, reparented to
 * PID 1, lingers as a zombie until PID 1 reaps it (about 2 s here); meanwhile pg_ctl counts it as
 * running and a new postmaster refuses to start (kill(pid, 0) still finds it). Returns whether
 * it is gone.
 */
export async function whenReaped(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
    }
    if (processAlive(pid)) return false; // not a zombie (any more): a live process has this pid
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

/**
 * CPU time of the processes a leg keeps busy, from /proc (Linux). PostgreSQL's is the postmaster
 * plus every live child (backends, checkpointer, WAL writer, autovacuum, archiver) plus the
 * children that already exited: the postmaster waits for each, and the kernel adds a reaped
 * child's time to its parent's cutime/cstime, so a backend that ends during a leg is not lost.
 * pgbench's time reaches our own cutime/cstime the same way once it has exited.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, seconds. */
  own: number;
  /** cutime + cstime (waited-for children), seconds. */
  children: number;
}

async function procStat(pid: number | 'self'): Promise<ProcStat | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(fields[i - 3] ?? 0);
    const hz = clockTicks();
    return { pid: Number(text.slice(0, text.indexOf(' '))), ppid: n(4), own: (n(14) + n(15)) / hz, children: (n(16) + n(17)) / hz };
  } catch {
    return undefined;
  }
}

/** Seconds of CPU PostgreSQL used so far: the postmaster, its live children and the reaped ones. */
async function postgresCpu(postmaster: number): Promise<number> {
  const main = await procStat(postmaster);
  if (!main) return Number.NaN;
  let total = main.own + main.children;
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const stats = await Promise.all(pids.map((pid) => procStat(pid)));
  for (const stat of stats) if (stat && stat.ppid === postmaster) total += stat.own;
  return total;
}

export interface CpuSample {
  /** This process (the application in the Node legs), seconds. */
  node: number;
  /** Our exited children (pgbench), seconds. */
  nodeChildren: number;
  pgbouncer: number;
  postgres: number;
}

export interface CpuPids {
  postmaster: number;
  pgbouncer: number;
}

export async function sampleCpu(pids: CpuPids): Promise<CpuSample> {
  const usage = process.cpuUsage();
  const [self, pgbouncer, postgres] = await Promise.all([procStat('self'), procStat(pids.pgbouncer), postgresCpu(pids.postmaster)]);
  return { node: (usage.user + usage.system) / 1e6, nodeChildren: self?.children ?? Number.NaN, pgbouncer: pgbouncer?.own ?? Number.NaN, postgres };
}

/** CPU seconds each component used between two samples. */
export function cpuBetween(before: CpuSample, after: CpuSample): { node: number; pgbench: number; pgbouncer: number; postgres: number } {
  return {
    node: after.node - before.node,
    pgbench: after.nodeChildren - before.nodeChildren,
    pgbouncer: after.pgbouncer - before.pgbouncer,
    postgres: after.postgres - before.postgres,
  };
}

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

/**
 * Busy CPU seconds of the whole machine so far (every core: user, nice, system, irq, softirq,
 * steal from the first line of /proc/stat). Minus what the leg's own processes used, it is what
 * other work took from the same cores during the leg.
 */
async function machineBusy(): Promise<number> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0] ?? '';
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / clockTicks();
  } catch {
    return Number.NaN;
  }
}

export interface CpuSample {
  /** When it was taken (seconds on a monotonic clock): the window `other` is a share of. */
  at: number;
  /** Busy seconds of all cores together (/proc/stat). */
  machine: number;
  /** This process (the application in the Node legs), seconds. */
  node: number;
  /** The part of `node` spent in the kernel (socket reads and writes), seconds. */
  nodeKernel: number;
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
  const [self, pgbouncer, postgres, machine] = await Promise.all([procStat('self'), procStat(pids.pgbouncer), postgresCpu(pids.postmaster), machineBusy()]);
  return { at: performance.now() / 1000, machine, node: (usage.user + usage.system) / 1e6, nodeKernel: usage.system / 1e6, nodeChildren: self?.children ?? Number.NaN, pgbouncer: pgbouncer?.own ?? Number.NaN, postgres };
}

export interface CpuUsed {
  node: number;
  /** The part of `node` spent in the kernel. */
  nodeKernel: number;
  pgbench: number;
  pgbouncer: number;
  postgres: number;
  /** The machine's busy seconds that none of the above used: other work on the same cores. */
  other: number;
  /** Seconds between the two samples: `other` is measured over this window, not the leg's. */
  windowS: number;
}

/**
 * CPU seconds each component used between two samples. `measured` says which of them belong to
 * the leg (a pgbench leg's Node only waits; a Node leg has no pgbench); the rest of the
 * machine's busy time is `other`.
 */
export function cpuBetween(before: CpuSample, after: CpuSample, measured: { node: boolean; pgbench: boolean }): CpuUsed {
  const node = after.node - before.node;
  const pgbench = after.nodeChildren - before.nodeChildren;
  const pgbouncer = after.pgbouncer - before.pgbouncer;
  const postgres = after.postgres - before.postgres;
  const machine = after.machine - before.machine;
  // The bench's own Node process is not "other" work even when it only waits for pgbench.
  const other = Math.max(0, machine - node - pgbench - pgbouncer - postgres);
  return { node: measured.node ? node : 0, nodeKernel: measured.node ? after.nodeKernel - before.nodeKernel : 0, pgbench: measured.pgbench ? pgbench : 0, pgbouncer, postgres, other, windowS: after.at - before.at };
}

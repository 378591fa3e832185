import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Machine } from './tuning.ts';

function readCgroup(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Memory and CPUs this process may use: physical RAM and CPU count, lowered to the cgroup v2
 * limits when the process runs in a container with smaller ones.
 */
export function detectMachine(): Machine & { source: { memory: string; cpus: string } } {
  let memoryBytes = os.totalmem();
  let memorySource = 'physical RAM';
  const limit = readCgroup('/sys/fs/cgroup/memory.max');
  if (limit && /^\d+$/.test(limit) && Number(limit) < memoryBytes) {
    memoryBytes = Number(limit);
    memorySource = 'cgroup memory.max';
  }
  let cpus = os.availableParallelism();
  let cpuSource = 'available CPUs';
  const quota = readCgroup('/sys/fs/cgroup/cpu.max')?.split(/\s+/);
  if (quota && quota[0] !== 'max' && quota[1]) {
    const limited = Math.max(1, Math.ceil(Number(quota[0]) / Number(quota[1])));
    if (limited < cpus) [cpus, cpuSource] = [limited, 'cgroup cpu.max'];
  }
  return { memoryBytes, cpus, storage: 'ssd', source: { memory: memorySource, cpus: cpuSource } };
}

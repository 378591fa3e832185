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

/** Parse `512MiB`, `4GiB`, `2GB`, `1073741824` into bytes. */
export function parseBytes(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$/i.exec(text);
  if (!match) return undefined;
  const units: Record<string, number> = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
  const unit = (match[2] ?? 'b').toLowerCase()[0] ?? 'b';
  return Math.floor(Number(match[1]) * (units[unit] ?? 1));
}

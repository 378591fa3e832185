import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../src/platform/port.ts';

const cli = resolve(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

export interface StartupFigures {
  runs: number;
  /** `jeex-db up --detach` on a new data directory until it returns "ready" (initdb, start, roles, migrations). */
  coldMs: number[];
  /** `jeex-db up --detach` on an existing, stopped data directory. */
  warmMs: number[];
  coldMedianMs: number;
  warmMedianMs: number;
}

function runCli(args: string[]): Promise<{ ms: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DATABASE_URL: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise({ ms: performance.now() - started, stdout });
      else reject(new Error(`jeex-db ${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** Time `jeex-db up` from a cold (new) and a warm (existing, stopped) data directory. */
export async function benchStartup(runs: number, onRun: (line: string) => void): Promise<StartupFigures> {
  const coldMs: number[] = [];
  const warmMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'jeex-bench-up-'));
    await chmod(dir, 0o755);
    const base = ['--data-dir', dir, '--json'];
    try {
      const port = String(await freePort());
      const cold = await runCli(['up', ...base, '--detach', '--port', port, '--memory', '1GiB']);
      await runCli(['down', ...base]);
      const warm = await runCli(['up', ...base, '--detach', '--port', port, '--memory', '1GiB']);
      coldMs.push(cold.ms);
      warmMs.push(warm.ms);
      onRun(`run ${i + 1}/${runs}: cold ${cold.ms.toFixed(0)} ms, warm ${warm.ms.toFixed(0)} ms`);
    } finally {
      await runCli(['down', ...base]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }
  return { runs, coldMs, warmMs, coldMedianMs: median(coldMs), warmMedianMs: median(warmMs) };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/platform/port.ts';

/** Debian's prometheus package (2.42 on these machines). */
export const PROMETHEUS_BINARY = '/usr/bin/prometheus';
export const PROMTOOL_BINARY = '/usr/bin/promtool';

export interface RunningPrometheus {
  url: string;
  /** Instant query: one `{ labels, value }` per series (empty when the expression has no result). */
  query(expr: string): Promise<{ labels: Record<string, string>; value: number }[]>;
  /** The scrape targets' health as Prometheus sees it (`up`, `down`, `unknown`). */
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  /** The last lines Prometheus logged (for a failing test's message). */
  log(): string;
  stop(): Promise<void>;
}

/** Why Prometheus cannot run here, or undefined when it can. */
export function prometheusMissing(): string | undefined {
  return existsSync(PROMETHEUS_BINARY) ? undefined : `${PROMETHEUS_BINARY} is missing (apt-get install prometheus)`;
}

/**
 * A real Prometheus of its own (own port, own TSDB in a temp directory) scraping `targets`
 * (`host:port`, path /metrics) every `scrapeIntervalSeconds`. Stops with SIGTERM.
 */
export async function startPrometheus(options: { targets: string[]; scrapeIntervalSeconds?: number }): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'jeex-test-prometheus-'));
  const port = await freePort();
  const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    '  - job_name: jeex-db',
    `    scrape_timeout: ${interval}`,
    '    static_configs:',
    `      - targets: [${options.targets.map((t) => `'${t}'`).join(', ')}]`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  const child: ChildProcess = spawn(
    PROMETHEUS_BINARY,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-8000);
  });
  const url = `http://127.0.0.1:${port}`;
  const api = async (path: string): Promise<unknown> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() - started > 30_000) throw new Error(`prometheus not ready within 30 s:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    query: async (expr) => {
      const data = (await api(`/api/v1/query?query=${encodeURIComponent(expr)}`)) as { result: { metric: Record<string, string>; value: [number, string] }[] };
      return data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
    },
    targets: async () => {
      const data = (await api('/api/v1/targets')) as { activeTargets: { scrapeUrl: string; health: string; lastError: string }[] };
      return data.activeTargets.map(({ scrapeUrl, health, lastError }) => ({ scrapeUrl, health, lastError }));
    },
    log: () => log,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `promtool check metrics` over an exposition text: its exit code and what it printed. */
export async function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  const child = spawn(PROMTOOL_BINARY, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
  child.stdin.end(text);
  return { code: await code, output };
}

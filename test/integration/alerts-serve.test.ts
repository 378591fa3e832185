// The real binary (`npm run build` first): `jeex-db serve` against a database that does not answer,
// delivering to a real Alertmanager with the flags and keeping its state under --data-dir; a
// second serve on the same data directory restores the firing alert instead of firing it anew.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/platform/port.ts';
import { alertmanagerMissing, startAlertmanager, startNotificationSink, until } from '../helpers/alertmanager.ts';
import { CLI, localEnv } from '../helpers/cli.ts';
import { skipOrFail } from '../helpers/skip.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

/** Start `jeex-db serve --json ...`; resolves once it listens. */
async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcessWithoutNullStreams; stderr: () => string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--json', '--no-migrations', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exit;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('"url"')) resolve();
    });
    void exit.then((code) => reject(new Error(`serve exited ${code} before listening:\n${stdout}\n${stderr}`)));
  });
  return {
    child,
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      await exit;
    },
  };
}

describe('jeex-db serve delivers to Alertmanager', () => {
  it('--alertmanager-url and --alert-label: database-unreachable arrives with the labels; the state is kept in <data dir>/alerts', { timeout: 60_000 }, async (ctx) => {
    const missing = alertmanagerMissing();
    if (missing) skipOrFail(ctx, missing);
    const dataDir = await mkdtemp(join(tmpdir(), 'jeex-serve-alerts-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const notified = await startNotificationSink();
    cleanup.push(() => notified.close());
    const am = await startAlertmanager({ webhookUrl: notified.url });
    cleanup.push(() => am.stop());
    const closed = `postgres://nobody:hunter22@127.0.0.1:${await freePort()}/none`;
    const env = { ...localEnv(), JEEX_ALERT_LABELS: 'cluster=eu-1,team=db' };
    const args = ['--url', closed, '--app-url', closed, '--data-dir', dataDir, '--alert-interval', '1', '--alertmanager-url', am.url, '--alert-label', 'team=storage'];

    const first = await serve(args, env);
    const alert = await until('database-unreachable at Alertmanager', async () => (await am.alerts()).find((a) => a.labels.alertname === 'database-unreachable'), 20_000, first.stderr);
    expect(alert.labels).toEqual(expect.objectContaining({ severity: 'critical', check: 'postgresql:reachable', cluster: 'eu-1', team: 'storage' }));
    expect(alert.labels.instance).toBeTruthy();
    expect(JSON.stringify(alert)).not.toContain('hunter22');
    await first.stop();
    const saved = JSON.parse(await readFile(join(dataDir, 'alerts', 'engine.json'), 'utf8')) as { alerts: Record<string, { state: string; firedAt: number }> };
    expect(saved.alerts['database-unreachable']?.state).toBe('firing');

    // A new serve on the same data directory carries the alert on: same startsAt, no second "firing" transition.
    const second = await serve(args, env);
    await until('the restored state logged', () => second.stderr().includes('alert states restored from the last run: database-unreachable firing'), 10_000, second.stderr);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(second.stderr()).not.toContain('"msg":"alert database-unreachable firing"');
    const again = (await am.alerts()).find((a) => a.labels.alertname === 'database-unreachable');
    expect(Date.parse(again?.startsAt ?? '')).toBe(saved.alerts['database-unreachable']?.firedAt);
    await second.stop();
  });
});

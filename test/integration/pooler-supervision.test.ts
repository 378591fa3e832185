import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { checkHealth } from '../../src/ops/health/check-health.ts';
import { stopPoolerIn } from '../../src/ops/pooler/local.ts';
import { poolerFiles } from '../../src/ops/pooler/process.ts';
import { supervisePooler, type PoolerSupervisor, type SupervisePoolerOptions } from '../../src/ops/pooler/supervise.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { processAlive } from '../../src/platform/process-alive.ts';
import { startDedicatedPooler, type DedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { healingClients } from '../helpers/healing.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// The real PgBouncer, killed with SIGKILL under a supervisor (the one `up` in the foreground and
// `serve` run). Health and alerts: pooler-health.test.ts.
const t = useTestDatabase();
const client = healingClients(() => t.appUrl);
const server = inject('testServer');

type Line = Record<string, unknown> & { event?: string; msg?: string; time?: number; level?: number };

/** A pino logger whose lines are kept, parsed. */
function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  return { logger: pino({ base: null }, { write: (text: string) => lines.push(JSON.parse(text) as Line) }), lines };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function ownPooler(): Promise<DedicatedPooler> {
  const own = await startDedicatedPooler();
  if (!own) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
  cleanups.push(() => own.remove());
  return own;
}

async function supervise(own: DedicatedPooler, options: Partial<SupervisePoolerOptions> & { logger: pino.Logger }): Promise<PoolerSupervisor> {
  const as = await serverOsUser();
  const supervisor = supervisePooler({ dir: own.dir, pollMs: 50, ...(as ? { as } : {}), ...options });
  cleanups.push(() => supervisor.stop());
  // It has looked once: it knows the PgBouncer it watches.
  await until('the supervisor to see PgBouncer', () => supervisor.state().pid !== undefined);
  return supervisor;
}

async function kill(own: DedicatedPooler): Promise<number> {
  const pid = await own.pid();
  if (!pid) throw new Error('the dedicated PgBouncer is not running');
  process.kill(pid, 'SIGKILL');
  return pid;
}

/** The pgbouncer processes running with this ini (there must never be two). */
async function pgbouncersOf(own: DedicatedPooler): Promise<number[]> {
  const ini = poolerFiles(own.dir).ini;
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (args[0]?.endsWith('pgbouncer') && args.includes(ini) && processAlive(Number(entry))) found.push(Number(entry));
  }
  return found;
}

describe('supervisePooler', () => {
  it('restarts a PgBouncer killed with SIGKILL on the same port, logging the signal and the last lines of pgbouncer.log', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler();
    const { logger, lines } = capture();
    const supervisor = await supervise(own, { logger });
    const { sql } = client({ url: own.through(t.appUrl), pooler: 'pgbouncer', max: 1 });
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);

    const killed = await kill(own);
    const restarted = await until('the restart line', () => lines.find((l) => l.event === 'pgbouncer.restarted'));
    const died = lines.find((l) => l.event === 'pgbouncer.died');
    expect(died).toMatchObject({ level: 40, pid: killed, exit: { code: null, signal: 'SIGKILL' } });
    expect(died?.msg).toContain('killed by SIGKILL');
    expect(died?.logTail).toEqual(expect.arrayContaining([expect.stringMatching(/process up: PgBouncer/)]));
    expect(restarted).toMatchObject({ level: 30, port: own.port, previousPid: killed, exit: { signal: 'SIGKILL' } });
    expect(restarted.pid).not.toBe(killed);
    expect(await own.pid()).toBe(restarted.pid);
    // Down for under a second: the poll, then a start that listens.
    expect(restarted.downMs as number).toBeLessThan(2000);
    expect(supervisor.state()).toMatchObject({ status: 'running', pid: restarted.pid, attempts: 1, restarts: [{ pid: killed, by: 'self', newPid: restarted.pid, exit: { signal: 'SIGKILL' } }] });
    // The app's client reconnects through the same port.
    expect(await sql`SELECT 2 AS two`).toEqual([{ two: 2 }]);
  });

  it('two supervisors of one PgBouncer restart it once each time (the lock and the pidfile), never twice', { timeout: 60_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler();
    const first = capture();
    const second = capture();
    const a = await supervise(own, { logger: first.logger, stableMs: 300 });
    const b = await supervise(own, { logger: second.logger, stableMs: 300 });
    for (let round = 1; round <= 3; round++) {
      const killed = await kill(own);
      await until(`round ${round}: both see a new PgBouncer`, async () => {
        const pid = await own.pid();
        return pid !== undefined && pid !== killed && a.state().pid === pid && b.state().pid === pid && a.state().status === 'running' && b.state().status === 'running';
      });
      await sleep(400); // past stableMs, and time for a second start to show up if there were one
      expect(await pgbouncersOf(own)).toEqual([await own.pid()]);
    }
    const restarts = [...first.lines, ...second.lines].filter((l) => l.event === 'pgbouncer.restarted');
    expect(restarts).toHaveLength(3);
    // The other one saw the same deaths and found the new PgBouncer already running.
    const deaths = [...a.state().restarts, ...b.state().restarts];
    expect(deaths).toHaveLength(6);
    expect(deaths.filter((d) => d.by === 'self')).toHaveLength(3);
    expect(deaths.filter((d) => d.by === 'other')).toHaveLength(3);
    expect([...first.lines, ...second.lines].filter((l) => l.event === 'pgbouncer.restart-failed')).toEqual([]);
  });

  it('a restart that keeps failing backs off, is reported as failing, and recovers once the cause is fixed', { timeout: 60_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler();
    const { logger, lines } = capture();
    const supervisor = await supervise(own, { logger, backoff: { initialMs: 200, maxMs: 800 }, failingAfter: 3, stableMs: 1000 });
    const ini = poolerFiles(own.dir).ini;
    const good = await readFile(ini, 'utf8');
    // A broken configuration: every start fails at once.
    await writeFile(ini, `${good}bogus_setting = 1\n`);
    await kill(own);
    await until('the failing line', () => lines.find((l) => l.event === 'pgbouncer.failing'));
    const failed = await until('five failed restarts', () => {
      const found = lines.filter((l) => l.event === 'pgbouncer.restart-failed');
      return found.length >= 5 ? found : undefined;
    });
    for (const line of failed) expect((line.logExcerpt as string[]).join('\n')).toMatch(/unknown parameter: pgbouncer\/bogus_setting/);
    // At once, then 200, 400, 800, 800 ms apart: capped, never a spin.
    const times = failed.map((l) => l.time as number);
    const gaps = times.slice(1).map((time, i) => time - (times[i] ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(180);
    expect(gaps[1]).toBeGreaterThanOrEqual(380);
    expect(gaps[2]).toBeGreaterThanOrEqual(780);
    expect(gaps[3]).toBeGreaterThanOrEqual(780);
    expect(gaps[3]).toBeLessThan(800 + 1500);
    expect(supervisor.state()).toMatchObject({ status: 'failing' });
    expect(supervisor.state().lastError).toMatch(/PgBouncer did not start/);

    // The health document fails on it (and the alert rule pgbouncer-restarted fires on that).
    const monitor = connect(t.adminUrl, { max: 1, onnotice: () => {} });
    cleanups.push(() => monitor.end());
    const doc = await checkHealth(monitor, { poolerSupervisor: () => supervisor.state() });
    expect(doc.checks['pgbouncer:restarts']?.[0]).toMatchObject({ status: 'fail', observedValue: 1 });
    expect(doc.checks['pgbouncer:restarts']?.[0]?.output).toMatch(/keeps dying or cannot be started/);

    await writeFile(ini, good);
    const back = await until('the restart after the fix', () => lines.find((l) => l.event === 'pgbouncer.restarted'));
    expect(await own.pid()).toBe(back.pid);
    await until('running again once stable', () => supervisor.state().status === 'running', 5000);
    expect(supervisor.state().attempts).toBe(0);
  });

  it('a PgBouncer stopped on purpose (jeex-db down, --no-pooler, SIGTERM) stays stopped', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler();
    const { logger, lines } = capture();
    const supervisor = await supervise(own, { logger });
    expect(await stopPoolerIn(own.dir)).toBe(true);
    await until('the stopped state', () => supervisor.state().status === 'stopped');
    await sleep(500);
    expect(await own.pid()).toBeUndefined();
    expect(lines.filter((l) => l.event === 'pgbouncer.restarted')).toEqual([]);

    // `jeex-db up` starts it again: watched again, not counted as a restart.
    await own.start();
    const pid = await until('running again', () => (supervisor.state().status === 'running' ? supervisor.state().pid : undefined));
    expect(pid).toBe(await own.pid());
    process.kill(pid, 'SIGTERM');
    await until('stopped after SIGTERM', () => supervisor.state().status === 'stopped');
    await sleep(500);
    expect(await own.pid()).toBeUndefined();
    expect(lines.filter((l) => l.event === 'pgbouncer.restarted' || l.event === 'pgbouncer.died')).toEqual([]);
    expect(supervisor.state().restarts).toEqual([]);
  });
  // `up` in the foreground stops its supervisor, then PgBouncer and PostgreSQL; the supervisor's
  // pauses do not keep the process alive. Asked to stop while it was not in a pause (here: right
  // as it logs), it used to start a new pause, and the process, with nothing else to wait for,
  // exited there with status 0: Ctrl-C left PgBouncer and PostgreSQL running.
  it('stop() asked for between two pauses ends the loop before the process can exit under it', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler();
    const script = `
      const { supervisePooler } = await import(${JSON.stringify(join(process.cwd(), 'dist', 'ops', 'pooler', 'supervise.js'))});
      // What keeps \`up\` alive while it runs (its watch on the server); gone once it shuts down.
      const running = setInterval(() => {}, 1000);
      let supervisor;
      const line = (level) => (fields) => {
        console.log(JSON.stringify({ level, ...fields }));
        if (fields.event !== 'pgbouncer.stopped') return;
        clearInterval(running);
        supervisor.stop().then(() => console.log(JSON.stringify({ event: 'supervisor-stopped' })));
      };
      const logger = { info: line('info'), warn: line('warn'), error: line('error') };
      supervisor = supervisePooler({ dir: process.argv[1], pollMs: 50, logger });
      const watching = setInterval(() => {
        if (supervisor.state().pid === undefined) return;
        clearInterval(watching);
        console.log(JSON.stringify({ event: 'watching', pid: supervisor.state().pid }));
      }, 20);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, own.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exit;
    });
    const events = () => out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Line).event);
    await until('the child to watch PgBouncer', () => events().includes('watching') || undefined);
    expect(await stopPoolerIn(own.dir)).toBe(true);
    expect(await exit).toBe(0);
    // Before the fix: [watching, pgbouncer.stopped] and the process gone.
    expect(events()).toEqual(['watching', 'pgbouncer.stopped', 'supervisor-stopped']);
  });
});


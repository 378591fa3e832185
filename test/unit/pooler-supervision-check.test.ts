import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AlertEngine } from '../../src/ops/alerts/engine.ts';
import { defaultAlertRules } from '../../src/ops/alerts/rules.ts';
import { healthDocument } from '../../src/ops/health/check-health.ts';
import { poolerSupervisionCheck, POOLER_RESTART_WINDOW_MS, type PoolerSupervisionState } from '../../src/ops/health/client-checks.ts';
import { runCheck, type BaseContext } from '../../src/ops/health/measure.ts';
import { resolveHealthThresholds } from '../../src/ops/health/thresholds.ts';
import { describeExit, poolerExit, poolerFiles } from '../../src/ops/pooler/process.ts';

const now = Date.parse('2025-06-01T12:00:00.000Z');
const base: BaseContext = { thresholds: resolveHealthThresholds({}, {}).thresholds, timeoutMs: 1000, now: () => new Date(now), note: () => {} };

async function judged(state: PoolerSupervisionState) {
  const [entry] = await runCheck(poolerSupervisionCheck(() => state), base);
  return entry;
}

describe('pgbouncer:restarts', () => {
  it('passes with no death in the last 15 minutes, warns from the first, fails while restarts keep failing', async () => {
    const old = { at: new Date(now - POOLER_RESTART_WINDOW_MS - 1000), pid: 1, exit: { code: null, signal: 'SIGKILL' as const }, by: 'self' as const, newPid: 2 };
    expect((await judged({ status: 'running', restarts: [old], attempts: 0 }))?.check).toMatchObject({ status: 'pass', observedValue: 0 });

    const recent = { ...old, at: new Date(now - 60_000) };
    const warned = await judged({ status: 'running', restarts: [old, recent], attempts: 1 });
    expect(warned?.check).toMatchObject({ status: 'warn', observedValue: 1, observedUnit: '{restart}' });
    expect(warned?.check.output).toMatch(/died 1 time\(s\) in the last 15 minutes \(the last at 2025-06-01T11:59:00.000Z, killed by SIGKILL\)/);

    const failing = await judged({ status: 'failing', restarts: [recent], attempts: 4, lastError: 'PgBouncer did not start: pgbouncer ended before it listened (exit code 1)' });
    expect(failing?.check).toMatchObject({ status: 'fail' });
    expect(failing?.check.output).toMatch(/keeps dying or cannot be started: 4 restart\(s\).*exit code 1.*`jeex-db up`/);
  });

  it('the window is JEEX_HEALTH_POOLER_RESTART_WINDOW_SECONDS: pgbouncer-restarted resolves that long after the last death', async () => {
    const resolved = resolveHealthThresholds({}, { JEEX_HEALTH_POOLER_RESTART_WINDOW_SECONDS: '120' });
    expect(resolved.problems).toEqual([]);
    const at = (t: number) => ({ ...base, thresholds: resolved.thresholds, now: () => new Date(t) });
    const death = { at: new Date(now - 60_000), pid: 1, exit: { code: null, signal: 'SIGKILL' as const }, by: 'self' as const, newPid: 2 };
    const check = poolerSupervisionCheck(() => ({ status: 'running', restarts: [death], attempts: 1 }));
    const [within] = await runCheck(check, at(now));
    expect(within?.check).toMatchObject({ status: 'warn', observedValue: 1 });
    expect(within?.check.output).toMatch(/died 1 time\(s\) in the last 2 minutes/);
    const [after] = await runCheck(check, at(now + 61_000));
    expect(after?.check).toMatchObject({ status: 'pass', observedValue: 0 });

    const lines: Record<string, unknown>[] = [];
    const engine = new AlertEngine({ logger: pino({}, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), webhook: null, rules: defaultAlertRules.filter((r) => r.name === 'pgbouncer-restarted') });
    engine.evaluate(healthDocument(within ? [within] : []), now);
    engine.evaluate(healthDocument(after ? [after] : []), now + 61_000);
    expect(lines.filter((l) => l.alert === 'pgbouncer-restarted').map((l) => l.state)).toEqual(['firing', 'resolved']);
    // Not a duration: reported, and the default kept.
    expect(resolveHealthThresholds({}, { JEEX_HEALTH_POOLER_RESTART_WINDOW_SECONDS: 'soon' }).problems.join('\n')).toContain('JEEX_HEALTH_POOLER_RESTART_WINDOW_SECONDS=soon');
  });

  it('the default rules: pgbouncer-restarted fires on it, pgbouncer-down on pgbouncer:reachable failing', async () => {
    const lines: Record<string, unknown>[] = [];
    const engine = new AlertEngine({ logger: pino({}, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), webhook: null, rules: defaultAlertRules.filter((r) => r.name.startsWith('pgbouncer-')) });
    const restarted = await judged({ status: 'running', restarts: [{ at: new Date(now - 1000), pid: 1, exit: { code: null, signal: 'SIGKILL' }, by: 'self', newPid: 2 }], attempts: 1 });
    const down = { key: 'pgbouncer:reachable', check: { componentType: 'pgbouncer', observedValue: false, status: 'fail' as const, time: new Date(now).toISOString(), output: 'PgBouncer does not answer' } };
    engine.evaluate(healthDocument([...(restarted ? [restarted] : []), down]), now);
    expect(lines.filter((l) => l.state === 'firing').map((l) => [l.alert, l.severity])).toEqual([
      ['pgbouncer-down', 'critical'],
      ['pgbouncer-restarted', 'warning'],
    ]);
  });
});

describe('poolerExit', () => {
  it('reads the status its shell wrote: 128 + N is signal N', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jeex-pooler-exit-'));
    try {
      const files = poolerFiles(dir);
      expect(await poolerExit(files)).toBeUndefined();
      expect(describeExit(undefined)).toBe('exit status unknown');
      await writeFile(files.exitFile, '137\n');
      expect(await poolerExit(files)).toEqual({ code: null, signal: 'SIGKILL' });
      await writeFile(files.exitFile, '139\n');
      expect(describeExit(await poolerExit(files))).toBe('killed by SIGSEGV');
      await writeFile(files.exitFile, '1\n');
      expect(describeExit(await poolerExit(files))).toBe('exit code 1');
      await writeFile(files.exitFile, '');
      expect(await poolerExit(files)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// The OpenTelemetry SDK is registered process-wide here; vitest runs each test file in its own
// process (pool: 'forks'), so no other file sees it.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AlertEngine } from '../../src/ops/alerts/engine.ts';
import { defaultAlertRules, loadAlertRules, parseAlertRules, type AlertRule } from '../../src/ops/alerts/rules.ts';
import { maskWebhookUrl } from '../../src/ops/alerts/receiver-url.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import type { HealthCheck, HealthDocument } from '../../src/ops/health/types.ts';
import { useGlobalTestMetrics } from '../helpers/metrics.ts';

const reader = useGlobalTestMetrics();

/** An engine whose pino output is kept as parsed JSON lines. */
function engineWith(rules?: readonly AlertRule[]) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const engine = new AlertEngine({ logger, webhook: null, ...(rules ? { rules } : {}) });
  return { engine, lines };
}

function doc(checks: Record<string, Partial<HealthCheck> & Pick<HealthCheck, 'observedValue'>>): HealthDocument {
  const time = new Date(0).toISOString();
  return {
    status: 'pass',
    checks: Object.fromEntries(Object.entries(checks).map(([key, check]) => [key, [{ status: 'pass' as const, time, ...check }]])),
  };
}

const t0 = Date.parse('2025-06-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
// As checkHealth() reports them: the count (above 80 itself) and the share of max_connections.
const connections = (percent: number) => ({
  'postgresql:connections': [{ observedValue: 95, observedUnit: '{connection}', status: 'pass' as const, time: iso(t0) }],
  'postgresql:connectionUsage': [
    { observedValue: percent, observedUnit: '%', status: percent > 80 ? ('warn' as const) : ('pass' as const), time: iso(t0), output: `${percent}% of max_connections in use` },
  ],
});
const connDoc = (percent: number): HealthDocument => ({ status: 'pass', checks: connections(percent) });

describe('AlertEngine state machine', () => {
  it('fires "database unreachable" at the first failing evaluation and resolves when it answers again', () => {
    const { engine, lines } = engineWith();
    const down = doc({ 'postgresql:reachable': { observedValue: false, status: 'fail', output: 'connect ECONNREFUSED 127.0.0.1:5432' } });

    const fired = engine.evaluate(down, t0);
    expect(fired).toEqual([
      expect.objectContaining({ alert: 'database-unreachable', state: 'firing', from: 'inactive', severity: 'critical', observedValue: false, since: iso(t0) }),
    ]);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        msg: 'alert database-unreachable firing',
        alert: 'database-unreachable',
        state: 'firing',
        severity: 'critical',
        check: 'postgresql:reachable',
        observedValue: false,
        since: iso(t0),
        summary: 'PostgreSQL does not answer: connect ECONNREFUSED 127.0.0.1:5432',
      }),
    ]);
    expect(engine.active()).toEqual([expect.objectContaining({ alert: 'database-unreachable', state: 'firing', firingSince: iso(t0) })]);

    expect(engine.evaluate(down, t0 + 15_000)).toEqual([]);
    const resolved = engine.evaluate(doc({ 'postgresql:reachable': { observedValue: true } }), t0 + 30_000);
    expect(resolved).toEqual([expect.objectContaining({ alert: 'database-unreachable', state: 'resolved', from: 'firing', observedValue: true, at: iso(t0 + 30_000) })]);
    expect(lines.map((line) => [line.alert, line.state])).toEqual([
      ['database-unreachable', 'firing'],
      ['database-unreachable', 'resolved'],
    ]);
    expect(engine.active()).toEqual([]);
  });

  it('goes pending at t0, stays pending at t0+59s, fires at t0+60s, resolves when the condition clears', () => {
    const { engine, lines } = engineWith();
    expect(engine.evaluate(connDoc(85), t0).map((x) => [x.alert, x.state])).toEqual([['connections-high', 'pending']]);
    expect(engine.active()).toEqual([expect.objectContaining({ alert: 'connections-high', state: 'pending', observedValue: 85, since: iso(t0) })]);
    expect(engine.active()[0]).not.toHaveProperty('firingSince');
    expect(engine.evaluate(connDoc(90), t0 + 59_000)).toEqual([]);
    const firing = engine.evaluate(connDoc(91), t0 + 60_000);
    expect(firing).toEqual([expect.objectContaining({ alert: 'connections-high', state: 'firing', from: 'pending', observedValue: 91, since: iso(t0), severity: 'warning' })]);
    expect(engine.evaluate(connDoc(92), t0 + 120_000)).toEqual([]);
    expect(engine.evaluate(connDoc(40), t0 + 180_000)).toEqual([expect.objectContaining({ state: 'resolved', observedValue: 40 })]);

    expect(lines.map(({ alert, state, severity, check, observedValue, since, summary, level }) => ({ alert, state, severity, check, observedValue, since, summary, level }))).toEqual([
      { alert: 'connections-high', state: 'pending', severity: 'warning', check: 'postgresql:connectionUsage', observedValue: 85, since: iso(t0), summary: 'Connections at 85% of max_connections for a minute: 85% of max_connections in use', level: 30 },
      { alert: 'connections-high', state: 'firing', severity: 'warning', check: 'postgresql:connectionUsage', observedValue: 91, since: iso(t0), summary: 'Connections at 91% of max_connections for a minute: 91% of max_connections in use', level: 40 },
      { alert: 'connections-high', state: 'resolved', severity: 'warning', check: 'postgresql:connectionUsage', observedValue: 40, since: iso(t0), summary: 'Connections at 40% of max_connections for a minute: 40% of max_connections in use', level: 30 },
    ]);
  });

  it('a pending alert whose condition clears goes back to inactive without a log line; a single spike never fires', () => {
    const { engine, lines } = engineWith();
    engine.evaluate(connDoc(85), t0); // pending
    expect(engine.evaluate(connDoc(50), t0 + 30_000)).toEqual([]);
    expect(engine.active()).toEqual([]);
    // A new spike starts a new pending period: 60 s after the first spike is not 60 s of this one.
    expect(engine.evaluate(connDoc(85), t0 + 60_000).map((x) => [x.state, x.since])).toEqual([['pending', iso(t0 + 60_000)]]);
    expect(engine.evaluate(connDoc(50), t0 + 90_000)).toEqual([]);
    expect(lines.map((line) => line.state)).toEqual(['pending', 'pending']);
  });

  it('leaves an alert as it was when its check is missing from the document', () => {
    const { engine } = engineWith();
    engine.evaluate(doc({ 'pool:waiting': { observedValue: 3 } }), t0);
    expect(engine.evaluate(doc({ 'postgresql:reachable': { observedValue: true } }), t0 + 61_000)).toEqual([]);
    expect(engine.active()).toEqual([expect.objectContaining({ alert: 'pool-waiting', state: 'pending' })]);
    // Still pending since t0: the next document with the key fires it.
    expect(engine.evaluate(doc({ 'pool:waiting': { observedValue: 2 } }), t0 + 62_000)).toEqual([expect.objectContaining({ alert: 'pool-waiting', state: 'firing', observedValue: 2 })]);
    // A firing alert is not resolved by a document without its key either.
    expect(engine.evaluate({ status: 'pass', checks: {} }, t0 + 63_000)).toEqual([]);
    expect(engine.active()).toEqual([expect.objectContaining({ alert: 'pool-waiting', state: 'firing', summary: '2 requests waiting for a pool connection for a minute: the pool is too small for the load' })]);
  });

  it('fires warn-or-fail rules on warn and on fail, not on pass (slow statements after 5 minutes)', () => {
    const { engine } = engineWith(defaultAlertRules.filter((r) => r.name === 'slow-statements'));
    const slow = (status: HealthCheck['status'], observedValue: number) => doc({ 'postgresql:slowStatements': { observedValue, status } });
    expect(engine.evaluate(slow('pass', 0), t0)).toEqual([]);
    expect(engine.evaluate(slow('warn', 2), t0 + 1000).map((x) => x.state)).toEqual(['pending']);
    expect(engine.evaluate(slow('fail', 9), t0 + 1000 + 299_999)).toEqual([]);
    expect(engine.evaluate(slow('fail', 9), t0 + 1000 + 300_000).map((x) => x.state)).toEqual(['firing']);
    expect(engine.evaluate(slow('warn', 1), t0 + 400_000)).toEqual([]);
    expect(engine.evaluate(slow('pass', 0), t0 + 500_000)).toEqual([expect.objectContaining({ state: 'resolved' })]);
  });

  it('fires "replication-lag" when one standby of several stays over 5 s for a minute, naming it', () => {
    const { engine } = engineWith(defaultAlertRules.filter((r) => r.name === 'replication-lag'));
    const lagDoc = (b: number): HealthDocument => ({
      status: 'pass',
      checks: {
        'postgresql:replicationLag': [
          { observedValue: 0.01, observedUnit: 's', status: 'pass', componentId: 'standby_a@10.0.0.2', time: iso(t0) },
          { observedValue: b, observedUnit: 's', status: b >= 30 ? 'warn' : 'pass', componentId: 'standby_b@10.0.0.3', time: iso(t0) },
        ],
      },
    });
    expect(engine.evaluate(lagDoc(5), t0)).toEqual([]);
    expect(engine.evaluate(lagDoc(6), t0 + 1000)).toEqual([expect.objectContaining({ alert: 'replication-lag', state: 'pending', observedValue: 6 })]);
    expect(engine.evaluate(lagDoc(40), t0 + 60_999)).toEqual([]);
    const fired = engine.evaluate(lagDoc(40), t0 + 61_000);
    expect(fired).toEqual([expect.objectContaining({ alert: 'replication-lag', state: 'firing', severity: 'critical', observedValue: 40 })]);
    expect(fired[0]?.summary).toMatch(/^Replay on standby_b@10\.0\.0\.3 has been 40 s behind the primary for a minute: a failover now would lose/);
    expect(engine.evaluate(lagDoc(1), t0 + 70_000)).toEqual([expect.objectContaining({ state: 'resolved' })]);
  });

  it('fires "standby-not-streaming" after 30 s of warn or fail, "replication-slot-lost" and "synchronous-standby-missing" at once', () => {
    const names = ['standby-not-streaming', 'replication-slot-lost', 'synchronous-standby-missing'];
    const { engine } = engineWith(defaultAlertRules.filter((r) => names.includes(r.name)));
    const broken = doc({
      'postgresql:walReceiver': { observedValue: 'stopped', status: 'warn', output: 'this standby does not stream' },
      'postgresql:replicationSlots': { observedValue: 'lost', status: 'fail', componentId: 'standby_b', output: 'physical slot standby_b lost the WAL' },
      'postgresql:synchronousStandbys': { observedValue: 0, status: 'fail', output: "synchronous_standby_names is 'ANY 1 (b)'" },
    });
    const first = engine.evaluate(broken, t0);
    expect(first.map((x) => [x.alert, x.state])).toEqual([
      ['standby-not-streaming', 'pending'],
      ['synchronous-standby-missing', 'firing'],
      ['replication-slot-lost', 'firing'],
    ]);
    expect(first[2]?.summary).toBe('Replication slot standby_b is lost: physical slot standby_b lost the WAL');
    expect(engine.evaluate(broken, t0 + 30_000).map((x) => [x.alert, x.state])).toEqual([['standby-not-streaming', 'firing']]);
  });

  it('fires "wal-archive-failing" at once when archiving fails, and resolves when it works again', () => {
    const { engine } = engineWith(defaultAlertRules.filter((r) => r.name === 'wal-archive-failing'));
    const archive = (status: HealthCheck['status']) =>
      doc({ 'postgresql:archiveFailures': { observedValue: status === 'fail' ? 3 : 0, status, ...(status === 'fail' ? { output: 'archive file already exists' } : {}) } });
    expect(engine.evaluate(archive('pass'), t0)).toEqual([]);
    expect(engine.evaluate(archive('fail'), t0 + 1000)).toEqual([expect.objectContaining({ alert: 'wal-archive-failing', state: 'firing', severity: 'critical' })]);
    expect(engine.evaluate(archive('pass'), t0 + 2000)).toEqual([expect.objectContaining({ state: 'resolved' })]);
  });

  it("fires when the app's p95 operation time stays over the SLO for 5 minutes (operations-slow)", () => {
    const { engine, lines } = engineWith(defaultAlertRules.filter((r) => r.name === 'operations-slow'));
    const p95 = (status: HealthCheck['status'], observedValue: number) =>
      doc({ 'pool:operationP95': { observedValue, observedUnit: 'ms', status, ...(status === 'pass' ? {} : { output: 'find the slow statements' }) } });
    expect(engine.evaluate(p95('warn', 180), t0).map((x) => x.state)).toEqual(['pending']);
    expect(engine.evaluate(p95('pass', 20), t0 + 60_000)).toEqual([]); // a spike: back to inactive, silently
    expect(engine.evaluate(p95('warn', 150), t0 + 120_000).map((x) => x.state)).toEqual(['pending']);
    expect(engine.evaluate(p95('fail', 700), t0 + 120_000 + 300_000)).toEqual([expect.objectContaining({ state: 'firing', severity: 'warning', observedValue: 700 })]);
    const fired = lines.find((line) => line.state === 'firing');
    expect(fired?.summary).toBe("p95 of the app's operations has been 700 ms for 5 minutes, over the SLO (operationP95WarnMs): find the slow statements");
  });

  it('with a unit, judges only the entries in that unit; any matching entry (instance) fires', () => {
    const rule: AlertRule = { name: 'pct', description: 'Share too high', check: 'x:usage', unit: '%', when: { op: '>', value: 80 }, for: 0, severity: 'warning' };
    const { engine } = engineWith([rule]);
    const entry = (observedValue: number, observedUnit: string, componentId: string): HealthCheck => ({ observedValue, observedUnit, componentId, status: 'pass', time: iso(t0) });
    const withEntries = (...entries: HealthCheck[]): HealthDocument => ({ status: 'pass', checks: { 'x:usage': entries } });
    expect(engine.evaluate(withEntries(entry(500, '{connection}', 'a'), entry(10, '%', 'a')), t0)).toEqual([]);
    // No entry in % at all: as if the key were missing.
    expect(engine.evaluate(withEntries(entry(500, '{connection}', 'a')), t0 + 1)).toEqual([]);
    expect(engine.evaluate(withEntries(entry(10, '%', 'a'), entry(90, '%', 'b')), t0 + 2)).toEqual([expect.objectContaining({ state: 'firing', observedValue: 90 })]);
  });

  it.each([
    ['>', 10, [9, 10, 11], [false, false, true]],
    ['>=', 10, [9, 10, 11], [false, true, true]],
    ['<', 10, [9, 10, 11], [true, false, false]],
    ['<=', 10, [9, 10, 11], [true, true, false]],
    ['==', 10, [9, 10, '10'], [false, true, false]],
    ['!=', 10, [9, 10, null], [true, false, false]],
    ['==', false, [false, true, 0], [true, false, false]],
    ['!=', true, [false, true, 'yes'], [true, false, false]],
  ] as const)('compares with %s %s', (op, value, observed, expected) => {
    const rule: AlertRule = { name: 'cmp', description: 'comparison', check: 'x:y', when: { op, value }, for: 0, severity: 'warning' };
    const fires = observed.map((observedValue) => {
      const { engine } = engineWith([rule]);
      return engine.evaluate(doc({ 'x:y': { observedValue } }), t0).length === 1;
    });
    expect(fires).toEqual(expected);
  });

  it('counts transitions and reports firing alerts as a gauge', async () => {
    const rule: AlertRule = { name: 'metric-test', description: 'Metric test', check: 'm:t', when: 'fail', for: 1000, severity: 'critical' };
    const { engine } = engineWith([rule]);
    const series = { alert: 'metric-test', severity: 'critical' };
    engine.evaluate(doc({ 'm:t': { observedValue: 1, status: 'fail' } }), t0);
    let snapshot = await reader.snapshot();
    expect(snapshot.value('jeex.alerts.transitions', { ...series, state: 'pending' })).toBe(1);
    expect(snapshot.value('jeex.alerts.firing', series)).toBe(0);
    engine.evaluate(doc({ 'm:t': { observedValue: 1, status: 'fail' } }), t0 + 1000);
    snapshot = await reader.snapshot();
    expect(snapshot.value('jeex.alerts.transitions', { ...series, state: 'firing' })).toBe(1);
    expect(snapshot.value('jeex.alerts.firing', series)).toBe(1);
    engine.evaluate(doc({ 'm:t': { observedValue: 0, status: 'pass' } }), t0 + 2000);
    snapshot = await reader.snapshot();
    expect(snapshot.value('jeex.alerts.transitions', { ...series, state: 'resolved' })).toBe(1);
    expect(snapshot.value('jeex.alerts.firing', series)).toBe(0);
    await engine.close();
  });

  it('refuses two rules of the same name', () => {
    const rule = defaultAlertRules[0] as AlertRule;
    expect(() => engineWith([rule, rule])).toThrow(/two alert rules are named "database-unreachable"/);
  });
});

describe('alert rules from JSON', () => {
  it('reports every bad field at once, naming the rule and the field', () => {
    const rules = [
      { name: 'ok-rule', description: 'fine', check: 'pool:waiting', when: { op: '>', value: 0 }, for: 0, severity: 'warning' },
      { name: 'pool-waiting', description: 'Waiters', check: 'pool:waiting', when: { op: '>', value: true }, for: '1m', severity: 'warning' },
      { name: 'sev', description: 'x', check: 'pool', when: 'fail', for: 0, severity: 'page' },
      { description: 'no name', check: 'a:b', when: 'sometimes', for: 0, severity: 'critical' },
    ];
    let error: unknown;
    try {
      parseAlertRules({ rules }, 'alerts.json');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(JeexDbError);
    const { code, message } = error as JeexDbError;
    expect(code).toBe('INVALID_CONFIG');
    expect(message).toMatch(/^alerts\.json has \d+ problems:/);
    expect(message).toContain('rule "pool-waiting" (rules[1]) for: ');
    expect(message).toContain('rule "sev" (rules[2]) check: use a check key "component:measurement"');
    expect(message).toContain('rule "sev" (rules[2]) severity: ');
    expect(message).toContain('rule rules[3] name: ');
    expect(message).toContain('rule rules[3] when: use "fail", "warn-or-fail" or { "op"');
    expect(message).not.toContain('ok-rule');
  });

  it('refuses an ordering comparison with a boolean, and a duplicate name', () => {
    const rule = { name: 'r', description: 'd', check: 'a:b', when: { op: '>=', value: true }, for: 0, severity: 'warning' };
    expect(() => parseAlertRules([rule, { ...rule, when: 'fail' }])).toThrow(/rule "r" \(rules\[0\]\) when\.value: ">=" compares numbers, got true[\s\S]*rule "r" \(rules\[1\]\) name: another rule is named "r"/);
  });

  it('loads a file; extendsDefaults replaces the default of the same name and keeps the others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jeex-alerts-'));
    try {
      const path = join(dir, 'alerts.json');
      await writeFile(path, JSON.stringify({ extendsDefaults: true, rules: [{ ...defaultAlertRules.find((r) => r.name === 'pool-waiting'), for: 30_000 }] }));
      const rules = await loadAlertRules(path);
      expect(rules.map((r) => r.name).sort()).toEqual(defaultAlertRules.map((r) => r.name).sort());
      expect(rules.find((r) => r.name === 'pool-waiting')?.for).toBe(30_000);

      await writeFile(path, JSON.stringify([{ name: 'only', description: 'd', check: 'a:b', when: 'fail', for: 0, severity: 'critical' }]));
      expect((await loadAlertRules(path)).map((r) => r.name)).toEqual(['only']);

      await writeFile(path, '{ "rules": [ }');
      await expect(loadAlertRules(path)).rejects.toThrow(/alerts\.json is not valid JSON/);
      await writeFile(path, JSON.stringify({ rule: [] }));
      await expect(loadAlertRules(path)).rejects.toThrow(/alerts\.json has 2 problems:\n {2}rules: [^\n]+\n {2}\(top level\): [^\n]*"rule"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('maskWebhookUrl', () => {
  it('hides credentials, the query and token-like path segments', () => {
    expect(maskWebhookUrl('https://user:s3cret@hooks.example.com:8443/alerts?token=abc')).toBe('https://***:***@hooks.example.com:8443/alerts?***');
    expect(maskWebhookUrl('https://hooks.example.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX')).toBe('https://hooks.example.com/services/T000/B000/***');
    expect(maskWebhookUrl('not a url')).toBe('(an invalid URL)');
  });
});

describe('AlertEngine notifications (outbox file, no receiver listening)', () => {
  // Port 9 (discard) on 127.0.0.1 refuses: every notification stays in the outbox, which the test reads.
  const receivers = [{ kind: 'alertmanager' as const, url: 'http://127.0.0.1:9' }];
  const down = doc({ 'postgresql:reachable': { observedValue: false, status: 'fail', output: 'refused', componentId: 'db' } });
  const up = doc({ 'postgresql:reachable': { observedValue: true, status: 'pass' } });
  async function withDir(run: (dir: string, outbox: () => Promise<{ alert: string; state: string; endsAt: string; startsAt: string; labels: Record<string, string> }[]>) => Promise<void>) {
    const dir = await mkdtemp(join(tmpdir(), 'jeex-alerts-'));
    const outbox = async () =>
      (JSON.parse(await readFile(join(dir, 'outbox.json'), 'utf8')) as { entries: { notification: { alert: string; state: string; endsAt: string; startsAt: string; labels: Record<string, string> } }[] }).entries.map((e) => e.notification);
    try {
      await run(dir, outbox);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const quiet = pino({ level: 'silent' });
  const noRetry = { backoffMs: 3_600_000, maxBackoffMs: 3_600_000 };

  it('a firing alert is valid for 4 repeat intervals (or 4 evaluation gaps), re-sent each interval with the labels it fired with', async () => {
    await withDir(async (dir, outbox) => {
      const engine = new AlertEngine({ logger: quiet, receivers, dir, delivery: noRetry, repeatIntervalMs: 60_000, labels: { instance: 'db-1' } });
      engine.evaluate(down, t0);
      await engine.flush();
      expect(await outbox()).toEqual([expect.objectContaining({ alert: 'database-unreachable', state: 'firing', startsAt: iso(t0), endsAt: iso(t0 + 240_000) })]);
      expect((await outbox())[0]?.labels).toEqual({ instance: 'db-1', alertname: 'database-unreachable', severity: 'critical', check: 'postgresql:reachable', component: 'db' });
      engine.evaluate(down, t0 + 30_000);
      await engine.flush();
      expect((await outbox())[0]?.endsAt).toBe(iso(t0 + 240_000));
      // Evaluated 5 minutes later (a slow check): valid for 4 such gaps.
      engine.evaluate(down, t0 + 330_000);
      await engine.flush();
      expect((await outbox())[0]?.endsAt).toBe(iso(t0 + 330_000 + 4 * 300_000));
      engine.evaluate(up, t0 + 340_000);
      await engine.flush();
      expect(await outbox()).toEqual([expect.objectContaining({ state: 'resolved', endsAt: iso(t0 + 340_000) })]);
      await engine.close();
    });
  });

  it('never sends an end before the start (a clock stepped back), and starts a stale pending alert from zero', async () => {
    await withDir(async (dir, outbox) => {
      const engine = new AlertEngine({ logger: quiet, receivers, dir, delivery: noRetry });
      engine.evaluate(down, t0);
      engine.evaluate(up, t0 - 10_000);
      await engine.close();
      expect((await outbox())[0]).toEqual(expect.objectContaining({ state: 'resolved', startsAt: iso(t0), endsAt: iso(t0) }));

      const rules: AlertRule[] = [{ name: 'slow', description: 'd', check: 'postgresql:reachable', when: 'fail', for: 60_000, severity: 'warning' }];
      // t0 is long past: the saved pending state is older than an hour.
      const first = new AlertEngine({ logger: quiet, rules, receivers: null, dir });
      first.evaluate(down, t0);
      await first.close();
      const second = new AlertEngine({ logger: quiet, rules, receivers: null, dir });
      expect(second.active()).toEqual([]);
      const recent = Date.now() - 30_000;
      const third = new AlertEngine({ logger: quiet, rules, receivers: null, dir });
      third.evaluate(down, recent);
      await third.close();
      const fourth = new AlertEngine({ logger: quiet, rules, receivers: null, dir });
      expect(fourth.active()).toEqual([expect.objectContaining({ alert: 'slow', state: 'pending', since: iso(recent) })]);
      expect(fourth.evaluate(down, recent + 60_000).map((t) => t.state)).toEqual(['firing']);
      await Promise.all([second.close(), fourth.close()]);
    });
  });
});

// Alert delivery against the real Alertmanager 0.25 (the Debian package): what it stores (GET
// /api/v2/alerts) and what it notifies its webhook receiver with (firing, then resolved). No
// database: the health documents are built here. The OpenTelemetry SDK is registered process-wide
// (each test file runs in its own process).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { AlertDelivery } from '../../src/ops/alerts/delivery.ts';
import { AlertEngine, type AlertTransition } from '../../src/ops/alerts/engine.ts';
import { startAlertLoop } from '../../src/ops/alerts/loop.ts';
import type { AlertNotification } from '../../src/ops/alerts/notification.ts';
import { defaultAlertRules, type AlertRule } from '../../src/ops/alerts/rules.ts';
import type { HealthCheck, HealthDocument } from '../../src/ops/health/types.ts';
import { freePort } from '../../src/platform/port.ts';
import { alertmanagerMissing, startAlertmanager, startNotificationSink, until, type RunningAlertmanager } from '../helpers/alertmanager.ts';
import { useGlobalTestMetrics } from '../helpers/metrics.ts';
import { skipOrFail } from '../helpers/skip.ts';

const reader = useGlobalTestMetrics();
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});
beforeEach((ctx) => {
  const missing = alertmanagerMissing();
  if (missing) skipOrFail(ctx, missing);
});

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

const entry = (ok: boolean, extra: Partial<HealthCheck> = {}): HealthCheck[] => [{ observedValue: ok, status: ok ? 'pass' : 'fail', time: new Date().toISOString(), ...(ok ? {} : { output: 'it broke' }), ...extra }];
const docOf = (checks: Record<string, boolean>): HealthDocument => ({ status: 'pass', checks: Object.fromEntries(Object.entries(checks).map(([key, ok]) => [key, entry(ok)])) });
const rule = (name: string, check: string, extra: Partial<AlertRule> = {}): AlertRule => ({ name, description: `${name} happened`, check, when: 'fail', for: 0, severity: 'critical', ...extra });
const deliveryRule = (extra: Partial<AlertRule> = {}): AlertRule => ({ ...(defaultAlertRules.find((r) => r.name === 'alert-delivery-failing') as AlertRule), ...extra });

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jeex-alerts-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
async function alertmanager(options: Parameters<typeof startAlertmanager>[0] = {}): Promise<RunningAlertmanager> {
  const am = await startAlertmanager(options);
  cleanup.push(() => am.stop());
  return am;
}
async function sink() {
  const s = await startNotificationSink();
  cleanup.push(() => s.close());
  return s;
}
/** A plain webhook receiver of ours: every JSON body. */
async function webhook(): Promise<{ url: string; bodies: Record<string, unknown>[] }> {
  const bodies: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

describe('delivery to a real Alertmanager', () => {
  it('firing then resolved reach both Alertmanagers of an HA pair, with labels, annotations, startsAt, endsAt and generatorURL', async () => {
    const notified = await sink();
    const [am1, am2] = [await alertmanager({ webhookUrl: notified.url }), await alertmanager()];
    const { logger } = capture();
    const engine = new AlertEngine({
      logger,
      rules: [rule('am-database-down', 'postgresql:reachable', { summary: 'PostgreSQL does not answer: {output}' }), rule('am-slot', 'postgresql:replicationSlots')],
      receivers: [
        { kind: 'alertmanager', url: am1.url },
        { kind: 'alertmanager', url: `${am2.url}/` },
      ],
      labels: { cluster: 'eu-1' },
      repeatIntervalMs: 60_000,
      generatorUrl: 'http://db-1:7418/alerts',
    });
    const firedAt = Date.now();
    engine.evaluate({ status: 'fail', checks: { 'postgresql:reachable': entry(false), 'postgresql:replicationSlots': entry(false, { componentId: 'standby_1' }) } }, firedAt);
    await engine.flush();

    for (const am of [am1, am2]) {
      const alerts = await am.alerts();
      const down = alerts.find((a) => a.labels.alertname === 'am-database-down');
      expect(down?.labels).toEqual({ alertname: 'am-database-down', severity: 'critical', check: 'postgresql:reachable', instance: hostname(), cluster: 'eu-1' });
      expect(down?.annotations).toEqual({ summary: 'PostgreSQL does not answer: it broke', description: 'am-database-down happened' });
      expect(Date.parse(down?.startsAt ?? '')).toBe(firedAt);
      // Valid for 4 repeat intervals: Alertmanager resolves it by itself if we die.
      expect(Date.parse(down?.endsAt ?? '')).toBe(firedAt + 4 * 60_000);
      expect(down?.generatorURL).toBe('http://db-1:7418/alerts');
      expect(alerts.find((a) => a.labels.alertname === 'am-slot')?.labels.component).toBe('standby_1');
    }
    const firing = await until('the firing notification', () => notified.find('am-database-down', 'firing'), 10_000);
    expect(firing.labels.cluster).toBe('eu-1');

    // At the real time: Alertmanager takes a resolved whose endsAt is still ahead of its clock for an update of the firing one.
    const resolvedAt = Date.now();
    engine.evaluate(docOf({ 'postgresql:reachable': true, 'postgresql:replicationSlots': true }), resolvedAt);
    await engine.flush();
    const resolved = await until('the resolved notification', () => notified.find('am-database-down', 'resolved'), 10_000);
    expect(Date.parse(resolved.endsAt)).toBe(resolvedAt);
    expect(await am2.alerts()).toEqual([]);
    await engine.close();
  });

  it('a restarted engine sends what the last one left undelivered, the resolved of an alert that fired before, and keeps a pending start', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const rules = [rule('restart-firing', 'postgresql:reachable'), rule('restart-pending', 'pgbouncer:reachable', { for: 60_000 })];
    // In the past, so that t0 + 60 s (when the pending one fires) is not ahead of Alertmanager's clock.
    const t0 = Date.now() - 61_000;
    const first = capture();
    const before = new AlertEngine({ logger: first.logger, rules, receivers: [{ kind: 'alertmanager', url }], dir, delivery: { backoffMs: 50, maxBackoffMs: 200 } });
    // Nothing listens yet: the firing alert waits in the outbox.
    before.evaluate(docOf({ 'postgresql:reachable': false, 'pgbouncer:reachable': false }), t0);
    await before.flush();
    await before.close();
    const saved = JSON.parse(await readFile(join(dir, 'outbox.json'), 'utf8')) as { entries: { notification: AlertNotification }[] };
    expect(saved.entries.map((e) => [e.notification.alert, e.notification.state])).toEqual([['restart-firing', 'firing']]);
    const states = (JSON.parse(await readFile(join(dir, 'engine.json'), 'utf8')) as { alerts: Record<string, { state: string; activeAt: number }> }).alerts;
    expect([states['restart-firing']?.state, states['restart-pending']?.state, states['restart-pending']?.activeAt]).toEqual(['firing', 'pending', t0]);

    const notified = await sink();
    const am = await alertmanager({ port, webhookUrl: notified.url });
    const second = capture();
    const after = new AlertEngine({ logger: second.logger, rules, receivers: [{ kind: 'alertmanager', url }], dir, delivery: { backoffMs: 50, maxBackoffMs: 200 } });
    expect(second.lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['1 undelivered alert notification(s) from the last run; sending them', 'alert states restored from the last run: restart-firing firing, restart-pending pending']));
    await until('the firing alert from the outbox', async () => (await am.alerts()).find((a) => a.labels.alertname === 'restart-firing'), 10_000);

    // The pending alert counts from t0, not from the restart: it fires at t0 + 60 s.
    const transitions = after.evaluate(docOf({ 'postgresql:reachable': true, 'pgbouncer:reachable': false }), t0 + 60_000);
    expect(transitions.map((t) => [t.alert, t.state, t.since])).toEqual([
      ['restart-firing', 'resolved', new Date(t0).toISOString()],
      ['restart-pending', 'firing', new Date(t0).toISOString()],
    ]);
    await after.flush();
    const resolved = await until('the resolved of the alert fired before the restart', () => notified.find('restart-firing', 'resolved'), 10_000);
    expect(Date.parse(resolved.startsAt)).toBe(t0);
    await until('restart-pending in Alertmanager', async () => (await am.alerts()).find((a) => a.labels.alertname === 'restart-pending'), 10_000);
    await after.close();
  });

  it("logs Alertmanager's 400 with its answer and does not retry it", async () => {
    const am = await alertmanager();
    const { logger, lines } = capture();
    const delivery = new AlertDelivery({ logger, receivers: [{ kind: 'alertmanager', url: am.url }], backoffMs: 20, maxBackoffMs: 50 });
    const now = Date.now();
    const bad: AlertNotification = {
      alert: 'bad-labels',
      state: 'firing',
      severity: 'warning',
      labels: { alertname: 'bad-labels', 'not-a-label': 'x' },
      summary: 's',
      description: 'd',
      check: 'x:y',
      observedValue: 1,
      startsAt: new Date(now).toISOString(),
      endsAt: new Date(now + 60_000).toISOString(),
    };
    delivery.enqueue(bad);
    await delivery.flush();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const refused = lines.filter((line) => line.level === 50);
    expect(refused).toEqual([expect.objectContaining({ status: 400, reason: 'http_4xx', body: '"invalid label set: invalid name \\"not-a-label\\""', alerts: ['bad-labels'] })]);
    const snapshot = await reader.snapshot();
    expect(snapshot.value('jeex.alerts.delivery.failures', { receiver: `${am.url}/api/v2/alerts`, reason: 'http_4xx' })).toBe(1);
    expect(snapshot.value('jeex.alerts.delivery.undelivered', { receiver: `${am.url}/api/v2/alerts` })).toBe(0);
    const [health] = delivery.health();
    expect(health?.status).toBe('warn');
    expect(health?.output).toContain('invalid label set');
    await delivery.close();
  });

  it(
    'Alertmanager down for a minute: delivery-failing fires (and reaches the other receiver), then the alert fired meanwhile and the resolved arrive once it is back',
    { timeout: 150_000 },
    async () => {
      const notified = await sink();
      const am = await alertmanager({ webhookUrl: notified.url });
      const hook = await webhook();
      const dir = await tempDir();
      const { logger, lines } = capture();
      const checks = { 'x:resolvesWhileDown': true, 'x:firesWhileDown': true };
      const seen: (AlertTransition & { atMs: number })[] = [];
      const engine = new AlertEngine({
        logger,
        rules: [rule('outage-resolved', 'x:resolvesWhileDown'), rule('outage-firing', 'x:firesWhileDown'), deliveryRule({ for: 2000 })],
        receivers: [
          { kind: 'alertmanager', url: am.url },
          { kind: 'webhook', url: hook.url },
        ],
        repeatIntervalMs: 2000,
        dir,
        delivery: { backoffMs: 500, maxBackoffMs: 5000, failAfterMs: 20_000 },
      });
      const loop = startAlertLoop({ engine, intervalMs: 250, check: () => Promise.resolve(docOf(checks)), onTransitions: (list) => seen.push(...list.map((t) => ({ ...t, atMs: Date.now() }))) });
      cleanup.push(() => loop.stop());
      const state = () => `${am.log().slice(-2000)}\n${JSON.stringify(lines.filter((l) => Number(l.level) >= 30).slice(-20))}`;

      checks['x:resolvesWhileDown'] = false;
      await until('outage-resolved firing at Alertmanager', () => notified.find('outage-resolved', 'firing'), 15_000, state);

      await am.stop({ keepStorage: true });
      const downAt = Date.now();
      checks['x:firesWhileDown'] = false;
      await until('outage-firing fired', () => seen.find((t) => t.alert === 'outage-firing' && t.state === 'firing'), 5000);
      checks['x:resolvesWhileDown'] = true;
      const failing = await until('alert-delivery-failing firing', () => seen.find((t) => t.alert === 'alert-delivery-failing' && t.state === 'firing'), 20_000, state);
      // The other receiver hears of it.
      await until('alert-delivery-failing at the webhook', () => hook.bodies.find((b) => b.alert === 'alert-delivery-failing' && b.state === 'firing'), 10_000);
      expect(failing.summary).toMatch(/Alerts have not reached http:\/\/127\.0\.0\.1:\d+\/api\/v2\/alerts for a minute/);
      const receiverName = `${am.url}/api/v2/alerts`;
      const undelivered = (await reader.snapshot()).value('jeex.alerts.delivery.undelivered', { receiver: receiverName });
      expect(undelivered).toBeGreaterThanOrEqual(2);
      await until('alerts:delivery fail after 20 s', () => engine.deliveryChecks()['alerts:delivery']?.find((e) => e.status === 'fail'), 30_000);

      await new Promise((resolve) => setTimeout(resolve, Math.max(0, downAt + 60_000 - Date.now())));
      await am.start();
      const upAt = Date.now();
      const stored = await until('outage-firing in Alertmanager after it is back', async () => (await am.alerts()).find((a) => a.labels.alertname === 'outage-firing'), 30_000, state);
      const storedAfterMs = Date.now() - upAt;
      const firing = await until('outage-firing notified', () => notified.find('outage-firing', 'firing', upAt), 30_000, state);
      const resolved = await until('outage-resolved notified as resolved', () => notified.find('outage-resolved', 'resolved', upAt), 30_000, state);
      expect(Date.parse(stored.startsAt)).toBeGreaterThan(downAt);
      await until('alert-delivery-failing resolved', () => seen.find((t) => t.alert === 'alert-delivery-failing' && t.state === 'resolved'), 20_000, state);
      await until('alert-delivery-failing resolved at the webhook', () => hook.bodies.find((b) => b.alert === 'alert-delivery-failing' && b.state === 'resolved'), 10_000);

      // One line when it started failing, one when it recovered: no line per retry.
      const amLines = lines.filter((line) => line.receiver === receiverName && Number(line.level) >= 30);
      expect(amLines.map((line) => String(line.msg).replace(/\d+/g, 'N'))).toEqual([
        expect.stringMatching(/^alert delivery to alertmanager .* fails \(ECONNREFUSED\); retrying with backoff/),
        expect.stringMatching(/^alert delivery to alertmanager .* works again after N s and N failed attempt\(s\)/),
      ]);
      expect((await reader.snapshot()).value('jeex.alerts.delivery.failures', { receiver: receiverName, reason: 'network' })).toBeGreaterThan(3);
      console.log(
        `[figures] Alertmanager back up → alert in GET /api/v2/alerts: ${storedAfterMs} ms; → firing notified: ${firing.receivedAt - upAt} ms; → resolved notified: ${resolved.receivedAt - upAt} ms (backoff 0.5 s doubling to 5 s, down ${upAt - downAt} ms)`,
      );
      await loop.stop();
      await engine.close();
    },
  );
});

// A real HTTP server receives the alerts; no database is needed. The OpenTelemetry SDK is
// registered process-wide here (each test file runs in its own process).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AlertEngine, type AlertTransition } from '../../src/ops/alerts/engine.ts';
import { startAlertLoop } from '../../src/ops/alerts/loop.ts';
import type { AlertRule } from '../../src/ops/alerts/rules.ts';
import type { HealthDocument } from '../../src/ops/health/types.ts';
import { useGlobalTestMetrics } from '../helpers/metrics.ts';

const reader = useGlobalTestMetrics();

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A webhook receiver answering each request with the next status of `statuses` (the last one repeats). */
async function receiver(statuses: number[]): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      const status = statuses[Math.min(received.length - 1, statuses.length - 1)] ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

function capture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logger = pino({ level: 'debug' }, {
    write: (line: string) => {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, lines, raw };
}

const reachable = (ok: boolean): HealthDocument => ({
  status: ok ? 'pass' : 'fail',
  checks: { 'postgresql:reachable': [{ observedValue: ok, status: ok ? 'pass' : 'fail', time: new Date().toISOString(), ...(ok ? {} : { output: 'connect ECONNREFUSED' }) }] },
});
const rule = (name: string): AlertRule => ({ name, description: 'PostgreSQL does not answer', check: 'postgresql:reachable', when: 'fail', for: 0, severity: 'critical' });
const fast = { timeoutMs: 1000, backoffMs: 20, maxBackoffMs: 100 };
const webhookTo = (url: string) => [{ kind: 'webhook' as const, url }];
const waitFor = async (predicate: () => boolean, ms: number) => {
  const deadline = performance.now() + ms;
  while (!predicate() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  return predicate();
};

describe('alert webhook', () => {
  it('retries 503 with backoff, then delivers the alert once, with its labels; the resolved follows', async () => {
    const hook = await receiver([503, 503, 200]);
    const { logger, lines } = capture();
    const engine = new AlertEngine({ logger, rules: [rule('retried')], receivers: webhookTo(hook.url), delivery: fast, labels: { instance: 'db-1', cluster: 'eu' } });
    const t0 = Date.parse('2025-06-01T12:00:00.000Z');

    engine.evaluate(reachable(false), t0);
    expect(await waitFor(() => hook.received.length === 3, 5000)).toBe(true);
    // The receiver has the third request before the sender has read its answer and logged the recovery.
    expect(await waitFor(() => lines.some((line) => String(line.msg).includes('works again after')), 5000)).toBe(true);

    expect(hook.received.map((r) => r.body)).toEqual(Array(3).fill(hook.received[0]?.body));
    expect(hook.received[2]?.headers['content-type']).toBe('application/json');
    expect(hook.received[2]?.body).toEqual({
      alert: 'retried',
      state: 'firing',
      severity: 'critical',
      summary: 'PostgreSQL does not answer: connect ECONNREFUSED',
      description: 'PostgreSQL does not answer',
      check: 'postgresql:reachable',
      observedValue: false,
      labels: { alertname: 'retried', severity: 'critical', check: 'postgresql:reachable', instance: 'db-1', cluster: 'eu' },
      startsAt: '2025-06-01T12:00:00.000Z',
    });
    // One error line when it started failing, one when it recovered; the retry between is debug.
    expect(lines.filter((line) => Number(line.level) >= 40 && line.receiver !== undefined).map((line) => line.msg)).toEqual([expect.stringMatching(/^alert delivery to webhook http:\/\/127.0.0.1:\d+\/hook fails \(HTTP 503: nope\); retrying/)]);
    expect(lines.filter((line) => line.msg === 'alert delivery attempt failed; retrying')).toHaveLength(1);
    expect(lines.some((line) => line.level === 30 && String(line.msg).includes('works again after') && line.attempts === 2)).toBe(true);
    const snapshot = await reader.snapshot();
    expect(snapshot.value('jeex.alerts.delivery.failures', { kind: 'webhook', reason: 'http_5xx' })).toBe(2);
    expect(snapshot.value('jeex.alerts.delivery.undelivered', { kind: 'webhook' })).toBe(0);

    engine.evaluate(reachable(true), t0 + 5000);
    await engine.flush();
    expect(hook.received[3]?.body).toEqual(expect.objectContaining({ alert: 'retried', state: 'resolved', observedValue: true, startsAt: '2025-06-01T12:00:00.000Z', endsAt: '2025-06-01T12:00:05.000Z' }));
    // A webhook gets transitions only: evaluating the firing alert again a minute later sends nothing.
    engine.evaluate(reachable(false), t0 + 10_000);
    engine.evaluate(reachable(false), t0 + 80_000);
    await engine.flush();
    expect(hook.received.map((r) => r.body.state)).toEqual(['firing', 'firing', 'firing', 'resolved', 'firing']);
    await engine.close();
  });

  it('does not retry a 400: the failure is logged with the answer, without secrets, and counted', async () => {
    const hook = await receiver([400]);
    const { logger, lines, raw } = capture();
    const secretUrl = hook.url.replace('http://', 'http://alerts:s3cretpass@') + '?token=t0psecret';
    const engine = new AlertEngine({ logger, rules: [rule('refused')], receivers: webhookTo(secretUrl), delivery: fast });

    engine.evaluate(reachable(false));
    await engine.flush();
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(hook.received).toHaveLength(1);
    // The credentials went as Basic authentication, the query as it was.
    expect(hook.received[0]?.headers.authorization).toBe(`Basic ${Buffer.from('alerts:s3cretpass').toString('base64')}`);
    expect(hook.received[0]?.url).toBe('/hook?token=t0psecret');
    const failure = lines.find((line) => line.level === 50 && line.reason === 'http_4xx');
    expect(failure).toEqual(expect.objectContaining({ status: 400, body: 'nope', alerts: ['refused'], dropped: 1, receiver: `${hook.url.replace('http://', 'http://***:***@')}?***` }));
    expect(String(failure?.msg)).toMatch(/refused 1 alert notification\(s\) \(HTTP 400: nope\); they are dropped, not retried/);
    expect(raw.join('')).not.toMatch(/s3cretpass|t0psecret/);
    expect((await reader.snapshot()).value('jeex.alerts.delivery.dropped', { kind: 'webhook', reason: 'rejected' })).toBe(1);
    // The refusal is a warn in alerts:delivery, which alert-delivery-failing watches.
    const [refusal] = engine.deliveryChecks()['alerts:delivery'] ?? [];
    expect(refusal?.status).toBe('warn');
    expect(refusal?.output).toContain('refused notifications');
    await engine.close();
  });

  it('keeps retrying an unreachable receiver without a line per retry; once it listens, the newest state arrives', async () => {
    const gone = await receiver([200]);
    const url = gone.url;
    const port = Number(new URL(url).port);
    await new Promise((resolve) => gone.server.close(resolve));
    const { logger, lines } = capture();
    const engine = new AlertEngine({ logger, rules: [rule('unreachable-hook')], receivers: webhookTo(url), delivery: { ...fast, failAfterMs: 200 } });

    const started = performance.now();
    expect(engine.evaluate(reachable(false)).map((x) => x.state)).toEqual(['firing']);
    expect(engine.evaluate(reachable(true)).map((x) => x.state)).toEqual(['resolved']);
    expect(performance.now() - started).toBeLessThan(50);
    await new Promise((resolve) => setTimeout(resolve, 600));

    expect(lines.filter((line) => line.level === 50 && line.receiver !== undefined).map((line) => [line.reason, line.error])).toEqual([['network', 'ECONNREFUSED']]);
    const retries = lines.filter((line) => line.msg === 'alert delivery attempt failed; retrying');
    expect(retries.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...retries.map((line) => Number(line.retryInMs)))).toBeLessThanOrEqual(100);
    const [entry] = engine.deliveryChecks()['alerts:delivery'] ?? [];
    expect(entry).toEqual(expect.objectContaining({ status: 'fail', componentId: url, observedUnit: 's' }));
    expect(entry?.output).toMatch(/has failed for .*ECONNREFUSED.*1 notification\(s\) wait/);

    // The receiver comes back on the same port: only the resolved (it replaced the firing) is sent.
    const back = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        arrived.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(200).end();
      });
    });
    const arrived: Record<string, unknown>[] = [];
    await new Promise<void>((resolve) => back.listen(port, '127.0.0.1', resolve));
    servers.push(back);
    expect(await waitFor(() => arrived.length > 0, 3000)).toBe(true);
    await engine.flush();
    expect(arrived.map((body) => body.state)).toEqual(['resolved']);
    expect(engine.deliveryChecks()['alerts:delivery']).toEqual([expect.objectContaining({ status: 'pass', observedValue: 0 })]);
    expect(lines.filter((line) => String(line.msg).includes('works again'))).toHaveLength(1);
    expect((await reader.snapshot()).value('jeex.alerts.delivery.failures', { receiver: url, reason: 'network' })).toBe(retries.length + 1);
    await engine.close();
  });
});

describe('startAlertLoop', () => {
  it('fires a critical "database-unreachable" within 2 intervals of the check throwing, and resolves after it recovers', async () => {
    const hook = await receiver([200]);
    const { logger, lines } = capture();
    const engine = new AlertEngine({ logger, receivers: webhookTo(hook.url), delivery: fast });
    const intervalMs = 50;
    let failing = false;
    let calls = 0;
    let overlapping = 0;
    let inFlight = 0;
    const seen: { transition: AlertTransition; call: number; at: number }[] = [];

    const loop = startAlertLoop({
      engine,
      intervalMs,
      logger,
      onTransitions: (transitions) => transitions.forEach((transition) => seen.push({ transition, call: calls, at: performance.now() })),
      check: async () => {
        calls++;
        inFlight++;
        if (inFlight > 1) overlapping++;
        try {
          // Slower than the interval: a timer-driven loop would overlap runs.
          await new Promise((resolve) => setTimeout(resolve, intervalMs + 20));
          if (failing) throw new Error('connect ECONNREFUSED 127.0.0.1:5432 (postgres://app:hunter22@db/jeex)');
          return reachable(true);
        } finally {
          inFlight--;
        }
      },
    });
    expect(await waitFor(() => calls >= 2, 1000)).toBe(true);
    expect(engine.active()).toEqual([]);
    failing = true;
    const brokeAt = performance.now();
    const brokeAtCall = calls;
    expect(await waitFor(() => seen.length >= 1, 2000)).toBe(true);
    const fired = seen[0];
    expect(fired?.transition).toEqual(expect.objectContaining({ alert: 'database-unreachable', state: 'firing', severity: 'critical', observedValue: false }));
    // The call running when the check broke may still pass; the next one fires.
    expect(fired?.call).toBeLessThanOrEqual(brokeAtCall + 1);
    // Each run takes intervalMs + 20 ms, then waits intervalMs: at most two runs.
    expect((fired?.at ?? Infinity) - brokeAt).toBeLessThan(2 * (intervalMs + 20) + intervalMs + 100);
    expect(engine.active()).toEqual([expect.objectContaining({ alert: 'database-unreachable', state: 'firing', severity: 'critical' })]);

    failing = false;
    expect(await waitFor(() => seen.length >= 2, 2000)).toBe(true);
    expect(seen[1]?.transition).toEqual(expect.objectContaining({ alert: 'database-unreachable', state: 'resolved' }));
    await loop.stop();
    const callsAtStop = calls;
    await new Promise((resolve) => setTimeout(resolve, 3 * intervalMs));
    expect(calls).toBe(callsAtStop);
    expect(overlapping).toBe(0);

    // stop() flushed the delivery: both notifications arrived.
    expect(hook.received.map((r) => [r.body.alert, r.body.state])).toEqual([
      ['database-unreachable', 'firing'],
      ['database-unreachable', 'resolved'],
    ]);
    expect(String(hook.received[0]?.body.summary)).toMatch(/^PostgreSQL does not answer: the health check failed: connect ECONNREFUSED/);
    // The password in the thrown message reaches neither the log nor the webhook.
    expect(JSON.stringify(lines) + JSON.stringify(hook.received.map((r) => r.body))).not.toContain('hunter22');
    expect(lines.filter((line) => line.msg === 'alert database-unreachable firing')).toHaveLength(1);
    await engine.close();
  });
});

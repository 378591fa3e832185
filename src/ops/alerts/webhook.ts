import { metrics, type Counter } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { JeexDbError } from '../../core/errors.ts';
import type { AlertSeverity } from './rules.ts';
import { backoffDelay } from '../../core/backoff.ts';
import { sleep } from '../../core/sleep.ts';

/**
 * What the webhook receives for each alert that fires or resolves (POST, `application/json`):
 * one alert per request, fields named as in Alertmanager's (`startsAt`, `endsAt`).
 */
export interface AlertPayload {
  alert: string;
  state: 'firing' | 'resolved';
  severity: AlertSeverity;
  summary: string;
  description: string;
  check: string;
  observedValue: number | string | boolean | null;
  /** ISO 8601: when the alert started firing. */
  startsAt: string;
  /** ISO 8601: when it resolved; only on `resolved`. */
  endsAt?: string;
}

export interface AlertWebhookOptions {
  /** http(s) URL. Credentials in it are sent as HTTP Basic authentication. */
  url: string;
  logger: Logger;
  /** Milliseconds one attempt may take. Default 5000. */
  timeoutMs?: number;
  /** Attempts after the first, on network errors, timeouts, 5xx and 429. Default 3. */
  retries?: number;
  /** First back-off in milliseconds, doubled at each retry. Default 500. */
  backoffMs?: number;
  /** The longest back-off (also caps a `Retry-After`). Default 10000. */
  maxBackoffMs?: number;
  /** Notifications waiting to be sent; beyond it the oldest is dropped (and counted). Default 100. */
  maxQueue?: number;
}

type FailureReason = 'http_4xx' | 'http_5xx' | 'http_429' | 'network' | 'timeout' | 'queue_full';
type Attempt = { ok: true; status: number } | { ok: false; retry: boolean; reason: FailureReason; status?: number; error?: string; retryAfterMs?: number };

/**
 * Sends alert notifications to one webhook, in order, one at a time, off the caller's path:
 * `send()` queues and returns at once; `flush()` waits until the queue is empty. A failed delivery
 * is logged and counted (`jeex.alerts.webhook.failures`), never thrown.
 *
 * @example
 * const webhook = new AlertWebhook({ url: 'https://alerts.example.com/hook', logger });
 * webhook.send(payload);
 * await webhook.flush();
 */
export class AlertWebhook {
  /** The URL as logs show it: credentials, query and token-like path segments masked. */
  readonly maskedUrl: string;
  private readonly target: string;
  private readonly headers: Record<string, string>;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxQueue: number;
  private readonly failures: Counter;
  private readonly queue: AlertPayload[] = [];
  private draining: Promise<void> | undefined;

  constructor(options: AlertWebhookOptions) {
    const url = parseWebhookUrl(options.url, 'the alert webhook URL');
    this.maskedUrl = maskWebhookUrl(options.url);
    this.headers = { 'content-type': 'application/json', 'user-agent': 'jeex-db-alerts' };
    if (url.username || url.password) {
      const user = decodeURIComponent(url.username);
      const password = decodeURIComponent(url.password);
      this.headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    this.target = url.toString();
    this.logger = options.logger;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.maxQueue = options.maxQueue ?? 100;
    this.failures = metrics.getMeter('jeex-db').createCounter('jeex.alerts.webhook.failures', {
      unit: '{notification}',
      description: 'Alert notifications the webhook did not accept after all retries (or dropped from a full queue)',
    });
  }

  /** Queue one notification; returns at once. */
  send(payload: AlertPayload): void {
    if (this.queue.length >= this.maxQueue) {
      const dropped = this.queue.shift();
      if (dropped) this.fail(dropped, { ok: false, retry: false, reason: 'queue_full' }, 0);
    }
    this.queue.push(payload);
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  /** Resolves when every queued notification was delivered or given up on. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Notifications queued or being sent. */
  get pending(): number {
    return this.queue.length + (this.draining ? 1 : 0);
  }

  private async drain(): Promise<void> {
    for (let payload = this.queue.shift(); payload; payload = this.queue.shift()) {
      try {
        await this.deliver(payload);
      } catch {
        // deliver() does not throw; this keeps the queue going should a logger throw.
        this.failures.add(1, { alert: payload.alert, reason: 'network' });
      }
    }
  }

  private async deliver(payload: AlertPayload): Promise<void> {
    const body = JSON.stringify(payload);
    for (let attempt = 1; ; attempt++) {
      const result = await this.attempt(body);
      if (result.ok) {
        this.logger.debug({ alert: payload.alert, state: payload.state, url: this.maskedUrl, status: result.status, attempts: attempt }, 'alert webhook delivered');
        return;
      }
      if (!result.retry || attempt > this.retries) return this.fail(payload, result, attempt);
      const backoff = Math.min(this.maxBackoffMs, Math.max(backoffDelay(attempt - 1, { initialMs: this.backoffMs }), result.retryAfterMs ?? 0));
      this.logger.debug({ alert: payload.alert, url: this.maskedUrl, reason: result.reason, status: result.status, attempt, retryInMs: backoff }, 'alert webhook attempt failed; retrying');
      await sleep(backoff);
    }
  }

  private async attempt(body: string): Promise<Attempt> {
    try {
      const response = await fetch(this.target, { method: 'POST', headers: this.headers, body, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'manual' });
      // Free the connection; the answer's body is of no use and may be large.
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
      if (response.status === 429 || response.status >= 500) {
        return { ok: false, retry: true, reason: response.status === 429 ? 'http_429' : 'http_5xx', status: response.status, retryAfterMs: retryAfter(response.headers.get('retry-after')) };
      }
      return { ok: false, retry: false, reason: 'http_4xx', status: response.status };
    } catch (error) {
      const name = (error as Error).name;
      const timedOut = name === 'TimeoutError' || name === 'AbortError';
      return { ok: false, retry: true, reason: timedOut ? 'timeout' : 'network', error: this.describe(error) };
    }
  }

  private fail(payload: AlertPayload, result: Extract<Attempt, { ok: false }>, attempts: number): void {
    this.failures.add(1, { alert: payload.alert, reason: result.reason });
    const what = result.status === undefined ? (result.error ?? result.reason) : `HTTP ${result.status}`;
    const next =
      result.reason === 'http_4xx'
        ? 'the webhook refused the payload; check its URL and what it accepts'
        : result.reason === 'queue_full'
          ? 'too many notifications waiting; the webhook is down or too slow'
          : 'check that the webhook is up and reachable';
    this.logger.error(
      { alert: payload.alert, state: payload.state, severity: payload.severity, url: this.maskedUrl, reason: result.reason, status: result.status, attempts },
      `alert webhook failed (${what}) after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${next}`,
    );
  }

  private describe(error: unknown): string {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const text = cause?.code ?? cause?.message ?? (error as Error).message;
    return text.split(this.target).join(this.maskedUrl);
  }
}

function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * A webhook URL fit for logs: user and password become `***`, the query `?***`, and any path
 * segment of 20 characters or more (tokens, as in `/hooks/T0/B0/xyz...`) `***`.
 *
 * @example
 * maskWebhookUrl('https://u:p@hooks.example.com/alerts?token=abc'); // 'https://***:***@hooks.example.com/alerts?***'
 */
export function maskWebhookUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(an invalid URL)';
  }
  const auth = parsed.username || parsed.password ? `${parsed.username ? '***' : ''}${parsed.password ? ':***' : ''}@` : '';
  const path = parsed.pathname
    .split('/')
    .map((segment) => (segment.length >= 20 ? '***' : segment))
    .join('/');
  return `${parsed.protocol}//${auth}${parsed.host}${path}${parsed.search ? '?***' : ''}`;
}

/**
 * The webhook URL from `JEEX_ALERT_WEBHOOK_URL` (undefined when unset or empty); an invalid one
 * throws `INVALID_CONFIG` naming the variable.
 */
export function alertWebhookUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.JEEX_ALERT_WEBHOOK_URL?.trim();
  if (!value) return undefined;
  parseWebhookUrl(value, 'JEEX_ALERT_WEBHOOK_URL');
  return value;
}

function parseWebhookUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `${name} is not a URL`, { cause: error, hint: `Set ${name} to an http(s) URL, e.g. https://alerts.example.com/hook.` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new JeexDbError('INVALID_CONFIG', `${name} must be an http or https URL, got ${url.protocol} (${maskWebhookUrl(value)})`, {
      hint: `Set ${name} to an http(s) URL, e.g. https://alerts.example.com/hook.`,
    });
  }
  return url;
}

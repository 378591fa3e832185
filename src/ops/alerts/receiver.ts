import { createHash } from 'node:crypto';
import { toPostableAlert, toWebhookPayload, type AlertNotification } from './notification.ts';
import { maskWebhookUrl, parseWebhookUrl, urlsFromEnv } from './receiver-url.ts';

/**
 * Where alert notifications go:
 * - `alertmanager`: Alertmanager's API v2; `url` is its base (`http://am:9093`, or with its route
 *   prefix), notifications are POSTed to `<url>/api/v2/alerts` in batches, firing ones again at
 *   the repeat interval. Give each Alertmanager of an HA pair as its own receiver (as Prometheus
 *   does): each gets every alert.
 * - `webhook`: any http(s) endpoint; one JSON object per request (`AlertPayload`), on firing and
 *   on resolved only.
 *
 * Credentials in the URL are sent as HTTP Basic authentication and never logged.
 */
export interface AlertReceiverConfig {
  kind: 'alertmanager' | 'webhook';
  url: string;
}

/** A receiver ready to send to. */
export interface Receiver {
  kind: AlertReceiverConfig['kind'];
  /** Stable and secret-free (a hash of the URL): what the outbox file records. */
  id: string;
  /** The URL as logs, metrics and health show it (`maskWebhookUrl`). */
  name: string;
  /** Notifications per request. */
  batchSize: number;
  /** Whether firing alerts are sent again at the repeat interval (Alertmanager needs it; a chat webhook would be spammed). */
  repeats: boolean;
  /** The request body for `notifications`. */
  body(notifications: readonly AlertNotification[]): string;
  /** The URL without credentials. */
  target: string;
  headers: Record<string, string>;
}

/** The receiver of `config`; INVALID_CONFIG when its URL is not http(s). */
export function makeReceiver(config: AlertReceiverConfig, source = config.kind === 'alertmanager' ? 'the Alertmanager URL' : 'the alert webhook URL'): Receiver {
  const url = parseWebhookUrl(config.url, source);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'jeex-db-alerts' };
  if (url.username || url.password) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  if (config.kind === 'alertmanager' && !/\/api\/v2\/alerts\/?$/.test(url.pathname)) url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v2/alerts`;
  const target = url.toString();
  // Of the URL without credentials: the outbox survives a password change, and holds no hash of one.
  const id = createHash('sha256').update(`${config.kind} ${target}`).digest('hex').slice(0, 16);
  if (config.kind === 'alertmanager') {
    return { kind: 'alertmanager', id, name: maskWebhookUrl(target), batchSize: 64, repeats: true, target, headers, body: (list) => JSON.stringify(list.map(toPostableAlert)) };
  }
  return {
    kind: 'webhook',
    id,
    name: maskWebhookUrl(config.url),
    batchSize: 1,
    repeats: false,
    target,
    headers,
    body: (list) => JSON.stringify(list.map(toWebhookPayload)[0]),
  };
}

/**
 * The receivers from the environment: JEEX_ALERTMANAGER_URL (comma-separated, one per
 * Alertmanager) and JEEX_ALERT_WEBHOOK_URL (comma-separated too). `given` replaces a kind's
 * variable (flags, options).
 *
 * @example
 * alertReceivers({}, { JEEX_ALERTMANAGER_URL: 'http://am-0:9093,http://am-1:9093' });
 * // [{ kind: 'alertmanager', url: 'http://am-0:9093' }, { kind: 'alertmanager', url: 'http://am-1:9093' }]
 */
export function alertReceivers(given: { alertmanagerUrls?: readonly string[]; webhookUrls?: readonly string[] } = {}, env: NodeJS.ProcessEnv = process.env): AlertReceiverConfig[] {
  const alertmanagers = given.alertmanagerUrls ? given.alertmanagerUrls.flatMap(splitUrls) : urlsFromEnv(env, 'JEEX_ALERTMANAGER_URL');
  const webhooks = given.webhookUrls ? given.webhookUrls.flatMap(splitUrls) : urlsFromEnv(env, 'JEEX_ALERT_WEBHOOK_URL');
  return [...alertmanagers.map((url) => ({ kind: 'alertmanager' as const, url })), ...webhooks.map((url) => ({ kind: 'webhook' as const, url }))];
}

const splitUrls = (text: string) =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

/** Why one attempt failed, as counted in `jeex.alerts.delivery.failures`. */
export type AttemptFailure = 'http_4xx' | 'http_5xx' | 'http_429' | 'network' | 'timeout';

export type AttemptResult =
  | { ok: true; status: number }
  | { ok: false; retry: boolean; reason: AttemptFailure; status?: number; error?: string; body?: string; retryAfterMs?: number };

/**
 * POST `body` once. 2xx is delivered; network errors, timeouts, 5xx, 408 and 429 may be retried;
 * any other 4xx means the receiver refuses this request (a bad payload) and is not retried: its
 * answer's body (the first 1000 characters) says why.
 */
export async function postOnce(receiver: Receiver, body: string, timeoutMs: number): Promise<AttemptResult> {
  try {
    const response = await fetch(receiver.target, { method: 'POST', headers: receiver.headers, body, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    if (response.status >= 200 && response.status < 300) {
      // Free the connection; an accepted request's answer is of no use.
      await response.body?.cancel().catch(() => {});
      return { ok: true, status: response.status };
    }
    const text = (await response.text().catch(() => '')).slice(0, 1000).trim();
    const answer = text ? { body: text } : {};
    if (response.status === 429 || response.status === 408 || response.status >= 500) {
      const after = retryAfter(response.headers.get('retry-after'));
      return { ok: false, retry: true, reason: response.status === 429 ? 'http_429' : response.status >= 500 ? 'http_5xx' : 'http_4xx', status: response.status, ...answer, ...(after === undefined ? {} : { retryAfterMs: after }) };
    }
    return { ok: false, retry: false, reason: 'http_4xx', status: response.status, ...answer };
  } catch (error) {
    const name = (error as Error).name;
    const timedOut = name === 'TimeoutError' || name === 'AbortError';
    return { ok: false, retry: true, reason: timedOut ? 'timeout' : 'network', error: describe(error, receiver) };
  }
}

function describe(error: unknown, receiver: Receiver): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const text = cause?.code ?? cause?.message ?? (error as Error).message;
  return text.split(receiver.target).join(receiver.name);
}

function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

import { JeexDbError } from '../../core/errors.ts';

// The URLs of alert receivers (Alertmanager, webhooks): how logs show them, how the environment gives them.

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
  return urlsFromEnv(env, 'JEEX_ALERT_WEBHOOK_URL')[0];
}

/**
 * The comma-separated URLs of an environment variable (JEEX_ALERTMANAGER_URL, JEEX_ALERT_WEBHOOK_URL),
 * each checked; an invalid one throws INVALID_CONFIG naming the variable.
 *
 * @example
 * urlsFromEnv({ JEEX_ALERTMANAGER_URL: 'http://am-0:9093,http://am-1:9093' }, 'JEEX_ALERTMANAGER_URL'); // both
 */
export function urlsFromEnv(env: NodeJS.ProcessEnv, name: string): string[] {
  const urls = (env[name] ?? '').split(',').map((part) => part.trim()).filter(Boolean);
  for (const url of urls) parseWebhookUrl(url, name);
  return urls;
}

/** `value` as a URL, INVALID_CONFIG naming `name` unless it is http(s). */
export function parseWebhookUrl(value: string, name: string): URL {
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

import { JeexDbError } from '../../core/errors.ts';
import type { AlertSeverity } from './rules.ts';

/**
 * One alert notification as the engine hands it to delivery: the newest state of one alert. The
 * receivers turn it into their own format (`toPostableAlert` for Alertmanager, `toWebhookPayload`
 * for a generic webhook).
 */
export interface AlertNotification {
  /** The rule's name: an alert's identity (the outbox keeps the newest notification per alert). */
  alert: string;
  state: 'firing' | 'resolved';
  severity: AlertSeverity;
  /** Every label: `alertname`, `severity`, `instance`, `check`, `component`, the configured ones. */
  labels: Record<string, string>;
  summary: string;
  description: string;
  check: string;
  observedValue: number | string | boolean | null;
  /** ISO 8601: when it started firing. */
  startsAt: string;
  /**
   * ISO 8601. Firing: until when it holds without news (a few repeat intervals ahead, so that
   * Alertmanager resolves it by itself should we die). Resolved: when it resolved.
   */
  endsAt: string;
  /** A link back to what produced it (the serve's /alerts). */
  generatorURL?: string;
}

/** What Alertmanager's POST /api/v2/alerts takes, one element of its array (`postableAlert`). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: { summary: string; description: string };
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/**
 * What a generic webhook receives for each alert that fires or resolves (POST, JSON, one alert
 * per request): fields named as in Alertmanager's, plus the labels.
 */
export interface AlertPayload {
  alert: string;
  state: 'firing' | 'resolved';
  severity: AlertSeverity;
  summary: string;
  description: string;
  check: string;
  observedValue: number | string | boolean | null;
  labels: Record<string, string>;
  /** ISO 8601: when the alert started firing. */
  startsAt: string;
  /** ISO 8601: when it resolved; only on `resolved`. */
  endsAt?: string;
}

/** Alertmanager's format: the annotations carry the texts, `endsAt` says until when (or since when, resolved). */
export function toPostableAlert(notification: AlertNotification): PostableAlert {
  return {
    labels: notification.labels,
    annotations: { summary: notification.summary, description: notification.description },
    startsAt: notification.startsAt,
    endsAt: notification.endsAt,
    ...(notification.generatorURL ? { generatorURL: notification.generatorURL } : {}),
  };
}

/** The generic webhook's format (as before Alertmanager was spoken, plus `labels`). */
export function toWebhookPayload(notification: AlertNotification): AlertPayload {
  return {
    alert: notification.alert,
    state: notification.state,
    severity: notification.severity,
    summary: notification.summary,
    description: notification.description,
    check: notification.check,
    observedValue: notification.observedValue,
    labels: notification.labels,
    startsAt: notification.startsAt,
    ...(notification.state === 'resolved' ? { endsAt: notification.endsAt } : {}),
  };
}

/** The labels the engine sets itself; configured labels may not override them. */
export const RESERVED_LABELS: readonly string[] = ['alertname', 'severity', 'check', 'component'];

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Problems with configured labels (names Prometheus and Alertmanager accept, not reserved, values non-empty), each naming `source`. */
export function labelProblems(labels: Record<string, string>, source: string): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name)) problems.push(`${source}: the label name "${name}" is not valid (letters, digits and "_", not starting with a digit)`);
    else if (RESERVED_LABELS.includes(name)) problems.push(`${source}: the label "${name}" is set by the alert engine itself`);
    if (typeof value !== 'string' || value.length === 0) problems.push(`${source}: the label "${name}" has an empty value`);
  }
  return problems;
}

/**
 * Labels written `k=v,k2=v2` (JEEX_ALERT_LABELS, `--alert-label`); INVALID_CONFIG naming `source`
 * for anything else.
 *
 * @example
 * parseAlertLabels('cluster=prod-eu, team=db'); // { cluster: 'prod-eu', team: 'db' }
 */
export function parseAlertLabels(text: string | readonly string[], source = 'JEEX_ALERT_LABELS'): Record<string, string> {
  const parts = (typeof text === 'string' ? [text] : text).flatMap((item) => item.split(',')).map((part) => part.trim()).filter(Boolean);
  const labels: Record<string, string> = {};
  const problems: string[] = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) {
      problems.push(`${source}: "${part}" is not name=value`);
      continue;
    }
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  problems.push(...labelProblems(labels, source));
  if (problems.length > 0) {
    throw new JeexDbError('INVALID_CONFIG', `${source} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`, {
      hint: `Write the labels as name=value pairs separated by commas, e.g. ${source}=cluster=prod-eu,team=db.`,
      context: { source, problems },
    });
  }
  return labels;
}

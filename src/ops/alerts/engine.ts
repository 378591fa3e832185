import { metrics, type BatchObservableCallback, type Counter, type Meter, type ObservableGauge } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { JeexDbError } from '../../core/errors.ts';
import type { HealthCheck, HealthDocument } from '../health/types.ts';
import { observe, renderSummary } from './condition.ts';
import { defaultAlertRules, type AlertRule, type AlertSeverity } from './rules.ts';
import { AlertWebhook, alertWebhookUrlFromEnv, type AlertWebhookOptions } from './webhook.ts';

/** Where an alert stands between evaluations (`resolved` is a transition back to `inactive`). */
export type AlertState = 'inactive' | 'pending' | 'firing';

/** One change of an alert's state, as logged, counted and (firing/resolved) sent to the webhook. */
export interface AlertTransition {
  alert: string;
  state: 'pending' | 'firing' | 'resolved';
  /** The state it left. */
  from: AlertState;
  severity: AlertSeverity;
  check: string;
  observedValue: HealthCheck['observedValue'];
  /** ISO 8601: when the condition started to hold (the start of `pending`). */
  since: string;
  /** ISO 8601: the evaluation that made the change. */
  at: string;
  summary: string;
}

/** A pending or firing alert, for a /health or /alerts endpoint. */
export interface ActiveAlert {
  alert: string;
  state: 'pending' | 'firing';
  severity: AlertSeverity;
  description: string;
  check: string;
  observedValue: HealthCheck['observedValue'];
  /** ISO 8601: when the condition started to hold. */
  since: string;
  /** ISO 8601: when it started firing; absent while pending. */
  firingSince?: string;
  summary: string;
}

export interface AlertEngineOptions {
  /** Receives one JSON line per transition. */
  logger: Logger;
  /** Default: `defaultAlertRules`. */
  rules?: readonly AlertRule[];
  /**
   * Where firing and resolved alerts are POSTed: a webhook, its options, or `null` for none.
   * Default: `JEEX_ALERT_WEBHOOK_URL` when set, else none.
   */
  webhook?: AlertWebhook | Omit<AlertWebhookOptions, 'logger'> | null;
}

interface RuleState {
  state: AlertState;
  activeAt: number;
  firedAt: number;
  entry: HealthCheck | undefined;
}

/**
 * Turns health documents into alerts: each rule goes inactive → pending (its condition holds,
 * `for` not yet elapsed) → firing → resolved (the condition no longer holds). A pending alert
 * whose condition clears goes back to inactive without a word; a rule whose check is missing
 * from the document stays as it was.
 *
 * @example
 * const engine = new AlertEngine({ logger: pino() });
 * const transitions = engine.evaluate(await checkHealth(sql));
 * engine.active(); // [{ alert: 'database-unreachable', state: 'firing', ... }]
 * await engine.flush(); // webhook notifications sent
 */
export class AlertEngine {
  readonly rules: readonly AlertRule[];
  private readonly logger: Logger;
  private readonly webhook: AlertWebhook | undefined;
  private readonly states = new Map<string, RuleState>();
  private readonly meter: Meter;
  private readonly transitions: Counter;
  private readonly firing: ObservableGauge;
  private readonly observeFiring: BatchObservableCallback;

  constructor(options: AlertEngineOptions) {
    this.rules = [...(options.rules ?? defaultAlertRules)];
    const seen = new Set<string>();
    for (const rule of this.rules) {
      if (seen.has(rule.name)) throw new JeexDbError('INVALID_CONFIG', `two alert rules are named "${rule.name}"`, { hint: 'Give every alert rule its own name.' });
      seen.add(rule.name);
      this.states.set(rule.name, { state: 'inactive', activeAt: 0, firedAt: 0, entry: undefined });
    }
    this.logger = options.logger;
    this.webhook = makeWebhook(options.webhook, options.logger);
    this.meter = metrics.getMeter('jeex-db');
    this.transitions = this.meter.createCounter('jeex.alerts.transitions', { unit: '{transition}', description: 'Alert state changes (pending, firing, resolved)' });
    this.firing = this.meter.createObservableGauge('jeex.alerts.firing', { unit: '{alert}', description: '1 while the alert fires, else 0' });
    this.observeFiring = (result) => {
      for (const rule of this.rules) {
        result.observe(this.firing, this.states.get(rule.name)?.state === 'firing' ? 1 : 0, { alert: rule.name, severity: rule.severity });
      }
    };
    this.meter.addBatchObservableCallback(this.observeFiring, [this.firing]);
  }

  /**
   * Judge every rule on `doc` at time `now` (ms since the epoch) and return the transitions it
   * caused. Webhook notifications are queued, not awaited (see `flush()`).
   */
  evaluate(doc: HealthDocument, now: number = Date.now()): AlertTransition[] {
    const out: AlertTransition[] = [];
    for (const rule of this.rules) {
      const current = this.states.get(rule.name);
      const seen = observe(rule, doc);
      if (!current || !seen) continue;
      const { state } = current;
      if (seen.holds) {
        current.entry = seen.entry;
        if (state === 'inactive') {
          current.activeAt = now;
          if (rule.for > 0) {
            current.state = 'pending';
            out.push(this.record(rule, current, 'pending', state, now));
            continue;
          }
        }
        if (current.state !== 'firing' && now - current.activeAt >= rule.for) {
          current.state = 'firing';
          current.firedAt = now;
          out.push(this.record(rule, current, 'firing', state, now));
        }
      } else if (state === 'pending') {
        current.state = 'inactive';
      } else if (state === 'firing') {
        current.entry = seen.entry;
        current.state = 'inactive';
        out.push(this.record(rule, current, 'resolved', state, now));
      }
    }
    return out;
  }

  /** The pending and firing alerts, firing first, critical before warning. */
  active(): ActiveAlert[] {
    const list: ActiveAlert[] = [];
    for (const rule of this.rules) {
      const current = this.states.get(rule.name);
      if (!current || current.state === 'inactive' || !current.entry) continue;
      list.push({
        alert: rule.name,
        state: current.state,
        severity: rule.severity,
        description: rule.description,
        check: rule.check,
        observedValue: current.entry.observedValue,
        since: new Date(current.activeAt).toISOString(),
        ...(current.state === 'firing' ? { firingSince: new Date(current.firedAt).toISOString() } : {}),
        summary: renderSummary(rule, current.entry),
      });
    }
    const rank = (alert: ActiveAlert) => (alert.state === 'firing' ? 0 : 2) + (alert.severity === 'critical' ? 0 : 1);
    return list.sort((a, b) => rank(a) - rank(b));
  }

  /** Wait until every queued webhook notification was delivered or given up on. */
  async flush(): Promise<void> {
    await this.webhook?.flush();
  }

  /** Flush, then stop reporting `jeex.alerts.firing` for this engine. */
  async close(): Promise<void> {
    await this.flush();
    this.meter.removeBatchObservableCallback(this.observeFiring, [this.firing]);
  }

  private record(rule: AlertRule, current: RuleState, state: AlertTransition['state'], from: AlertState, now: number): AlertTransition {
    const entry = current.entry as HealthCheck;
    const transition: AlertTransition = {
      alert: rule.name,
      state,
      from,
      severity: rule.severity,
      check: rule.check,
      observedValue: entry.observedValue,
      since: new Date(current.activeAt).toISOString(),
      at: new Date(now).toISOString(),
      summary: renderSummary(rule, entry),
    };
    const line = {
      alert: transition.alert,
      state,
      severity: transition.severity,
      check: transition.check,
      observedValue: transition.observedValue,
      since: transition.since,
      summary: transition.summary,
    };
    const message = `alert ${rule.name} ${state}`;
    if (state === 'firing') this.logger[rule.severity === 'critical' ? 'error' : 'warn'](line, message);
    else this.logger.info(line, message);
    this.transitions.add(1, { alert: rule.name, state, severity: rule.severity });
    if (state !== 'pending') {
      this.webhook?.send({
        alert: rule.name,
        state,
        severity: rule.severity,
        summary: transition.summary,
        description: rule.description,
        check: rule.check,
        observedValue: entry.observedValue,
        startsAt: new Date(current.firedAt).toISOString(),
        ...(state === 'resolved' ? { endsAt: transition.at } : {}),
      });
    }
    return transition;
  }
}

function makeWebhook(option: AlertEngineOptions['webhook'], logger: Logger): AlertWebhook | undefined {
  if (option === null) return undefined;
  if (option instanceof AlertWebhook) return option;
  if (option !== undefined) return new AlertWebhook({ ...option, logger });
  const url = alertWebhookUrlFromEnv();
  return url === undefined ? undefined : new AlertWebhook({ url, logger });
}

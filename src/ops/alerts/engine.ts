import { hostname } from 'node:os';
import { join } from 'node:path';
import { metrics, type BatchObservableCallback, type Counter, type Meter, type ObservableGauge } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { JeexDbError } from '../../core/errors.ts';
import { invalidDuration, parseDuration } from '../../core/units.ts';
import type { HealthCheck, HealthDocument } from '../health/types.ts';
import { observe, renderSummary } from './condition.ts';
import { AlertDelivery, DELIVERY_CHECK, type AlertDeliveryOptions } from './delivery.ts';
import { labelProblems, parseAlertLabels, type AlertNotification } from './notification.ts';
import { alertReceivers, type AlertReceiverConfig } from './receiver.ts';
import { defaultAlertRules, type AlertRule, type AlertSeverity } from './rules.ts';
import { StateFile } from './state-file.ts';

/** Where an alert stands between evaluations (`resolved` is a transition back to `inactive`). */
export type AlertState = 'inactive' | 'pending' | 'firing';

/** One change of an alert's state, as logged, counted and (firing/resolved) sent to the receivers. */
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
   * Where firing and resolved alerts go (Alertmanagers, webhooks); `null` or `[]` for none.
   * Default: `alertReceivers()`, i.e. JEEX_ALERTMANAGER_URL and JEEX_ALERT_WEBHOOK_URL.
   */
  receivers?: readonly AlertReceiverConfig[] | null;
  /** The older spelling: `webhook: null` is `receivers: null`, `webhook: { url }` one webhook receiver. */
  webhook?: { url: string } | null;
  /** A delivery to use (shared, or built by the caller), or tuning for the one the engine builds. */
  delivery?: AlertDelivery | Omit<AlertDeliveryOptions, 'logger' | 'receivers' | 'dir'>;
  /**
   * Keep the alerts' states (`engine.json`) and the undelivered notifications (`outbox.json`)
   * here, e.g. `<data dir>/alerts`: after a restart a firing alert still gets its resolved and a
   * pending one keeps its start. Default: none, memory only.
   */
  dir?: string;
  /**
   * Labels on every alert, over JEEX_ALERT_LABELS (`k=v,k2=v2`); `instance` defaults to
   * os.hostname(). `alertname`, `severity`, `check` and `component` are the engine's own.
   */
  labels?: Record<string, string>;
  /**
   * Firing alerts are sent again this often (to receivers that take repeats: Alertmanager), each
   * time valid for 4 such intervals (`endsAt`): Alertmanager resolves them by itself should this
   * process die. Default JEEX_ALERT_REPEAT_INTERVAL, else 1 min.
   */
  repeatIntervalMs?: number;
  /** The `generatorURL` of every alert (e.g. this serve's /alerts). */
  generatorUrl?: string;
  /** A saved pending alert older than this (the state file's age) starts from zero. Default 1 h. */
  restoreWithinMs?: number;
}

interface RuleState {
  state: AlertState;
  activeAt: number;
  firedAt: number;
  entry: HealthCheck | undefined;
  /** The labels it fired with: its identity for Alertmanager until it resolves. */
  labels?: Record<string, string> | undefined;
  /** When a firing notification was last queued (memory only: after a restart it is sent again at once). */
  sentAt: number;
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
 * await engine.flush(); // notifications sent (or queued for retry)
 */
export class AlertEngine {
  readonly rules: readonly AlertRule[];
  /** The labels every alert carries besides its own (`instance`, the configured ones). */
  readonly labels: Readonly<Record<string, string>>;
  readonly repeatIntervalMs: number;
  private readonly logger: Logger;
  private readonly delivery: AlertDelivery | undefined;
  private readonly ownDelivery: boolean;
  private readonly stateFile: StateFile | undefined;
  private readonly generatorUrl: string | undefined;
  private lastEvaluationAt: number | undefined;
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
      this.states.set(rule.name, { state: 'inactive', activeAt: 0, firedAt: 0, entry: undefined, sentAt: 0 });
    }
    this.logger = options.logger;
    this.labels = engineLabels(options.labels);
    this.repeatIntervalMs = options.repeatIntervalMs ?? repeatIntervalFromEnv() ?? 60_000;
    this.generatorUrl = options.generatorUrl;
    this.stateFile = options.dir === undefined ? undefined : new StateFile(join(options.dir, 'engine.json'), this.logger);
    this.restore(options.restoreWithinMs ?? 3_600_000);
    if (options.delivery instanceof AlertDelivery) {
      this.delivery = options.delivery;
      this.ownDelivery = false;
    } else {
      const receivers = options.receivers !== undefined ? (options.receivers ?? []) : options.webhook !== undefined ? (options.webhook ? [{ kind: 'webhook' as const, url: options.webhook.url }] : []) : alertReceivers();
      this.delivery = receivers.length === 0 ? undefined : new AlertDelivery({ ...options.delivery, logger: this.logger, receivers, ...(options.dir === undefined ? {} : { dir: options.dir }) });
      this.ownDelivery = true;
    }
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
   * caused. Notifications are queued, not awaited (see `flush()`); a firing alert is queued again
   * every `repeatIntervalMs`.
   */
  evaluate(doc: HealthDocument, now: number = Date.now()): AlertTransition[] {
    const out: AlertTransition[] = [];
    const gap = this.lastEvaluationAt === undefined ? 0 : now - this.lastEvaluationAt;
    this.lastEvaluationAt = now;
    // Valid for 4 intervals, as Prometheus does: a late evaluation or two does not resolve it.
    const validFor = 4 * Math.max(this.repeatIntervalMs, gap);
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
    for (const rule of this.rules) {
      const current = this.states.get(rule.name);
      if (current?.state !== 'firing') continue;
      const fired = out.some((transition) => transition.alert === rule.name && transition.state === 'firing');
      if (fired || now - current.sentAt >= this.repeatIntervalMs) this.notify(rule, current, 'firing', now, validFor, !fired);
    }
    if (out.length > 0) this.save(now);
    return out;
  }

  /**
   * The health entries of the delivery (`alerts:delivery`, one per receiver), for the document
   * the alert rules are judged on (`startAlertLoop` adds them); empty without receivers.
   */
  deliveryChecks(): Record<string, HealthCheck[]> {
    return this.delivery ? { [DELIVERY_CHECK]: this.delivery.health() } : {};
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

  /** Send what is due, wait for the requests under way and for the state files (a failing receiver is retried later, not waited for). */
  async flush(): Promise<void> {
    await this.delivery?.flush();
    await this.stateFile?.flush();
  }

  /** Flush, stop the delivery the engine built (its outbox stays on disk) and stop reporting `jeex.alerts.firing`. */
  async close(): Promise<void> {
    await this.stateFile?.flush();
    if (this.ownDelivery) await this.delivery?.close();
    else await this.delivery?.flush();
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
    if (state === 'firing') current.labels = this.labelsFor(rule, entry);
    if (state === 'resolved') this.notify(rule, current, 'resolved', now, 0, false);
    return transition;
  }

  private labelsFor(rule: AlertRule, entry: HealthCheck): Record<string, string> {
    return { ...this.labels, alertname: rule.name, severity: rule.severity, check: rule.check, ...(entry.componentId ? { component: entry.componentId } : {}) };
  }

  /** Queue the alert's current state; a firing one is valid for `validFor` ms. */
  private notify(rule: AlertRule, current: RuleState, state: 'firing' | 'resolved', now: number, validFor: number, repeat: boolean): void {
    if (state === 'firing') current.sentAt = now;
    if (!this.delivery || !current.entry) return;
    const notification: AlertNotification = {
      alert: rule.name,
      state,
      severity: rule.severity,
      labels: current.labels ?? this.labelsFor(rule, current.entry),
      summary: renderSummary(rule, current.entry),
      description: rule.description,
      check: rule.check,
      observedValue: current.entry.observedValue,
      startsAt: new Date(current.firedAt).toISOString(),
      // Alertmanager refuses an end before the start (a clock stepped back).
      endsAt: new Date(Math.max(current.firedAt, state === 'firing' ? now + validFor : now)).toISOString(),
      ...(this.generatorUrl ? { generatorURL: this.generatorUrl } : {}),
    };
    this.delivery.enqueue(notification, { repeat });
  }

  private save(now: number): void {
    this.stateFile?.save(() => ({
      version: 1,
      savedAt: now,
      alerts: Object.fromEntries(
        [...this.states].filter(([, state]) => state.state !== 'inactive').map(([name, state]) => [name, { state: state.state, activeAt: state.activeAt, firedAt: state.firedAt, entry: state.entry, labels: state.labels }]),
      ),
    }));
  }

  /** The states a previous run saved: firing alerts (so they get their resolved) and recent pending ones. */
  private restore(withinMs: number): void {
    const saved = this.stateFile?.read() as { version?: unknown; savedAt?: unknown; alerts?: Record<string, Partial<RuleState>> } | undefined;
    if (saved === undefined) return;
    if (saved.version !== 1 || typeof saved.savedAt !== 'number' || typeof saved.alerts !== 'object' || saved.alerts === null) {
      this.logger.warn({ file: this.stateFile?.path }, `${this.stateFile?.path} is not an alert state this version reads; starting with every alert inactive`);
      return;
    }
    const stale = Date.now() - saved.savedAt > withinMs;
    const restored: string[] = [];
    for (const [name, state] of Object.entries(saved.alerts)) {
      const current = this.states.get(name);
      const valid = current && (state.state === 'firing' || state.state === 'pending') && typeof state.activeAt === 'number' && typeof state.firedAt === 'number' && typeof state.entry === 'object';
      if (!valid || (state.state === 'pending' && stale)) continue;
      Object.assign(current, { state: state.state, activeAt: state.activeAt, firedAt: state.firedAt, entry: state.entry, labels: state.labels, sentAt: 0 });
      restored.push(`${name} ${String(state.state)}`);
    }
    if (restored.length > 0) this.logger.info({ file: this.stateFile?.path, alerts: restored }, `alert states restored from the last run: ${restored.join(', ')}`);
  }
}

/** `instance` (os.hostname()), then JEEX_ALERT_LABELS, then `given`; INVALID_CONFIG for a bad or reserved name. */
function engineLabels(given: Record<string, string> | undefined, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const fromEnv = env.JEEX_ALERT_LABELS?.trim() ? parseAlertLabels(env.JEEX_ALERT_LABELS, 'JEEX_ALERT_LABELS') : {};
  const problems = given ? labelProblems(given, 'the alert labels') : [];
  if (problems.length > 0) throw new JeexDbError('INVALID_CONFIG', `the alert labels have ${problems.length} problem(s):\n  ${problems.join('\n  ')}`, { hint: 'Use label names of letters, digits and "_", with a value each.', context: { problems } });
  return { instance: hostname(), ...fromEnv, ...given };
}

/** JEEX_ALERT_REPEAT_INTERVAL (a duration, `1min`; a plain number is seconds), undefined when unset. */
function repeatIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env.JEEX_ALERT_REPEAT_INTERVAL?.trim();
  if (!text) return undefined;
  const ms = parseDuration(text, { defaultUnit: 's' });
  if (ms === undefined || ms < 1000) {
    throw new JeexDbError('INVALID_CONFIG', invalidDuration('JEEX_ALERT_REPEAT_INTERVAL', text, { defaultUnit: 's' }), { hint: 'Set JEEX_ALERT_REPEAT_INTERVAL to 1s or more, e.g. 1min.' });
  }
  return ms;
}

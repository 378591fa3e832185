import { join } from 'node:path';
import { metrics, type BatchObservableCallback, type Counter, type Meter, type ObservableGauge } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { backoffDelay } from '../../core/backoff.ts';
import type { HealthCheck } from '../health/types.ts';
import type { AlertNotification } from './notification.ts';
import { Outbox, type OutboxEntry } from './outbox.ts';
import { makeReceiver, postOnce, type AlertReceiverConfig, type AttemptResult, type Receiver } from './receiver.ts';
import { StateFile } from './state-file.ts';

/** The health key `AlertDelivery.health()` reports under; the default rule `alert-delivery-failing` watches it. */
export const DELIVERY_CHECK = 'alerts:delivery';

export interface AlertDeliveryOptions {
  logger: Logger;
  receivers: readonly AlertReceiverConfig[];
  /**
   * Keep the outbox in `<dir>/outbox.json`: what was not delivered survives a restart. Without
   * it (library use), memory only: undelivered notifications are lost when the process ends.
   */
  dir?: string;
  /** Milliseconds one request may take. Default 5000. */
  timeoutMs?: number;
  /** The wait before the first retry of a failing receiver, doubled at each further one. Default 1000. */
  backoffMs?: number;
  /** The longest wait between two attempts (also caps a `Retry-After`). Default 30 000. */
  maxBackoffMs?: number;
  /** A notification undelivered for this long is dropped (logged, counted). Default 24 h. */
  maxAgeMs?: number;
  /** Notifications waiting per receiver; beyond it the oldest is dropped. Default 1000. */
  maxEntries?: number;
  /** A failing receiver is a health `fail` (rather than `warn`) once its oldest undelivered notification is this old. Default 5 min. */
  failAfterMs?: number;
  /** While a receiver keeps failing, one reminder line this often; also the least time between two "failing" lines. Default 15 min. */
  logEveryMs?: number;
  /** The clock, for tests. */
  now?: () => number;
}

interface ReceiverState {
  receiver: Receiver;
  /** Consecutive failed attempts. */
  failures: number;
  nextAttemptAt: number;
  sending: Promise<void> | undefined;
  failingSince: number | undefined;
  lastError: string | undefined;
  /** Whether the current failure was logged (so its recovery is too). */
  failureLogged: boolean;
  lastFailureLogAt: number;
  lastRejection: { at: number; text: string } | undefined;
  lastRejectionLogAt: number;
}

/**
 * Delivers alert notifications to Alertmanagers and webhooks, durably: `enqueue()` puts the
 * notification in each receiver's outbox (persisted under `dir`) and returns; a receiver that
 * fails is retried with backoff (1 s doubling to 30 s) until it accepts or the notification is
 * `maxAgeMs` old; per alert only the newest notification waits. A refused request (4xx other than
 * 408/429) is dropped and logged at error with the receiver's answer. A receiver that starts
 * failing is one error line (and one line when it recovers), counted in
 * `jeex.alerts.delivery.failures`, and a `alerts:delivery` health entry (`health()`).
 *
 * @example
 * const delivery = new AlertDelivery({ logger, receivers: [{ kind: 'alertmanager', url: 'http://am:9093' }], dir: '.jeex-db/alerts' });
 * delivery.enqueue(notification, { repeat: false });
 * await delivery.close();
 */
export class AlertDelivery {
  private readonly logger: Logger;
  private readonly states: ReceiverState[];
  private readonly outbox: Outbox;
  private readonly file: StateFile | undefined;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly failAfterMs: number;
  private readonly logEveryMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private closed = false;
  private readonly meter: Meter;
  private readonly failures: Counter;
  private readonly delivered: Counter;
  private readonly dropped: Counter;
  private readonly undelivered: ObservableGauge;
  private readonly oldestAge: ObservableGauge;
  private readonly observe: BatchObservableCallback;

  constructor(options: AlertDeliveryOptions) {
    this.logger = options.logger;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.backoffMs = options.backoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.failAfterMs = options.failAfterMs ?? 5 * 60_000;
    this.logEveryMs = options.logEveryMs ?? 15 * 60_000;
    this.now = options.now ?? Date.now;
    const receivers = options.receivers.map((config) => makeReceiver(config));
    this.states = receivers.map((receiver) => ({
      receiver,
      failures: 0,
      nextAttemptAt: 0,
      sending: undefined,
      failingSince: undefined,
      lastError: undefined,
      failureLogged: false,
      lastFailureLogAt: Number.NEGATIVE_INFINITY,
      lastRejection: undefined,
      lastRejectionLogAt: Number.NEGATIVE_INFINITY,
    }));

    this.meter = metrics.getMeter('jeex-db');
    this.failures = this.meter.createCounter('jeex.alerts.delivery.failures', { unit: '{request}', description: 'Alert delivery requests that failed, by receiver and reason' });
    this.delivered = this.meter.createCounter('jeex.alerts.delivery.sent', { unit: '{notification}', description: 'Alert notifications a receiver accepted' });
    this.dropped = this.meter.createCounter('jeex.alerts.delivery.dropped', { unit: '{notification}', description: 'Alert notifications given up on (refused, expired, overflow, receiver removed)' });
    this.undelivered = this.meter.createObservableGauge('jeex.alerts.delivery.undelivered', { unit: '{notification}', description: 'Alert notifications waiting for a receiver' });
    this.oldestAge = this.meter.createObservableGauge('jeex.alerts.delivery.oldest_age', { unit: 's', description: 'Age of the oldest undelivered alert notification (0 when none)' });
    this.observe = (result) => {
      const now = this.now();
      for (const { receiver } of this.states) {
        const oldest = this.outbox.oldest(receiver.id);
        result.observe(this.undelivered, this.outbox.pending(receiver.id), { receiver: receiver.name, kind: receiver.kind });
        result.observe(this.oldestAge, oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000), { receiver: receiver.name, kind: receiver.kind });
      }
    };
    this.meter.addBatchObservableCallback(this.observe, [this.undelivered, this.oldestAge]);
    const limits = { maxEntries: options.maxEntries ?? 1000, maxAgeMs: options.maxAgeMs ?? 24 * 3_600_000 };
    this.file = options.dir === undefined ? undefined : new StateFile(join(options.dir, 'outbox.json'), this.logger);
    this.outbox = this.load(limits);
    // What a previous run left undelivered goes out now.
    if (this.outbox.size > 0) this.kick();
  }

  /** The receivers, by their masked names. */
  get receivers(): readonly { kind: Receiver['kind']; name: string }[] {
    return this.states.map(({ receiver }) => ({ kind: receiver.kind, name: receiver.name }));
  }

  /** Notifications waiting, over all receivers. */
  get pending(): number {
    return this.outbox.size;
  }

  /**
   * Queue `notification` for every receiver (a `repeat`, a firing alert sent again, only for
   * those that take repeats: Alertmanager). Returns at once.
   */
  enqueue(notification: AlertNotification, options: { repeat?: boolean } = {}): void {
    if (this.closed) return;
    const now = this.now();
    for (const state of this.states) {
      if (options.repeat && !state.receiver.repeats) continue;
      const dropped = this.outbox.put(state.receiver.id, notification, now);
      if (dropped) this.drop(state, [dropped], 'overflow', 'the outbox is full');
    }
    this.persist();
    this.kick();
  }

  /**
   * One `alerts:delivery` entry per receiver: `pass`, `warn` while it fails, `fail` once the
   * oldest undelivered notification is `failAfterMs` old; `warn` too for a refused notification
   * in the last `logEveryMs`. `observedValue`: the oldest undelivered notification's age in s.
   */
  health(): HealthCheck[] {
    const now = this.now();
    return this.states.map((state) => {
      const { receiver } = state;
      const oldest = this.outbox.oldest(receiver.id);
      const age = oldest === undefined ? 0 : Math.round((now - oldest) / 1000);
      const pending = this.outbox.pending(receiver.id);
      const base = { componentType: 'alerts', componentId: receiver.name, observedValue: age, observedUnit: 's', time: new Date(now).toISOString() };
      if (state.failingSince !== undefined && pending > 0) {
        const status = oldest !== undefined && now - oldest >= this.failAfterMs ? 'fail' : 'warn';
        return {
          ...base,
          status,
          thresholds: { fail: this.failAfterMs / 1000 },
          output: `${receiver.kind} ${receiver.name} has failed for ${human(now - state.failingSince)} (${state.lastError ?? 'unknown error'}); ${pending} notification(s) wait, the oldest for ${human(age * 1000)}: check that it is up and reachable from here`,
        };
      }
      if (state.lastRejection && now - state.lastRejection.at < this.logEveryMs) {
        return { ...base, status: 'warn', output: `${receiver.kind} ${receiver.name} refused notifications ${human(now - state.lastRejection.at)} ago: ${state.lastRejection.text}` };
      }
      return { ...base, status: 'pass' };
    });
  }

  /**
   * Send what is due now (receivers not waiting out a backoff), and wait for the requests under
   * way and for the outbox file. A receiver that fails is not waited for: it is retried later.
   */
  async flush(): Promise<void> {
    this.kick();
    await Promise.all(this.states.flatMap((state) => (state.sending ? [state.sending] : [])));
    await this.file?.flush();
  }

  /** Flush, then stop: no more retries (what is undelivered stays in the outbox file). */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all(this.states.flatMap((state) => (state.sending ? [state.sending] : [])));
    await this.file?.flush();
    this.meter.removeBatchObservableCallback(this.observe, [this.undelivered, this.oldestAge]);
  }

  private load(limits: { maxEntries: number; maxAgeMs: number }): Outbox {
    const saved = this.file?.read();
    let outbox = new Outbox(limits);
    if (saved !== undefined) {
      try {
        outbox = Outbox.from(saved, limits);
      } catch (error) {
        this.logger.warn({ file: this.file?.path, error: (error as Error).message }, `${this.file?.path} is not an outbox this version reads; starting with an empty one`);
      }
    }
    const gone = outbox.retain(new Set(this.states.map((state) => state.receiver.id)));
    if (gone.length > 0) {
      this.dropped.add(gone.length, { reason: 'receiver_removed' });
      this.logger.warn({ dropped: gone.length, alerts: [...new Set(gone.map((entry) => entry.key))] }, `${gone.length} undelivered alert notification(s) were for a receiver no longer configured; discarded`);
    }
    if (outbox.size > 0) this.logger.info({ undelivered: outbox.size, file: this.file?.path }, `${outbox.size} undelivered alert notification(s) from the last run; sending them`);
    return outbox;
  }

  private persist(): void {
    this.file?.save(() => this.outbox.toJSON());
  }

  /** Start a send for each receiver that has something due and is idle; arm the timer for the next retry. */
  private kick(): void {
    if (this.closed) return;
    const now = this.now();
    const expired = this.outbox.expire(now);
    if (expired.length > 0) {
      for (const state of this.states) {
        const own = expired.filter((entry) => entry.receiver === state.receiver.id);
        if (own.length > 0) this.drop(state, own, 'expired', 'undelivered for longer than the maximum age');
      }
      this.persist();
    }
    let next = Number.POSITIVE_INFINITY;
    for (const state of this.states) {
      if (state.sending || this.outbox.pending(state.receiver.id) === 0) continue;
      if (state.nextAttemptAt <= now) {
        state.sending = this.send(state).finally(() => {
          state.sending = undefined;
          this.kick();
        });
      } else next = Math.min(next, state.nextAttemptAt);
    }
    if (next === Number.POSITIVE_INFINITY) return;
    if (this.timer && this.timerAt <= next) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.kick();
      },
      Math.max(0, next - now),
    );
    // Retries do not keep a process alive by themselves; the outbox file keeps what they carry.
    this.timer.unref();
  }

  /** Send the receiver's queue, batch after batch, until it is empty or an attempt fails. */
  private async send(state: ReceiverState): Promise<void> {
    for (;;) {
      const batch = this.outbox.due(state.receiver.id, state.receiver.batchSize);
      if (batch.length === 0 || this.closed) return;
      let result: AttemptResult;
      try {
        result = await postOnce(state.receiver, state.receiver.body(batch.map((entry) => entry.notification)), this.timeoutMs);
      } catch (error) {
        result = { ok: false, retry: true, reason: 'network', error: (error as Error).message };
      }
      if (result.ok) {
        this.outbox.settle(batch);
        this.persist();
        this.delivered.add(batch.length, { receiver: state.receiver.name, kind: state.receiver.kind });
        this.recovered(state, batch);
        continue;
      }
      this.failures.add(1, { receiver: state.receiver.name, kind: state.receiver.kind, reason: result.reason });
      if (!result.retry) {
        this.outbox.settle(batch);
        this.persist();
        this.rejected(state, batch, result);
        continue;
      }
      this.failed(state, result, batch.length);
      return;
    }
  }

  private recovered(state: ReceiverState, batch: readonly OutboxEntry[]): void {
    const { receiver } = state;
    if (state.failingSince !== undefined && state.failureLogged) {
      const now = this.now();
      this.logger.info(
        { receiver: receiver.name, kind: receiver.kind, failedForMs: now - state.failingSince, attempts: state.failures, oldestAgeMs: now - Math.min(...batch.map((entry) => entry.firstQueuedAt)) },
        `alert delivery to ${receiver.kind} ${receiver.name} works again after ${human(now - state.failingSince)} and ${state.failures} failed attempt(s); sending what waited`,
      );
    } else {
      this.logger.debug({ receiver: receiver.name, kind: receiver.kind, notifications: batch.length }, 'alert notifications delivered');
    }
    state.failures = 0;
    state.nextAttemptAt = 0;
    state.failingSince = undefined;
    state.lastError = undefined;
    state.failureLogged = false;
  }

  private failed(state: ReceiverState, result: Extract<AttemptResult, { ok: false }>, waiting: number): void {
    const { receiver } = state;
    const now = this.now();
    const what = result.status === undefined ? (result.error ?? result.reason) : `HTTP ${result.status}${result.body ? `: ${result.body.slice(0, 200)}` : ''}`;
    const wait = Math.min(this.maxBackoffMs, Math.max(backoffDelay(state.failures, { initialMs: this.backoffMs, maxMs: this.maxBackoffMs, spread: [0.75, 1] }), result.retryAfterMs ?? 0));
    state.failures++;
    state.nextAttemptAt = now + wait;
    state.failingSince ??= now;
    state.lastError = what;
    const fields = { receiver: receiver.name, kind: receiver.kind, reason: result.reason, status: result.status, error: what, attempts: state.failures, undelivered: this.outbox.pending(receiver.id), retryInMs: wait };
    if (!state.failureLogged && now - state.lastFailureLogAt >= this.logEveryMs) {
      state.failureLogged = true;
      state.lastFailureLogAt = now;
      this.logger.error(fields, `alert delivery to ${receiver.kind} ${receiver.name} fails (${what}); retrying with backoff up to ${human(this.maxBackoffMs)}: check that it is up and reachable from here`);
    } else if (state.failureLogged && now - state.lastFailureLogAt >= this.logEveryMs) {
      state.lastFailureLogAt = now;
      this.logger.error(fields, `alert delivery to ${receiver.kind} ${receiver.name} still fails after ${human(now - state.failingSince)} (${what}); ${waiting} or more notification(s) wait`);
    } else {
      this.logger.debug(fields, 'alert delivery attempt failed; retrying');
    }
  }

  private rejected(state: ReceiverState, batch: readonly OutboxEntry[], result: Extract<AttemptResult, { ok: false }>): void {
    const { receiver } = state;
    const now = this.now();
    const text = `HTTP ${result.status ?? '?'}${result.body ? `: ${result.body}` : ''}`;
    state.lastRejection = { at: now, text };
    this.dropped.add(batch.length, { receiver: receiver.name, kind: receiver.kind, reason: 'rejected' });
    const fields = { receiver: receiver.name, kind: receiver.kind, reason: result.reason, status: result.status, body: result.body, alerts: batch.map((entry) => entry.key), dropped: batch.length };
    if (now - state.lastRejectionLogAt >= this.logEveryMs / 15) {
      state.lastRejectionLogAt = now;
      this.logger.error(fields, `${receiver.kind} ${receiver.name} refused ${batch.length} alert notification(s) (${text}); they are dropped, not retried: check the receiver's URL and what it accepts`);
    } else this.logger.debug(fields, 'alert notifications refused');
  }

  private drop(state: ReceiverState, entries: readonly OutboxEntry[], reason: 'expired' | 'overflow', why: string): void {
    const { receiver } = state;
    this.dropped.add(entries.length, { receiver: receiver.name, kind: receiver.kind, reason });
    this.logger.error(
      { receiver: receiver.name, kind: receiver.kind, reason, dropped: entries.length, alerts: entries.map((entry) => `${entry.key} ${entry.notification.state}`) },
      `${entries.length} alert notification(s) for ${receiver.kind} ${receiver.name} dropped undelivered: ${why}`,
    );
  }
}

/** A duration for a log line: `850 ms`, `42 s`, `7 min`, `3.5 h`. */
function human(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 120 * 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 360_000) / 10} h`;
}

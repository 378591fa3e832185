import { z } from 'zod';
import type { AlertNotification } from './notification.ts';

/** One notification waiting for one receiver. */
export interface OutboxEntry {
  /** The receiver's id (`Receiver.id`). */
  receiver: string;
  /** The alert it is about: the newest notification of an alert replaces an older one. */
  key: string;
  /** Increases with every put: tells a delivered entry from one replaced while it was sent. */
  seq: number;
  notification: AlertNotification;
  /** When the first notification still undelivered for this alert was queued (ms since the epoch). */
  firstQueuedAt: number;
  /** When this notification was queued: it expires `maxAgeMs` after. */
  queuedAt: number;
}

export interface OutboxLimits {
  /** Entries per receiver; beyond it the oldest is dropped. */
  maxEntries: number;
  /** An entry queued longer ago than this is dropped undelivered. */
  maxAgeMs: number;
}

/**
 * The notifications not yet delivered, per receiver, coalesced: for each alert only the newest
 * one waits (a resolved replaces its firing, a re-sent firing the one before), so what is sent
 * after an outage is each alert's current state, in the order they were first queued. Pure: the
 * delivery loop persists `toJSON()` and rebuilds it with `Outbox.from()`.
 *
 * @example
 * const outbox = new Outbox({ maxEntries: 1000, maxAgeMs: 86_400_000 });
 * outbox.put('am-1', firing, now);
 * outbox.put('am-1', resolved, now + 5000); // replaces the firing
 * outbox.due('am-1', 64); // [the resolved]
 */
export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();
  private seq = 0;

  constructor(private readonly limits: OutboxLimits) {}

  /** Queue `notification` for `receiver`; returns the entry dropped to make room, if any. */
  put(receiver: string, notification: AlertNotification, now: number): OutboxEntry | undefined {
    const id = entryId(receiver, notification.alert);
    const previous = this.entries.get(id);
    // A replaced entry goes to the end of the order, as a new one: Map keeps insertion order.
    this.entries.delete(id);
    this.entries.set(id, { receiver, key: notification.alert, seq: ++this.seq, notification, firstQueuedAt: previous?.firstQueuedAt ?? now, queuedAt: now });
    if (previous || this.pending(receiver) <= this.limits.maxEntries) return undefined;
    const oldest = this.list(receiver)[0];
    if (oldest) this.entries.delete(entryId(receiver, oldest.key));
    return oldest;
  }

  /** Up to `limit` entries of `receiver`, oldest first. */
  due(receiver: string, limit: number): OutboxEntry[] {
    return this.list(receiver).slice(0, limit);
  }

  /** Remove `sent` entries that were not replaced meanwhile (a newer notification stays queued). */
  settle(sent: readonly OutboxEntry[]): number {
    let removed = 0;
    for (const entry of sent) {
      const id = entryId(entry.receiver, entry.key);
      if (this.entries.get(id)?.seq === entry.seq) {
        this.entries.delete(id);
        removed++;
      }
    }
    return removed;
  }

  /** Drop and return the entries queued more than `maxAgeMs` before `now`. */
  expire(now: number): OutboxEntry[] {
    const expired = [...this.entries.values()].filter((entry) => now - entry.queuedAt > this.limits.maxAgeMs);
    for (const entry of expired) this.entries.delete(entryId(entry.receiver, entry.key));
    return expired;
  }

  /** Drop and return the entries of receivers not in `receivers` (no longer configured). */
  retain(receivers: ReadonlySet<string>): OutboxEntry[] {
    const gone = [...this.entries.values()].filter((entry) => !receivers.has(entry.receiver));
    for (const entry of gone) this.entries.delete(entryId(entry.receiver, entry.key));
    return gone;
  }

  /** Entries waiting for `receiver`. */
  pending(receiver: string): number {
    return this.list(receiver).length;
  }

  /** When the oldest undelivered notification of `receiver` was first queued, or undefined. */
  oldest(receiver: string): number | undefined {
    const times = this.list(receiver).map((entry) => entry.firstQueuedAt);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  get size(): number {
    return this.entries.size;
  }

  toJSON(): { version: 1; entries: OutboxEntry[] } {
    return { version: 1, entries: [...this.entries.values()] };
  }

  /** An outbox holding what `json` holds (as `toJSON()` wrote it); throws on anything else. */
  static from(json: unknown, limits: OutboxLimits): Outbox {
    const file = fileSchema.parse(json);
    const outbox = new Outbox(limits);
    for (const entry of file.entries) {
      outbox.entries.set(entryId(entry.receiver, entry.key), { ...entry });
      outbox.seq = Math.max(outbox.seq, entry.seq);
    }
    return outbox;
  }

  private list(receiver: string): OutboxEntry[] {
    return [...this.entries.values()].filter((entry) => entry.receiver === receiver);
  }
}

const entryId = (receiver: string, key: string) => `${receiver}\u0000${key}`;

const notificationSchema = z.object({
  alert: z.string(),
  state: z.enum(['firing', 'resolved']),
  severity: z.enum(['critical', 'warning']),
  labels: z.record(z.string(), z.string()),
  summary: z.string(),
  description: z.string(),
  check: z.string(),
  observedValue: z.union([z.number(), z.string(), z.boolean(), z.null()]),
  startsAt: z.string(),
  endsAt: z.string(),
  generatorURL: z.string().optional(),
});

const fileSchema = z.object({
  version: z.literal(1),
  entries: z.array(
    z.object({ receiver: z.string(), key: z.string(), seq: z.number().int(), notification: notificationSchema, firstQueuedAt: z.number(), queuedAt: z.number() }),
  ),
});

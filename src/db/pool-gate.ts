import { JeexDbError } from '../core/errors.ts';

export interface PoolState {
  /** Connections the pool may use at once. */
  max: number;
  /** Lent out right now (a query or a transaction runs on them). */
  used: number;
  /** Requests waiting for one. */
  pending: number;
  /** Requests that gave up waiting (or found the queue full) since the pool was made. */
  timeouts: number;
}

interface Waiter {
  grant: () => void;
  fail: (error: JeexDbError) => void;
  timer: NodeJS.Timeout;
}

/**
 * At most `max` requests use the database at once; the rest wait in a bounded FIFO queue, each
 * for at most `acquireTimeoutMs`, then fail with POOL_TIMEOUT naming the pool's state. This is
 * the acquisition step postgres.js does not have (it queues without limit or timeout).
 */
export class PoolGate {
  private used = 0;
  private timeouts = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    readonly name: string,
    readonly max: number,
    readonly maxQueue: number,
    readonly acquireTimeoutMs: number,
  ) {}

  state(): PoolState {
    return { max: this.max, used: this.used, pending: this.queue.length, timeouts: this.timeouts };
  }

  private describe(): string {
    return `pool "${this.name}": ${this.used}/${this.max} connections in use, ${this.queue.length} waiting (queue limit ${this.maxQueue})`;
  }

  /** Resolve with a release function once a connection slot is free. */
  acquire(): Promise<() => void> {
    if (this.used < this.max && this.queue.length === 0) {
      this.used++;
      return Promise.resolve(this.releaser());
    }
    if (this.queue.length >= this.maxQueue) {
      this.timeouts++;
      return Promise.reject(
        new JeexDbError('POOL_TIMEOUT', `no database connection: the wait queue is full (${this.describe()})`, {
          hint: 'The database or the pool is overloaded: shed load, make the slow queries faster, or raise JEEX_DB_POOL_MAX (and PgBouncer\'s pool) together.',
          context: { ...this.state(), maxQueue: this.maxQueue },
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          this.used++;
          resolve(this.releaser());
        },
        fail: (error) => {
          clearTimeout(waiter.timer);
          reject(error);
        },
        timer: setTimeout(() => {
          // The state as this request saw it, itself still counted among the waiting.
          const seen = { ...this.state(), timeouts: this.timeouts + 1 };
          const described = this.describe();
          const index = this.queue.indexOf(waiter);
          if (index >= 0) this.queue.splice(index, 1);
          this.timeouts++;
          reject(
            new JeexDbError('POOL_TIMEOUT', `no database connection within ${this.acquireTimeoutMs} ms (${described})`, {
              hint: 'Every connection stayed busy: look for slow queries or long transactions (pg_stat_activity), or raise JEEX_DB_POOL_MAX / JEEX_DB_ACQUIRE_TIMEOUT.',
              context: { ...seen, acquireTimeoutMs: this.acquireTimeoutMs },
            }),
          );
        }, this.acquireTimeoutMs),
      };
      this.queue.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
      this.queue.shift()?.grant();
    };
  }

  /** Fail everyone still waiting: the pool is closing. */
  drain(): void {
    for (const waiter of this.queue.splice(0)) {
      waiter.fail(new JeexDbError('CONNECTION_FAILED', `the pool "${this.name}" was closed while this request waited`, { hint: 'Do not use a client after close().' }));
    }
  }
}

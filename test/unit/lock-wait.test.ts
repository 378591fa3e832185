import { describe, expect, it } from 'vitest';
import { backoff, type Blocker } from '../../src/migrate/execute.ts';
import { lockRetryLine, lockTimeoutHint, longestLockWaitMs } from '../../src/migrate/lock-wait.ts';
import { DEFAULT_TIMEOUTS } from '../../src/migrate/runner.ts';

// Issue 17, finding 4: the defaults were 5 s x 4 tries (writers stalled 5 s per try) and the
// failure hint advised a 30 s wait. These pin what replaced them; the integration test
// migrate-lock-stall.test.ts measures it against a real reader and writer.

const reader: Blocker = { pid: 4242, state: 'idle in transaction', applicationName: 'monthly-report', user: 'jeex_app', query: 'SELECT count(*) FROM events', transactionSeconds: 41 };

describe('lock-timeout defaults', () => {
  it('wait about 1 s per try (how long a writer may stall) and keep trying for 1 to 2 minutes', () => {
    expect(DEFAULT_TIMEOUTS.lockTimeoutMs).toBeLessThanOrEqual(1000);
    // The mean of full jitter is half the cap: the typical run, when the blocker never lets go.
    let typical = (DEFAULT_TIMEOUTS.retries + 1) * DEFAULT_TIMEOUTS.lockTimeoutMs;
    for (let retry = 0; retry < DEFAULT_TIMEOUTS.retries; retry++) typical += backoff(retry, DEFAULT_TIMEOUTS, () => 0.5);
    expect(typical).toBeGreaterThan(60_000);
    expect(typical).toBeLessThan(120_000);
    // The 40 s reader of the finding is outlasted even on an unlucky draw of every wait.
    const unlucky = (DEFAULT_TIMEOUTS.retries + 1) * DEFAULT_TIMEOUTS.lockTimeoutMs + Array.from({ length: DEFAULT_TIMEOUTS.retries }, (_, r) => backoff(r, DEFAULT_TIMEOUTS, () => 0.3)).reduce((a, b) => a + b, 0);
    expect(unlucky).toBeGreaterThan(40_000);
    expect(longestLockWaitMs(DEFAULT_TIMEOUTS)).toBeLessThan(150_000);
  });

  it('back off with full jitter: anywhere from 0 to a cap that doubles up to maxBackoffMs', () => {
    const caps = Array.from({ length: 8 }, (_, retry) => backoff(retry, DEFAULT_TIMEOUTS, () => 0.999_999));
    expect(caps).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    expect(backoff(3, DEFAULT_TIMEOUTS, () => 0)).toBe(0);
    // Two runners that failed together draw different waits: they do not retry in lock-step.
    let state = 1;
    const another = () => (state = (state * 16807) % 2147483647) / 2147483647;
    const first = Array.from({ length: 6 }, (_, retry) => backoff(retry, DEFAULT_TIMEOUTS));
    const second = Array.from({ length: 6 }, (_, retry) => backoff(retry, DEFAULT_TIMEOUTS, another));
    expect(first).not.toEqual(second);
  });
});

describe('lock-timeout messages', () => {
  it('a retry line says which try, the wait and the blocker', () => {
    expect(lockRetryLine('0007_add_source', 1, DEFAULT_TIMEOUTS, 1740, [reader])).toBe(
      '0007_add_source: lock timeout after 1s (try 2 of 16); blocked by pid 4242 (idle in transaction, monthly-report, in a transaction for 41s); next try in 1.7s',
    );
    expect(lockRetryLine('0007_add_source', 0, DEFAULT_TIMEOUTS, 200, [])).toContain('the blocker was gone when looked for');
  });

  it('the failure hint names the blocker, says writers were protected and never advises a long wait on a written table', () => {
    const hint = lockTimeoutHint([reader], 16, 1000);
    expect(hint).toContain('pid 4242 (idle in transaction, monthly-report');
    expect(hint).toContain('SELECT pg_terminate_backend(4242);');
    expect(hint).toContain('Writers were protected: each of the 16 tries gave up its lock request after 1s');
    expect(hint).toMatch(/--retries 30\b/);
    expect(hint).toMatch(/only for a table nobody writes to: .*every read and write of the table waits behind it/);
    expect(hint).not.toMatch(/30s/);
  });

  it('after a long lock_timeout (a file directive), the hint says what it cost the writers', () => {
    const hint = lockTimeoutHint([reader, { ...reader, pid: 4343 }], 3, 30_000);
    expect(hint).toContain('SELECT pg_terminate_backend(4242); SELECT pg_terminate_backend(4343);');
    expect(hint).toContain('Each of the 3 tries waited 30s for the lock, and every query on the table queued behind it that long');
    expect(hint).not.toMatch(/protected/);
    expect(lockTimeoutHint([], 1, 1000)).toMatch(/gone when it was looked for/);
  });
});

import { describe, expect, it } from 'vitest';
import { OperationWindow } from '../../src/db/operation-window.ts';

describe('OperationWindow', () => {
  it('gives the percentiles of the operations of the last window only', () => {
    let now = 0;
    const window = new OperationWindow(60_000, 1000, () => now);
    expect(window.stats()).toEqual({ count: 0, p50Ms: null, p95Ms: null, p99Ms: null, windowSeconds: 60 });
    for (let ms = 1; ms <= 100; ms++) window.record(ms);
    expect(window.stats()).toMatchObject({ count: 100, p50Ms: 50, p95Ms: 95, p99Ms: 99 });
    now = 30_000;
    window.record(1000);
    expect(window.stats()).toMatchObject({ count: 101, p99Ms: 100 });
    now = 60_001; // the first hundred are older than a minute now
    expect(window.stats()).toMatchObject({ count: 1, p50Ms: 1000, p95Ms: 1000 });
  });

  it('keeps at most its capacity: the oldest go first', () => {
    const window = new OperationWindow(60_000, 10, () => 0);
    for (let ms = 1; ms <= 25; ms++) window.record(ms);
    expect(window.stats()).toMatchObject({ count: 10, p50Ms: 20, p99Ms: 25 });
  });
});

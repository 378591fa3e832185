import { describe, expect, it } from 'vitest';
import { cached } from '../../src/serve/cached.ts';

describe('cached', () => {
  it('reuses a result inside the window and computes again after it', async () => {
    let clock = 0;
    let runs = 0;
    const value = cached(1000, () => Promise.resolve(++runs), () => clock);
    expect(await value()).toBe(1);
    clock = 999;
    expect(await value()).toBe(1);
    clock = 1000;
    expect(await value()).toBe(2);
  });

  it('fresh() computes a new result inside the window, and the next call reuses it', async () => {
    let runs = 0;
    const value = cached(60_000, () => Promise.resolve(++runs));
    expect(await value()).toBe(1);
    expect(await value.fresh()).toBe(2);
    expect(await value()).toBe(2);
  });

  it('one computation in flight: concurrent calls and fresh() share it', async () => {
    let runs = 0;
    let release: () => void = () => {};
    const value = cached(0, () => new Promise<number>((resolve) => (release = () => resolve(++runs))));
    const all = [value(), value.fresh(), value(), value.fresh()];
    release();
    expect(await Promise.all(all)).toEqual([1, 1, 1, 1]);
    expect(runs).toBe(1);
  });
});

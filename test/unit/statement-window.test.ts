import type { Sql } from 'postgres';
import { describe, expect, it } from 'vitest';
import { judgeWindow, type StatementRow } from '../../src/ops/health/statement-window.ts';

const row = (calls: number, totalMs: number, key = 'q'): StatementRow => ({ key, queryid: key, calls, totalMs, query: `SELECT ${key}` });
// The memory is keyed by the client object only.
const client = () => ({}) as Sql;

describe('slow statements over a window (judgeWindow)', () => {
  it('without an earlier snapshot the cumulative means are judged, and it says so', () => {
    const judged = judgeWindow(client(), [row(10, 6000)], 0, 60_000, 500);
    expect(judged).toMatchObject({ count: 1, basis: { kind: 'cumulative' }, slowest: [{ calls: 10, meanMs: 600 }] });
  });

  it('judges the calls since the snapshot closest to a window ago; slow calls leave the window and it passes', () => {
    const sql = client();
    judgeWindow(sql, [row(100, 1000)], 0, 60_000, 500); // fast so far: 10 ms mean
    // Two slow calls of 2 s each: the cumulative mean (49 ms) would hide them, the window does not.
    const slow = judgeWindow(sql, [row(102, 5000)], 10_000, 60_000, 500);
    expect(slow).toMatchObject({ count: 1, basis: { kind: 'window', seconds: 10 }, slowest: [{ calls: 2, meanMs: 2000 }] });
    // Fast calls only since then; a window later the slow ones are out, without a reset.
    judgeWindow(sql, [row(110, 5080)], 40_000, 60_000, 500);
    const later = judgeWindow(sql, [row(120, 5180)], 75_000, 60_000, 500);
    expect(later.basis).toEqual({ kind: 'window', seconds: 65 });
    expect(later.count).toBe(0);
  });

  it('a statement whose counters went down (reset, evicted) counts from zero', () => {
    const sql = client();
    judgeWindow(sql, [row(1000, 10_000)], 0, 1_000, 100);
    expect(judgeWindow(sql, [row(2, 400)], 2_000, 1_000, 100)).toMatchObject({ count: 1, slowest: [{ calls: 2, meanMs: 200 }] });
  });
});

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ExportFailureLog } from '../../src/ops/telemetry/export-failures.ts';

function logAt(clock: { now: number }) {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  const log = new ExportFailureLog({ logger: pino({ level: 'info' }, stream), target: 'http://otel:4318/v1/metrics', now: () => clock.now });
  return { log, lines };
}

describe('ExportFailureLog', () => {
  it('logs the first failure, then at most one line a minute with the count, and one line on recovery', () => {
    const clock = { now: Date.parse('2026-12-07T20:00:00Z') };
    const { log, lines } = logAt(clock);
    log.succeeded(); // nothing failed: nothing to say
    log.failed(new Error('connect ECONNREFUSED'));
    for (let i = 1; i <= 5; i++) {
      clock.now += 10_000;
      log.failed(new Error('connect ECONNREFUSED'));
    }
    expect(lines).toHaveLength(1);
    clock.now += 10_000; // 60 s after the first line
    log.failed(new Error('connect ECONNREFUSED'));
    expect(lines).toHaveLength(2);
    expect(lines[1]?.msg).toMatch(/still failing: 6 more failed exports in the last 60 s \(7 since 2026-12-07T20:00:00.000Z\)/);
    log.succeeded();
    log.succeeded();
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ level: 30 });
    expect(lines[2]?.msg).toMatch(/works again after 7 failed exports/);
    expect(log.failures).toBe(7);
    // A new streak is logged at once again.
    log.failed(undefined);
    expect(lines).toHaveLength(4);
    expect(lines[3]?.msg).toMatch(/failed: no reason given/);
  });

  it('counts without a logger', () => {
    const log = new ExportFailureLog({ target: 'x' });
    log.failed(new Error('boom'));
    log.failed(new Error('boom'));
    expect(log.failures).toBe(2);
  });
});

import { describe, expect, it } from 'vitest';
import { backoffDelay, backoffSchedule } from '../../src/core/backoff.ts';
import { sleep } from '../../src/core/sleep.ts';
import type { JeexDbError } from '../../src/core/errors.ts';
import { durationArg } from '../../src/cli/migration-flags.ts';
import { resolveDbConfig } from '../../src/db/config.ts';
import { parseDirectives } from '../../src/migrate/directives.ts';
import { parseSince } from '../../src/ops/audit/timeline.ts';
import { resolveRoleSettings } from '../../src/ops/roles/settings.ts';
import {
  formatDuration,
  invalidBoolean,
  invalidBytes,
  invalidDuration,
  parseBoolean,
  parseBytes,
  parseDuration,
} from '../../src/core/units.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe('the duration grammar', () => {
  it("reads PostgreSQL's time units, with or without a space, in any case", () => {
    expect(['500ms', '5s', '2min', '1h', '1d'].map((text) => parseDuration(text))).toEqual([500, 5000, 120_000, 3_600_000, 86_400_000]);
    expect(parseDuration(' 10 min ')).toBe(600_000);
    expect(parseDuration('5S')).toBe(5000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('0.5ms')).toBe(1);
  });

  it('takes a plain number in the unit the caller states, and refuses it when none is stated (but 0)', () => {
    expect(parseDuration('900', { defaultUnit: 's' })).toBe(900_000);
    expect(parseDuration('250', { defaultUnit: 'ms' })).toBe(250);
    expect(parseDuration('14', { defaultUnit: 'd' })).toBe(14 * 86_400_000);
    expect(parseDuration('900')).toBeUndefined();
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0', { defaultUnit: 'h' })).toBe(0);
  });

  it('refuses what is not one of those: other unit names, signs, exponents, empty text', () => {
    for (const text of ['soon', '1m', '5sec', '2 hours', '1w', '-5s', '+5s', '1e3ms', '5s5', '.5s', '', ' ', '5 s s', 'constructor', '1toString']) {
      expect(parseDuration(text, { defaultUnit: 's' }), text).toBeUndefined();
    }
    expect(parseDuration('9'.repeat(30) + 'd')).toBeUndefined();
  });

  it('writes milliseconds back in the largest whole unit, which it reads again', () => {
    const values = [900_000, 30_000, 1500, 0, 3_600_000, 86_400_000, 90_000];
    expect(values.map(formatDuration)).toEqual(['15min', '30s', '1500ms', '0', '1h', '1d', '90s']);
    for (const ms of values) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it('has one message for bad input, which names the source and says what is expected', () => {
    expect(invalidDuration('JEEX_IDLE_TIMEOUT', 'later', { defaultUnit: 's' })).toBe(
      'JEEX_IDLE_TIMEOUT must be a duration such as 500ms, 5s, 2min, 1h or 1d (a plain number is seconds), got "later"',
    );
    expect(invalidDuration('jeex:lock-timeout', '10')).toBe('jeex:lock-timeout must be a duration such as 500ms, 5s, 2min, 1h or 1d (units ms, s, min, h, d), got "10"');
    expect(invalidDuration('JEEX_X', '10 minutes', { defaultUnit: 'ms' })).toBe('JEEX_X must be a duration such as 500ms, 5s, 2min, 1h or 1d (a plain number is milliseconds), got "10 minutes"');
  });
});

describe('the boolean grammar', () => {
  it('reads true/false, 1/0, yes/no, on/off in any case, and nothing else', () => {
    for (const text of ['true', 'TRUE', '1', 'yes', 'Yes', 'on', ' ON ']) expect(parseBoolean(text), text).toBe(true);
    for (const text of ['false', 'False', '0', 'no', 'NO', 'off', 'Off ']) expect(parseBoolean(text), text).toBe(false);
    for (const text of ['', 'maybe', 'y', 'n', 't', 'f', '2', 'enabled', 'none']) expect(parseBoolean(text), text).toBeUndefined();
    expect(invalidBoolean('JEEX_DB_PREPARE', 'maybe')).toBe('JEEX_DB_PREPARE must be true or false (or 1/0, yes/no, on/off), got "maybe"');
  });
});

describe('the byte-size grammar', () => {
  it('reads sizes in powers of 1024, as PostgreSQL does', () => {
    expect(parseBytes('512MiB')).toBe(512 * MiB);
    expect(parseBytes('4GiB')).toBe(4 * GiB);
    expect(parseBytes('2gb')).toBe(2 * GiB);
    expect(parseBytes('1GB')).toBe(GiB);
    expect(parseBytes('64kB')).toBe(64 * 1024);
    expect(parseBytes('1.5 G')).toBe(1.5 * GiB);
    expect(parseBytes('1073741824')).toBe(GiB);
    for (const text of ['lots', '', '-1GB', '1 PB', '1e9']) expect(parseBytes(text), text).toBeUndefined();
    expect(invalidBytes('--memory', 'lots')).toMatch(/^--memory must be a size such as 512MiB.*got "lots"$/);
  });
});

describe('backoff', () => {
  it('grows by the factor from the first wait up to the cap', () => {
    expect(backoffSchedule(6, { initialMs: 50, maxMs: 1000 })).toEqual([50, 100, 200, 400, 800, 1000]);
    expect(backoffSchedule(4, { initialMs: 100, factor: 3 })).toEqual([100, 300, 900, 2700]);
    expect(backoffDelay(30, { initialMs: 1000, maxMs: 30_000 })).toBe(30_000);
    expect(backoffDelay(-1, { initialMs: 1000 })).toBe(1000);
  });

  it('spreads each wait at random within its bounds, the cap applying before the spread', () => {
    const at = (random: number, retry = 1) => backoffDelay(retry, { initialMs: 500, spread: [0.75, 1.25], random: () => random });
    expect([at(0), at(0.5), at(0.999_999)]).toEqual([750, 1000, 1250]);
    const seen = Array.from({ length: 200 }, () => backoffDelay(2, { initialMs: 500, spread: [0.75, 1.25] }));
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1500);
    expect(Math.max(...seen)).toBeLessThanOrEqual(2500);
    expect(new Set(seen).size).toBeGreaterThan(10);
    const capped = Array.from({ length: 200 }, () => backoffDelay(10, { initialMs: 50, maxMs: 1000, spread: [0.5, 1] }));
    expect(Math.min(...capped)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...capped)).toBeLessThanOrEqual(1000);
  });
});

describe('sleep', () => {
  it('waits the time asked, and ends at once (resolving) when its signal aborts', async () => {
    let began = performance.now();
    await sleep(60);
    expect(performance.now() - began).toBeGreaterThanOrEqual(55);

    const stop = new AbortController();
    began = performance.now();
    setTimeout(() => stop.abort(), 20);
    await expect(sleep(10_000, { signal: stop.signal })).resolves.toBeUndefined();
    expect(performance.now() - began).toBeLessThan(2000);
    await expect(sleep(10_000, { signal: stop.signal })).resolves.toBeUndefined();
    await expect(sleep(-5)).resolves.toBeUndefined();
  });
});

describe('one grammar everywhere', () => {
  const problemsOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (error) {
      return ((error as JeexDbError).context?.problems as string[] | undefined) ?? [(error as Error).message];
    }
    return [];
  };

  it('reads the same duration the same way in a directive, a flag, a variable and --since', () => {
    const directives = parseDirectives('-- jeex:lock-timeout 1.5min\n-- jeex:statement-timeout 2 h\nSELECT 1;');
    expect(directives).toMatchObject({ lockTimeoutMs: 90_000, statementTimeoutMs: 7_200_000, problems: [] });
    expect(durationArg('1.5min')).toBe(90_000);
    expect(durationArg('90')).toBe(90_000);
    expect(resolveRoleSettings({}, { JEEX_IDLE_TIMEOUT: '1.5min' }).idleSessionTimeoutMs).toBe(90_000);
    expect(resolveDbConfig({}, { DATABASE_URL: 'postgres://a@h/d', JEEX_DB_IDLE_TIMEOUT: '1.5min' }).idleTimeout).toBe(90);
    expect(parseSince('1.5min', new Date('2026-01-01T12:00:00Z')).toISOString()).toBe('2026-01-01T11:58:30.000Z');
  });

  it('refuses a bad duration with the same words in each of them', () => {
    const expected = 'must be a duration such as 500ms, 5s, 2min, 1h or 1d';
    expect(parseDirectives('-- jeex:lock-timeout soon').problems).toEqual([`line 1: jeex:lock-timeout ${expected} (units ms, s, min, h, d), got "soon"`]);
    // A directive has no default unit: `10` could be PostgreSQL's 10 ms or someone's 10 s.
    expect(parseDirectives('-- jeex:lock-timeout 10').problems).toHaveLength(1);
    expect(() => durationArg('soon')).toThrow(`expected a duration such as 500ms, 5s, 2min, 1h or 1d (a plain number is seconds)`);
    expect(problemsOf(() => resolveRoleSettings({ idleTimeout: 'soon' }, {}))).toEqual([`--idle-timeout ${expected} (a plain number is seconds), got "soon"`]);
    expect(problemsOf(() => resolveDbConfig({}, { DATABASE_URL: 'postgres://a@h/d', JEEX_DB_QUERY_TIMEOUT: 'soon' }))).toEqual([
      'JEEX_DB_QUERY_TIMEOUT must be a duration from 1ms to 1d (a plain number is milliseconds), got "soon"',
    ]);
  });

  it('reads the same booleans for JEEX_DB_PREPARE and JEEX_AUDIT_READS', () => {
    for (const [text, value] of [['yes', true], ['on', true], ['1', true], ['TRUE', true], ['no', false], ['off', false], ['0', false], ['False', false]] as const) {
      expect(resolveDbConfig({}, { DATABASE_URL: 'postgres://a@h/d', JEEX_DB_PREPARE: text }).prepare, text).toBe(value);
      expect(resolveRoleSettings({}, { JEEX_AUDIT_READS: text }).auditReads, text).toBe(value);
    }
    expect(problemsOf(() => resolveDbConfig({}, { DATABASE_URL: 'postgres://a@h/d', JEEX_DB_PREPARE: 'maybe' }))).toEqual([invalidBoolean('JEEX_DB_PREPARE', 'maybe')]);
    expect(problemsOf(() => resolveRoleSettings({}, { JEEX_AUDIT_READS: 'maybe' }))).toEqual([invalidBoolean('JEEX_AUDIT_READS', 'maybe')]);
  });
});

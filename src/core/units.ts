/**
 * The one grammar for durations, booleans and byte sizes, wherever a person writes one: flags,
 * environment variables, migration directives. PostgreSQL's own units, so what a person writes
 * for us is what they would write in postgresql.conf.
 *
 * Durations: a number (decimals allowed) and a unit, `ms`, `s`, `min`, `h` or `d`, with or
 * without a space: `500ms`, `5s`, `1.5min`, `2 h`, `7d`. Units are PostgreSQL's time units
 * (without `us`); case does not matter. Not `m` (minute or month?), not `sec`, `hours` and the
 * like, not negative values. A plain number is taken in the unit the caller states (a flag
 * documented in seconds reads `900` as 900 s); `0` is always zero. The result is whole
 * milliseconds (rounded).
 *
 * Booleans: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (as PostgreSQL reads a boolean
 * setting), case-insensitive, surrounding spaces ignored.
 *
 * Byte sizes: a number and a unit `B`, `k`/`kB`/`KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB`,
 * `T`/`TB`/`TiB`, case-insensitive. Every unit is a power of 1024, as in PostgreSQL's memory
 * settings (`shared_buffers = 1GB` is 1 GiB). A plain number is bytes.
 */
export type DurationUnit = 'ms' | 's' | 'min' | 'h' | 'd';

/** Milliseconds per unit. */
export const DURATION_UNITS: Readonly<Record<DurationUnit, number>> = Object.freeze({ ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 });

const UNIT_NAMES: Record<DurationUnit, string> = { ms: 'milliseconds', s: 'seconds', min: 'minutes', h: 'hours', d: 'days' };

export interface DurationOptions {
  /** The unit of a plain number (`900`). Unset: a plain number other than 0 is refused. */
  defaultUnit?: DurationUnit;
}

/**
 * A duration in milliseconds, or undefined when `text` is not one (see the module comment).
 *
 * @example
 * parseDuration('15min') // 900000
 * parseDuration('900', { defaultUnit: 's' }) // 900000
 * parseDuration('soon') // undefined
 */
export function parseDuration(text: string, options: DurationOptions = {}): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return undefined;
  const [, number = '', written = ''] = match;
  const unit = written === '' ? (Number(number) === 0 ? 'ms' : options.defaultUnit) : (written.toLowerCase() as DurationUnit);
  if (unit === undefined || !Object.hasOwn(DURATION_UNITS, unit)) return undefined;
  const ms = Math.round(Number(number) * DURATION_UNITS[unit]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * What a duration looks like, for messages: "a duration such as 500ms, 5s, 2min, 1h or 1d (a plain
 * number is seconds)".
 */
export function durationExpected(options: DurationOptions = {}): string {
  const plain = options.defaultUnit ? `a plain number is ${UNIT_NAMES[options.defaultUnit]}` : 'units ms, s, min, h, d';
  return `a duration such as 500ms, 5s, 2min, 1h or 1d (${plain})`;
}

/**
 * The one message for a value that is not a duration, naming where it came from.
 *
 * @example
 * invalidDuration('JEEX_IDLE_TIMEOUT', 'later', { defaultUnit: 's' })
 * // 'JEEX_IDLE_TIMEOUT must be a duration such as 500ms, 5s, 2min, 1h or 1d (a plain number is seconds), got "later"'
 */
export function invalidDuration(name: string, text: string, options: DurationOptions = {}): string {
  return `${name} must be ${durationExpected(options)}, got ${JSON.stringify(text)}`;
}

/**
 * Milliseconds as PostgreSQL writes a time setting, in the largest whole unit: `15min`, `30s`,
 * `1500ms`, `0`. The same value is always written the same way (so a role setting read back from
 * the server compares equal), and `parseDuration` reads it back.
 *
 * @example
 * formatDuration(900_000) // '15min'
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const unit of ['d', 'h', 'min', 's'] as const) {
    if (ms % DURATION_UNITS[unit] === 0) return `${ms / DURATION_UNITS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/**
 * `true`/`1`/`yes`/`on` -> true, `false`/`0`/`no`/`off` -> false (any case), else undefined.
 *
 * @example
 * parseBoolean('Yes') // true
 * parseBoolean('maybe') // undefined
 */
export function parseBoolean(text: string): boolean | undefined {
  const value = text.trim().toLowerCase();
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  return undefined;
}

/** What a boolean looks like, for messages. */
export const BOOLEAN_EXPECTED = 'true or false (or 1/0, yes/no, on/off)';

/**
 * The one message for a value that is not a boolean.
 *
 * @example
 * invalidBoolean('JEEX_DB_PREPARE', 'maybe') // 'JEEX_DB_PREPARE must be true or false (or 1/0, yes/no, on/off), got "maybe"'
 */
export function invalidBoolean(name: string, text: string): string {
  return `${name} must be ${BOOLEAN_EXPECTED}, got ${JSON.stringify(text)}`;
}

const BYTE_UNITS: Record<string, number> = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/**
 * A byte size (see the module comment), or undefined when `text` is not one. Fractions of a byte
 * are dropped.
 *
 * @example
 * parseBytes('512MiB') // 536870912
 * parseBytes('2GB') // 2147483648 (PostgreSQL's GB is 1024^3)
 */
export function parseBytes(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = (match[2] ?? 'b').toLowerCase()[0] ?? 'b';
  const bytes = Math.floor(Number(match[1]) * (BYTE_UNITS[unit] ?? 1));
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** What a byte size looks like, for messages. */
export const BYTES_EXPECTED = 'a size such as 512MiB, 4GiB or 50MB (units B, kB, MB, GB, TB, each a power of 1024; a plain number is bytes)';

/** The one message for a value that is not a byte size. */
export function invalidBytes(name: string, text: string): string {
  return `${name} must be ${BYTES_EXPECTED}, got ${JSON.stringify(text)}`;
}

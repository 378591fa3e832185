import { bytesProblem, charsProblem, jsonProblem, MAX_LIST_LIMIT, thousands } from '../../schema/input-bounds.ts';
import { JeexDbError } from '../../core/errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The checks of a query function's plain arguments (ids, lookups, limits, what an update sets),
 * size first, before anything is copied or sent: every problem is collected, then `check()`
 * throws one INVALID_INPUT naming them all, as `validate` does for zod-validated input.
 *
 * @example
 * params('export').uuid('id', id).bytes('filePath', filePath, MAX_FILE_PATH_BYTES).check();
 */
export class Params {
  readonly #what: string;
  readonly #problems: string[] = [];
  readonly #columns: string[] = [];

  constructor(what: string) {
    this.#what = what;
  }

  #add(name: string, problem: string | undefined): this {
    if (problem !== undefined) {
      this.#problems.push(`${name}: ${problem}`);
      this.#columns.push(name);
    }
    return this;
  }

  /** A UUID (the ids of every table): 36 characters, checked before the pattern. */
  uuid(name: string, value: unknown): this {
    return this.#add(name, typeof value === 'string' && value.length === 36 && UUID.test(value) ? undefined : 'must be a UUID such as 0190a4b1-3c2d-7e4f-8a5b-6c7d8e9f0a1b');
  }

  /** A text of `min`..`max` characters (code points). */
  chars(name: string, value: unknown, min: number, max: number): this {
    return this.#add(name, typeof value === 'string' ? charsProblem(value, min, max) : 'must be a string');
  }

  /** A text of at most `maxBytes` UTF-8 bytes; null and undefined pass when `nullable`. */
  bytes(name: string, value: unknown, maxBytes: number, nullable = false): this {
    if (nullable && (value === null || value === undefined)) return this;
    return this.#add(name, typeof value === 'string' ? bytesProblem(value, maxBytes) : 'must be a string');
  }

  /** A JSON value of at most `maxBytes` (see jsonProblem); undefined and null pass. */
  json(name: string, value: unknown, maxBytes: number): this {
    return this.#add(name, value === undefined || value === null ? undefined : jsonProblem(value, maxBytes));
  }

  /** One of the enum's values. */
  oneOf(name: string, value: unknown, allowed: readonly string[]): this {
    return this.#add(name, typeof value === 'string' && allowed.includes(value) ? undefined : `must be one of ${allowed.join(', ')}`);
  }

  /** How many rows a list returns: a whole number from 1 to MAX_LIST_LIMIT. */
  limit(name: string, value: unknown): this {
    return this.#add(name, Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= MAX_LIST_LIMIT ? undefined : `must be a whole number from 1 to ${thousands(MAX_LIST_LIMIT)}`);
  }

  /** A valid Date; undefined passes when `optional`. */
  date(name: string, value: unknown, optional = false): this {
    if (optional && value === undefined) return this;
    return this.#add(name, value instanceof Date && !Number.isNaN(value.getTime()) ? undefined : 'must be a valid Date');
  }

  /** Throw INVALID_INPUT naming every problem found (nothing is sent). */
  check(): void {
    if (this.#problems.length === 0) return;
    throw new JeexDbError('INVALID_INPUT', `invalid ${this.#what}:\n  - ${this.#problems.join('\n  - ')}`, {
      hint: 'Fix the arguments named above; nothing was sent to the database.',
      columns: [...new Set(this.#columns)],
      context: { problems: this.#problems },
    });
  }
}

/** Start checking the arguments of a call about `what` (`'user'`, `'project'`, ...). */
export const params = (what: string): Params => new Params(what);

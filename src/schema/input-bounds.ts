import { z } from 'zod';

// Size limits of what the library accepts, checked before anything copies, normalises, splits,
// hashes or matches the input: a 100 MB name used to be spread into an array of 100 million
// characters (40 s of blocked event loop, or a crash out of heap memory). A string's `.length`
// (UTF-16 code units) bounds both its characters (code points: at most `.length`, at least half)
// and its UTF-8 bytes (at least `.length`, at most 3 x), so most checks are O(1); the rest run on
// input already known to be small.

/** `document_versions.content`: a wizard document, in UTF-8 bytes. */
export const MAX_CONTENT_BYTES = 8 * 1024 * 1024;
/** An agent execution's input and output (`input_data`, `output_data`), as JSON. */
export const MAX_AGENT_DATA_BYTES = 8 * 1024 * 1024;
/** The other JSON objects (`metadata`, `profile_data`, `manifest`), as JSON. */
export const MAX_JSON_OBJECT_BYTES = 1024 * 1024;
/** Nesting of a JSON value (objects and arrays); deeper is refused (a value that contains itself is). */
export const MAX_JSON_DEPTH = 100;
/** `agent_executions.error_message`, in UTF-8 bytes. */
export const MAX_ERROR_MESSAGE_BYTES = 64 * 1024;
/** `exports.file_path`, in UTF-8 bytes (Linux's PATH_MAX). */
export const MAX_FILE_PATH_BYTES = 4096;
/** Rows a list may ask for at once. */
export const MAX_LIST_LIMIT = 10_000;

const LONE_SURROGATE =
  'holds a lone surrogate (half of a UTF-16 pair, e.g. text cut in the middle of an emoji), which would be stored as U+FFFD: send well-formed text';

/** 1,048,576: digits in groups of three (toLocaleString's first call costs ~30 ms of ICU set-up). */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** The code points of `value`, counted without copying (spreading a string allocates per character). */
function codePoints(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    // A high surrogate followed by a low one is one character.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/**
 * What is wrong with `value` as a text of `min`..`max` characters (code points, as PostgreSQL's
 * char_length counts), or undefined. Size first: more than `2 * max` UTF-16 units is refused
 * without looking at the characters.
 */
export function charsProblem(value: string, min: number, max: number): string | undefined {
  const range = `must be ${min} to ${max} characters long`;
  if (value.length > 2 * max) return `${range} (it has ${thousands(value.length)} UTF-16 code units)`;
  if (!value.isWellFormed()) return LONE_SURROGATE;
  const n = codePoints(value);
  return n < min || n > max ? range : undefined;
}

/** What is wrong with `value` as text of at most `maxBytes` UTF-8 bytes, or undefined. */
export function bytesProblem(value: string, maxBytes: number): string | undefined {
  const limit = `must be at most ${thousands(maxBytes)} bytes (UTF-8)`;
  if (value.length > maxBytes) return `${limit}; it has ${thousands(value.length)} UTF-16 code units, so at least as many bytes`;
  if (value.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > maxBytes) return `${limit}; it has ${thousands(bytes)}`;
  }
  return value.isWellFormed() ? undefined : LONE_SURROGATE;
}

/**
 * What is wrong with `value` as a JSON value of at most `maxBytes` (its JSON text in UTF-8,
 * escapes aside) and `MAX_JSON_DEPTH` levels, or undefined: walked once, stopping as soon as the
 * size is exceeded, without serialising or copying it. Also refused: strings or keys with a lone
 * surrogate, BigInts (JSON has none); the message names the offending member's path.
 */
export function jsonProblem(value: unknown, maxBytes: number): string | undefined {
  let size = 0;
  const path: (string | number)[] = [];
  // Keys are the caller's: each is cut short in a message (one may be most of the budget).
  const at = () => path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${part.length > 40 ? `${part.slice(0, 40)}…` : part}`)).join('');
  const tooBig = () => `must be at most ${thousands(maxBytes)} bytes as JSON; it is larger`;
  const text = (s: string, key = false): string | undefined => {
    size += s.length + 2;
    if (size > maxBytes) return tooBig();
    // Each UTF-16 unit is at most 3 bytes: count them only when that could cross the limit.
    if (size + 2 * s.length > maxBytes) {
      size += Buffer.byteLength(s, 'utf8') - s.length;
      if (size > maxBytes) return tooBig();
    }
    if (s.isWellFormed()) return undefined;
    // A broken key is not repeated in the message: its place is named by its parent.
    const where = at();
    return key ? `${where ? `${where}: ` : ''}a key ${LONE_SURROGATE}` : `${where ? `${where}: ` : ''}${LONE_SURROGATE}`;
  };
  const visit = (v: unknown, depth: number): string | undefined => {
    if (typeof v === 'string') return text(v);
    if (typeof v === 'number' || typeof v === 'boolean') {
      size += typeof v === 'boolean' ? (v ? 4 : 5) : Number.isFinite(v) ? String(v).length : 4;
      return size > maxBytes ? tooBig() : undefined;
    }
    if (typeof v === 'bigint') return `${at() || 'the value'} is a BigInt, which JSON cannot hold: send it as a string or number`;
    if (typeof v !== 'object' || v === null) {
      size += 4; // null (undefined, functions and symbols are left out or become null)
      return size > maxBytes ? tooBig() : undefined;
    }
    if (depth >= MAX_JSON_DEPTH) return `is nested deeper than ${MAX_JSON_DEPTH} levels (or contains itself)`;
    if (v instanceof Date) {
      size += 26;
      return size > maxBytes ? tooBig() : undefined;
    }
    if (ArrayBuffer.isView(v)) {
      // A Buffer becomes {"type":"Buffer","data":[...]}: at least two characters per byte.
      size += v.byteLength * 2;
      return size > maxBytes ? tooBig() : undefined;
    }
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return visit((toJSON as () => unknown).call(v), depth + 1);
    size += 2;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (i > 0) size += 1; // ','
        path.push(i);
        const problem = visit(v[i], depth + 1);
        path.pop();
        if (problem) return problem;
      }
      return size > maxBytes ? tooBig() : undefined;
    }
    // Listing an object's keys is O(keys) whatever the loop (V8 builds the list up front, for
    // for...in too, which is slower): the one walk that is not bounded by the budget, at the
    // cost the caller paid to build the object.
    let first = true;
    for (const key of Object.keys(v)) {
      size += first ? 1 : 2; // ':' (and ',')
      first = false;
      const keyProblem = text(key, true);
      if (keyProblem) return keyProblem;
      path.push(key);
      const problem = visit((v as Record<string, unknown>)[key], depth + 1);
      path.pop();
      if (problem) return problem;
    }
    return undefined;
  };
  return visit(value, 0);
}

// zod adapters. A check pushed with `continue: false` stops the checks after it (regexes,
// refinements), so they only ever see input that passed the size check.
type Payload = z.core.ParsePayload<unknown>;

function stopWith(payload: Payload, problem: string | undefined): void {
  if (problem !== undefined) payload.issues.push({ code: 'custom', message: problem, input: payload.value, path: [], continue: false });
}

/** A text of `min`..`max` characters, checked size first: `boundedChars(1, 255)(z.string())`. */
export const boundedChars =
  (min: number, max: number) =>
  <S extends z.ZodString>(schema: S): S =>
    schema.check((payload) => stopWith(payload, charsProblem(payload.value, min, max)));

/** A text of at most `maxBytes` UTF-8 bytes, checked size first. */
export const boundedBytes =
  (maxBytes: number) =>
  <S extends z.ZodString>(schema: S): S =>
    schema.check((payload) => stopWith(payload, bytesProblem(payload.value, maxBytes)));

/**
 * A UUID column's schema behind a length check: a UUID is 36 characters, and the format's regex
 * never sees a longer string (a string built by concatenation is flattened, i.e. copied, by the
 * first regex that reads it).
 */
export const boundedUuid = <S extends z.ZodType<unknown, string>>(schema: S) =>
  z.string().check((payload) => stopWith(payload, payload.value.length === 36 ? undefined : 'must be a UUID (36 characters)')).pipe(schema);

/** A check for a schema of any type: the value's JSON size and depth, before the type is parsed. */
export const jsonBound = (maxBytes: number) => (payload: Payload) => stopWith(payload, jsonProblem(payload.value, maxBytes));

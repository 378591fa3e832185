import { v7, validate, version } from 'uuid';

/**
 * A client-side UUIDv7: time-ordered and monotonic within this process, so a service
 * knows a row's id before the INSERT and ids sort in creation order.
 *
 * @example
 * const id = uuidv7(); // '019ab1c2-...'
 */
export function uuidv7(): string {
  return v7();
}

/** True when `value` is a syntactically valid UUID of version 7. */
export function isUuidv7(value: string): boolean {
  return validate(value) && version(value) === 7;
}

/** The Unix time in milliseconds encoded in the first 48 bits of a UUIDv7. */
export function uuidv7Timestamp(value: string): number {
  if (!isUuidv7(value)) throw new TypeError(`not a UUIDv7: ${value}`);
  return Number.parseInt(value.replaceAll('-', '').slice(0, 12), 16);
}

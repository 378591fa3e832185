import { JeexDbError } from '../core/errors.ts';
import type { ColumnCipher } from './column-cipher.ts';

/** A Drizzle database or transaction: both expose the relational schema object they share. */
export interface CipherHolder {
  readonly _: { readonly schema: object | undefined };
}

type Source = ColumnCipher | (() => ColumnCipher);

// Keyed by the relational config object that drizzle() builds once per client and hands to every
// transaction (and savepoint) it opens, so `createUser(tx, ...)` finds the client's cipher.
const ciphers = new WeakMap<object, Source>();

/** What a client and its transactions share: the key of per-client state (the cipher, its key check). */
export const keyOf = (db: CipherHolder): object => db._.schema ?? db;

/**
 * Give a Drizzle client the column cipher its user queries use (createDb does this); `cipher`
 * may be a function, called at the first use, so a client that never touches users needs no key.
 *
 * @example
 * const db = drizzle(sql, { schema });
 * attachCipher(db, () => loadColumnCipher(process.env));
 */
export function attachCipher(db: CipherHolder, cipher: Source): void {
  if (typeof cipher !== 'function') {
    ciphers.set(keyOf(db), cipher);
    return;
  }
  let resolved: ColumnCipher | undefined;
  // Resolved once; a failure (no key yet) is tried again at the next use.
  ciphers.set(keyOf(db), () => (resolved ??= cipher()));
}

/** The cipher of a client or transaction; ENCRYPTION_KEY_MISSING when it has none. */
export function cipherOf(db: CipherHolder): ColumnCipher {
  const source = ciphers.get(keyOf(db));
  if (source === undefined) {
    throw new JeexDbError('ENCRYPTION_KEY_MISSING', "this Drizzle client has no column cipher, so users' email and name cannot be read or written.", {
      hint: 'Make the client with createDb() (it reads JEEX_DATA_KEY and JEEX_BLIND_INDEX_KEY, or takes { keys }), or call attachCipher(db, loadColumnCipher()) on a client made with drizzle() and the jeex schema.',
    });
  }
  return typeof source === 'function' ? source() : source;
}

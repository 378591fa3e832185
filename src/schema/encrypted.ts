import { customType } from 'drizzle-orm/pg-core';
import { JeexDbError } from '../core/errors.ts';
import { Sealed } from '../crypto/sealed.ts';

/**
 * A text column holding values sealed by the column cipher (src/crypto/column-cipher.ts). Its
 * TypeScript type is `Sealed`, never `string`: writing plaintext through Drizzle is a type error,
 * and at run time anything but a `Sealed` is refused before it reaches the database. Reading
 * gives `Sealed` values; the query functions open them for the row they belong to.
 *
 * @example
 * email: encryptedText('email').notNull(),
 */
export const encryptedText = customType<{ data: Sealed; driverData: string }>({
  dataType: () => 'text',
  toDriver(value: Sealed): string {
    if (!Sealed.is(value)) {
      throw new JeexDbError('INVALID_INPUT', 'an encrypted column takes a sealed value, not plaintext: nothing was written.', {
        hint: "Write users' email and name through createUser() (or seal them with cipherOf(db).seal(text, 'users.email', id)).",
      });
    }
    return value.envelope;
  },
  fromDriver: (value: string): Sealed => Sealed.parse(value),
});

/** `bytea` as a Buffer: the blind index (key id and HMAC) of an encrypted column. */
export const blindIndexColumn = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
});

import { sql } from 'drizzle-orm';
import { check, jsonb, pgTable, timestamp, unique } from 'drizzle-orm/pg-core';
import { BLIND_INDEX_BYTES } from '../crypto/column-cipher.ts';
import { ENVELOPE_SQL_PATTERN } from '../crypto/sealed.ts';
import { id, timestamps } from './columns.ts';
import { blindIndexColumn, encryptedText } from './encrypted.ts';

// Email and name are personal data, encrypted by the application (SEC-001; src/crypto): the
// database holds only envelopes, so their format and length rules live in the validation schema
// (src/schema/validation.ts), and the CHECKs below refuse anything that is not an envelope, even
// from raw SQL.
const sealed = (column: unknown) => sql`${column} ~ ${sql.raw(`'${ENVELOPE_SQL_PATTERN}'`)}`;

export const users = pgTable(
  'users',
  {
    id: id(),
    email: encryptedText('email').notNull(),
    // The blind index of the email: key id (4 bytes) | HMAC-SHA-256 of the normalised email.
    emailHash: blindIndexColumn('email_hash').notNull(),
    name: encryptedText('name').notNull(),
    profileData: jsonb('profile_data').$type<Record<string, unknown>>().notNull().default({}),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true, precision: 3 }),
    ...timestamps,
  },
  (t) => [
    // Case-insensitive uniqueness (`A@x.io` and `a@x.io` are one user) and lookups by email:
    // the blind index is computed from the normalised (lower-cased) email.
    unique('users_email_hash_unique').on(t.emailHash),
    check('users_email_hash_length', sql`octet_length(${t.emailHash}) = ${sql.raw(String(BLIND_INDEX_BYTES))}`),
    check('users_email_sealed', sealed(t.email)),
    check('users_name_sealed', sealed(t.name)),
    check('users_profile_data_object', sql`jsonb_typeof(${t.profileData}) = 'object'`),
  ],
);

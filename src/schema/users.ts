import { sql } from 'drizzle-orm';
import { check, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { id, timestamps } from './columns.ts';

export const users = pgTable(
  'users',
  {
    id: id(),
    email: text('email').notNull(),
    name: text('name').notNull(),
    profileData: jsonb('profile_data').$type<Record<string, unknown>>().notNull().default({}),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true, precision: 3 }),
    ...timestamps,
  },
  (t) => [
    // Case-insensitive uniqueness: `A@x.io` and `a@x.io` are one user. Lookups use lower(email).
    uniqueIndex('users_email_unique').on(sql`lower(${t.email})`),
    check('users_email_format', sql`${t.email} ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND char_length(${t.email}) <= 320`),
    check('users_name_length', sql`char_length(${t.name}) BETWEEN 1 AND 255`),
    check('users_profile_data_object', sql`jsonb_typeof(${t.profileData}) = 'object'`),
  ],
);

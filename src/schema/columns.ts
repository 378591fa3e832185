import { sql } from 'drizzle-orm';
import { timestamp, uuid } from 'drizzle-orm/pg-core';
import { uuidv7 } from '../core/uuid.ts';

/**
 * Primary key: PostgreSQL 18's built-in `uuidv7()` on the server (for raw SQL inserts) and
 * a client-side UUIDv7 through Drizzle, so a service knows the id before the insert.
 */
export const id = () =>
  uuid('id')
    .primaryKey()
    .default(sql`uuidv7()`)
    .$defaultFn(() => uuidv7());

/**
 * `created_at` / `updated_at`; `updated_at` is kept current by a trigger (migration 0001).
 * Every timestamp has millisecond precision, what a JS Date holds, so a value read by a service
 * compares equal to the stored one (keyset pagination, optimistic checks on updated_at).
 */
export const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
};

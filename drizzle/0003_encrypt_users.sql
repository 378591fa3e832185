-- Users' email and name are encrypted by the application (SEC-001, AES-256-GCM envelopes made
-- by src/crypto/column-cipher.ts): the columns stay text but hold only `jx1.<key id>.<data>`
-- envelopes, which the CHECKs below enforce even for raw SQL. Their format and length rules
-- move to the validation schema, since the database cannot read ciphertext. Lookups and the
-- case-insensitive uniqueness of emails go through email_hash, a blind index (key id and
-- HMAC-SHA-256 of the normalised email) that replaces the unique index on lower(email).
--
-- Existing plaintext rows cannot be encrypted here: the keys are never in the database. This
-- package has no deployed data yet, so the migration refuses to run on a users table that has
-- rows rather than leave plaintext behind. To migrate real data one day: export the users,
-- apply this, and write them back through createUser() (or sealUser()) with the keys set.
--
-- jeex:lint-ignore adding-required-field users is empty (checked below under the lock), so the NOT NULL column without a default needs no backfill
-- jeex:lint-ignore disallowed-unique-constraint users is empty (checked below under the lock): building the unique index takes no time
-- jeex:lint-ignore require-concurrent-index-deletion users is empty and locked: dropping its index blocks nothing for longer than the lock this migration holds anyway
-- jeex:lint-ignore constraint-missing-not-valid users is empty (checked below under the lock): there are no rows to validate
LOCK TABLE "users" IN ACCESS EXCLUSIVE MODE;--> statement-breakpoint
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM "public"."users") THEN
    RAISE EXCEPTION 'users has rows with plaintext email and name, which SQL cannot encrypt (the keys are never in the database)'
      USING HINT = 'Export the users, delete them, apply this migration, then write them back through createUser() with JEEX_DATA_KEY and JEEX_BLIND_INDEX_KEY set.';
  END IF;
END
$$;--> statement-breakpoint
ALTER TABLE "users" DROP CONSTRAINT "users_email_format";--> statement-breakpoint
ALTER TABLE "users" DROP CONSTRAINT "users_name_length";--> statement-breakpoint
DROP INDEX "users_email_unique";--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "email_hash" "bytea" NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_email_hash_unique" UNIQUE("email_hash");--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_email_hash_length" CHECK (octet_length("users"."email_hash") = 36);--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_email_sealed" CHECK ("users"."email" ~ '^jx1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{38,}$');--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_name_sealed" CHECK ("users"."name" ~ '^jx1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{38,}$');
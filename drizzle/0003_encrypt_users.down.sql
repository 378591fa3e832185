-- Down migration for 0003_encrypt_users: email and name are plaintext columns again, with their
-- format and length CHECKs and the unique index on lower(email); the blind index is dropped.
--
-- Encrypted rows cannot be decrypted in SQL (the keys are never in the database), and the old
-- CHECKs would refuse their envelopes, so this refuses to run while users has rows: read them
-- through the application (getUser, with the keys set), delete them, roll back, write them back.
--
-- jeex:lint-ignore require-concurrent-index-creation users is empty (checked below under the lock): the index builds instantly
-- jeex:lint-ignore constraint-missing-not-valid users is empty (checked below under the lock): there are no rows to validate
LOCK TABLE "users" IN ACCESS EXCLUSIVE MODE;--> statement-breakpoint
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM "public"."users") THEN
    RAISE EXCEPTION 'users has rows whose email and name are encrypted, which SQL cannot decrypt (the keys are never in the database)'
      USING HINT = 'Export the users through the application (getUser with JEEX_DATA_KEY set), delete them, roll back, then write them back as plaintext.';
  END IF;
END
$$;--> statement-breakpoint
ALTER TABLE "users" DROP CONSTRAINT "users_email_hash_unique";--> statement-breakpoint
ALTER TABLE "users" DROP CONSTRAINT "users_email_hash_length";--> statement-breakpoint
ALTER TABLE "users" DROP CONSTRAINT "users_email_sealed";--> statement-breakpoint
ALTER TABLE "users" DROP CONSTRAINT "users_name_sealed";--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN "email_hash";--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_unique" ON "users" USING btree (lower("email"));--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_email_format" CHECK ("users"."email" ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND char_length("users"."email") <= 320);--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_name_length" CHECK (char_length("users"."name") BETWEEN 1 AND 255);

-- Down migration for 0000_init (drizzle/0000_init.sql), drafted by `jeex-db migrate generate-down`
-- from meta/0000_snapshot.json diffed in reverse against the empty schema, then reviewed:
--
-- - Everything 0000_init creates is dropped: the five tables (with their columns, constraints,
--   indexes and foreign keys) and the five enum types. Rolling it back deletes ALL application
--   data: take a backup first (`pg_dump`); the runner's restore point only helps where WAL is
--   archived.
-- - drizzle-kit's draft dropped each table with CASCADE. Reviewed: the tables are dropped in an
--   order in which nothing still references them (referencing tables first, users last) and
--   without CASCADE, so an object created outside the migrations that depends on them (a view,
--   a foreign key from another schema) makes the rollback fail instead of vanishing with them.
-- - 0001_updated_at_triggers must be rolled back first (rollback does that, newest first).

-- WARNING: irreversible: dropping table "agent_executions" loses every row in it
DROP TABLE "agent_executions";--> statement-breakpoint
-- WARNING: irreversible: dropping table "document_versions" loses every row in it
DROP TABLE "document_versions";--> statement-breakpoint
-- WARNING: irreversible: dropping table "exports" loses every row in it
DROP TABLE "exports";--> statement-breakpoint
-- WARNING: irreversible: dropping table "projects" loses every row in it
DROP TABLE "projects";--> statement-breakpoint
-- WARNING: irreversible: dropping table "users" loses every row in it
DROP TABLE "users";--> statement-breakpoint
-- WARNING: irreversible: dropping type "public"."document_type" removes it and its values; anything still using it must be dropped first
DROP TYPE "public"."document_type";--> statement-breakpoint
-- WARNING: irreversible: dropping type "public"."execution_status" removes it and its values; anything still using it must be dropped first
DROP TYPE "public"."execution_status";--> statement-breakpoint
-- WARNING: irreversible: dropping type "public"."export_format" removes it and its values; anything still using it must be dropped first
DROP TYPE "public"."export_format";--> statement-breakpoint
-- WARNING: irreversible: dropping type "public"."export_status" removes it and its values; anything still using it must be dropped first
DROP TYPE "public"."export_status";--> statement-breakpoint
-- WARNING: irreversible: dropping type "public"."project_status" removes it and its values; anything still using it must be dropped first
DROP TYPE "public"."project_status";

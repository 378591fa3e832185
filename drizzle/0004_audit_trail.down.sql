-- Down migration for 0003_audit_trail: the audit triggers, then the trail itself.
--
-- The audit history is deleted with the table: export it first if it must be kept
-- (e.g. COPY jeex_audit.changes TO a file, as a superuser). Data changes made after this runs
-- are no longer recorded; connection and statement logging (the server log) are unaffected.
DROP TRIGGER "exports_audit" ON "public"."exports";--> statement-breakpoint
DROP TRIGGER "agent_executions_audit" ON "public"."agent_executions";--> statement-breakpoint
DROP TRIGGER "document_versions_audit" ON "public"."document_versions";--> statement-breakpoint
DROP TRIGGER "projects_audit" ON "public"."projects";--> statement-breakpoint
DROP TRIGGER "users_audit" ON "public"."users";--> statement-breakpoint
DROP TABLE "jeex_audit"."changes";--> statement-breakpoint
DROP FUNCTION "jeex_audit"."refuse_change"();--> statement-breakpoint
DROP FUNCTION "jeex_audit"."record_change"();--> statement-breakpoint
DROP SCHEMA "jeex_audit";

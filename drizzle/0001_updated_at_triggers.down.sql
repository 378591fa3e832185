-- Down migration for 0001_updated_at_triggers: drop the triggers, then the functions they call
-- (newest first). No data is lost: updated_at keeps its values, and the application must set it
-- itself again; document versions are no longer protected against edits.
DROP TRIGGER "document_versions_append_only" ON "public"."document_versions";--> statement-breakpoint
DROP FUNCTION "public"."jeex_document_versions_append_only"();--> statement-breakpoint
DROP TRIGGER "exports_set_updated_at" ON "public"."exports";--> statement-breakpoint
DROP TRIGGER "agent_executions_set_updated_at" ON "public"."agent_executions";--> statement-breakpoint
DROP TRIGGER "document_versions_set_updated_at" ON "public"."document_versions";--> statement-breakpoint
DROP TRIGGER "projects_set_updated_at" ON "public"."projects";--> statement-breakpoint
DROP TRIGGER "users_set_updated_at" ON "public"."users";--> statement-breakpoint
DROP FUNCTION "public"."jeex_set_updated_at"();

-- Custom migration (drizzle-kit generate --custom): what Drizzle cannot model.
-- 1. updated_at is set by the server on every UPDATE, also for plain SQL.
-- 2. document_versions is append-only: the content of a version never changes.
CREATE FUNCTION "public"."jeex_set_updated_at"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := pg_catalog.now();
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "users_set_updated_at" BEFORE UPDATE ON "public"."users"
  FOR EACH ROW EXECUTE FUNCTION "public"."jeex_set_updated_at"();--> statement-breakpoint
CREATE TRIGGER "projects_set_updated_at" BEFORE UPDATE ON "public"."projects"
  FOR EACH ROW EXECUTE FUNCTION "public"."jeex_set_updated_at"();--> statement-breakpoint
CREATE TRIGGER "document_versions_set_updated_at" BEFORE UPDATE ON "public"."document_versions"
  FOR EACH ROW EXECUTE FUNCTION "public"."jeex_set_updated_at"();--> statement-breakpoint
CREATE TRIGGER "agent_executions_set_updated_at" BEFORE UPDATE ON "public"."agent_executions"
  FOR EACH ROW EXECUTE FUNCTION "public"."jeex_set_updated_at"();--> statement-breakpoint
CREATE TRIGGER "exports_set_updated_at" BEFORE UPDATE ON "public"."exports"
  FOR EACH ROW EXECUTE FUNCTION "public"."jeex_set_updated_at"();--> statement-breakpoint
CREATE FUNCTION "public"."jeex_document_versions_append_only"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed text;
BEGIN
  changed := CASE
    WHEN NEW.id IS DISTINCT FROM OLD.id THEN 'id'
    WHEN NEW.project_id IS DISTINCT FROM OLD.project_id THEN 'project_id'
    WHEN NEW.document_type IS DISTINCT FROM OLD.document_type THEN 'document_type'
    WHEN NEW.version IS DISTINCT FROM OLD.version THEN 'version'
    WHEN NEW.content IS DISTINCT FROM OLD.content THEN 'content'
    WHEN NEW.created_by IS DISTINCT FROM OLD.created_by THEN 'created_by'
    WHEN NEW.created_at IS DISTINCT FROM OLD.created_at THEN 'created_at'
  END;
  IF changed IS NOT NULL THEN
    RAISE EXCEPTION 'document versions are append-only: % cannot be changed', changed
      USING ERRCODE = 'integrity_constraint_violation',
            CONSTRAINT = 'document_versions_append_only',
            SCHEMA = TG_TABLE_SCHEMA,
            TABLE = TG_TABLE_NAME,
            COLUMN = changed,
            HINT = 'Append a new version instead of editing this one.';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "document_versions_append_only" BEFORE UPDATE ON "public"."document_versions"
  FOR EACH ROW EXECUTE FUNCTION "public"."jeex_document_versions_append_only"();

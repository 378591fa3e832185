CREATE SCHEMA "jeex_audit";
--> statement-breakpoint
CREATE TABLE "jeex_audit"."changes" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "jeex_audit"."changes_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"at" timestamp (3) with time zone DEFAULT clock_timestamp() NOT NULL,
	"table_name" text NOT NULL,
	"operation" text NOT NULL,
	"row_key" jsonb NOT NULL,
	"old_values" jsonb,
	"new_values" jsonb,
	"db_role" text NOT NULL,
	"session_role" text NOT NULL,
	"app_user" text,
	"client_addr" "inet",
	"application_name" text,
	"transaction_id" "xid8" NOT NULL,
	CONSTRAINT "changes_operation_known" CHECK ("jeex_audit"."changes"."operation" IN ('INSERT', 'UPDATE', 'DELETE'))
);
--> statement-breakpoint
CREATE INDEX "changes_at_brin_idx" ON "jeex_audit"."changes" USING brin ("at");--> statement-breakpoint
-- Hand-written below this line (drizzle-kit generate wrote the lines above from src/schema/audit.ts):
-- what Drizzle cannot model. Every data change to an application table is recorded in
-- jeex_audit.changes by a trigger; nobody but the owner may read the trail, and nobody at all
-- may change it (REQ-006.3, SEC-002).
--
-- 1. No privileges on the audit schema and table for PUBLIC (`roles apply` grants none to the
--    application roles either): rows arrive only through the trigger below.
REVOKE ALL ON SCHEMA "jeex_audit" FROM PUBLIC;--> statement-breakpoint
REVOKE ALL ON TABLE "jeex_audit"."changes" FROM PUBLIC;--> statement-breakpoint
-- 2. The trigger function. SECURITY DEFINER: it runs as its owner (the owner role), so the
--    application roles can write the trail through it without any privilege on the table, and
--    cannot call it any other way (a trigger function can only run as a trigger). search_path is
--    pinned so nothing the caller creates can stand in for a function it uses.
--    Arguments: the row's columns whose values never reach the trail (src/audit/redaction.ts
--    lists them; a test keeps the two equal). An UPDATE records only the columns that changed;
--    a redacted column that changed shows as "[redacted]" on both sides.
--    db_role: the role the statement ran as. current_user would name the owner (SECURITY
--    DEFINER), so it is the session's SET ROLE (the migrator's sessions run as the owner) or,
--    without one, the role that logged in.
--    app_user: the application's user, set by the service per transaction with
--    SET LOCAL jeex.app_user = '<user id>' (works through PgBouncer's transaction pooling).
CREATE FUNCTION "jeex_audit"."record_change"() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old_row jsonb;
  new_row jsonb;
  row_key jsonb;
  changed text[];
  col text;
BEGIN
  IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
  row_key := jsonb_build_object('id', coalesce(new_row, old_row) -> 'id');
  IF TG_OP = 'UPDATE' THEN
    SELECT coalesce(array_agg(n.key), '{}') INTO changed FROM jsonb_each(new_row) AS n WHERE n.value IS DISTINCT FROM old_row -> n.key;
    SELECT coalesce(jsonb_object_agg(o.key, o.value), '{}') INTO old_row FROM jsonb_each(old_row) AS o WHERE o.key = ANY (changed);
    SELECT coalesce(jsonb_object_agg(n.key, n.value), '{}') INTO new_row FROM jsonb_each(new_row) AS n WHERE n.key = ANY (changed);
  END IF;
  IF TG_NARGS > 0 THEN
    FOREACH col IN ARRAY TG_ARGV LOOP
      IF old_row -> col IS NOT NULL AND old_row -> col <> 'null'::jsonb THEN old_row := jsonb_set(old_row, ARRAY[col], '"[redacted]"'); END IF;
      IF new_row -> col IS NOT NULL AND new_row -> col <> 'null'::jsonb THEN new_row := jsonb_set(new_row, ARRAY[col], '"[redacted]"'); END IF;
    END LOOP;
  END IF;
  INSERT INTO jeex_audit.changes (table_name, operation, row_key, old_values, new_values, db_role, session_role, app_user, client_addr, application_name, transaction_id)
  VALUES (TG_TABLE_NAME, TG_OP, row_key, old_row, new_row,
          CASE current_setting('role') WHEN 'none' THEN session_user::text ELSE current_setting('role') END,
          session_user::text,
          nullif(current_setting('jeex.app_user', true), ''),
          inet_client_addr(),
          nullif(current_setting('application_name'), ''),
          pg_current_xact_id());
  RETURN NULL;
END
$$;--> statement-breakpoint
REVOKE ALL ON FUNCTION "jeex_audit"."record_change"() FROM PUBLIC;--> statement-breakpoint
-- 3. Append-only: UPDATE, DELETE and TRUNCATE of the trail are refused, whoever asks (the
--    application roles have no privilege to try; this stops the owner and superusers by
--    accident). Only the owner can drop the trigger, and that is DDL in the server log.
CREATE FUNCTION "jeex_audit"."refuse_change"() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only: % on %.% is refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          SCHEMA = TG_TABLE_SCHEMA,
          TABLE = TG_TABLE_NAME,
          HINT = 'Audit rows are never changed or removed. To keep less history, archive the rows elsewhere and drop the trail in a reviewed migration.';
END
$$;--> statement-breakpoint
REVOKE ALL ON FUNCTION "jeex_audit"."refuse_change"() FROM PUBLIC;--> statement-breakpoint
CREATE TRIGGER "changes_append_only" BEFORE UPDATE OR DELETE OR TRUNCATE ON "jeex_audit"."changes"
  FOR EACH STATEMENT EXECUTE FUNCTION "jeex_audit"."refuse_change"();--> statement-breakpoint
-- 4. The audited tables, each with its redacted columns: users' personal data (and, once it
--    exists, the email's blind index), document content and agent inputs/outputs (user content,
--    and large: the trail records that they changed, not what they say).
CREATE TRIGGER "users_audit" AFTER INSERT OR UPDATE OR DELETE ON "public"."users"
  FOR EACH ROW EXECUTE FUNCTION "jeex_audit"."record_change"('email', 'name', 'email_hash', 'profile_data');--> statement-breakpoint
CREATE TRIGGER "projects_audit" AFTER INSERT OR UPDATE OR DELETE ON "public"."projects"
  FOR EACH ROW EXECUTE FUNCTION "jeex_audit"."record_change"();--> statement-breakpoint
CREATE TRIGGER "document_versions_audit" AFTER INSERT OR UPDATE OR DELETE ON "public"."document_versions"
  FOR EACH ROW EXECUTE FUNCTION "jeex_audit"."record_change"('content');--> statement-breakpoint
CREATE TRIGGER "agent_executions_audit" AFTER INSERT OR UPDATE OR DELETE ON "public"."agent_executions"
  FOR EACH ROW EXECUTE FUNCTION "jeex_audit"."record_change"('input_data', 'output_data');--> statement-breakpoint
CREATE TRIGGER "exports_audit" AFTER INSERT OR UPDATE OR DELETE ON "public"."exports"
  FOR EACH ROW EXECUTE FUNCTION "jeex_audit"."record_change"();

-- jeex:lint-ignore prefer-bigint-over-int version, current_step, duration_ms and download_count are bounded counters, not keys: 2^31 is far beyond any of them (24 days of ms per agent run)
CREATE TYPE "public"."document_type" AS ENUM('about', 'specs', 'architecture', 'plan');--> statement-breakpoint
CREATE TYPE "public"."execution_status" AS ENUM('pending', 'running', 'completed', 'failed', 'needs_input', 'cancelled');--> statement-breakpoint
CREATE TYPE "public"."export_format" AS ENUM('markdown_zip', 'pdf');--> statement-breakpoint
CREATE TYPE "public"."export_status" AS ENUM('pending', 'processing', 'completed', 'failed', 'expired');--> statement-breakpoint
CREATE TYPE "public"."project_status" AS ENUM('draft', 'in_progress', 'completed', 'archived');--> statement-breakpoint
CREATE TABLE "agent_executions" (
	"id" uuid PRIMARY KEY DEFAULT uuidv7() NOT NULL,
	"project_id" uuid NOT NULL,
	"agent_type" text NOT NULL,
	"correlation_id" uuid NOT NULL,
	"input_data" jsonb,
	"output_data" jsonb,
	"status" "execution_status" DEFAULT 'pending' NOT NULL,
	"error_message" text,
	"started_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp (3) with time zone,
	"duration_ms" integer,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agent_executions_agent_type_format" CHECK ("agent_executions"."agent_type" ~ '^[a-z][a-z0-9_]{0,63}$'),
	CONSTRAINT "agent_executions_completed_after_started" CHECK ("agent_executions"."completed_at" >= "agent_executions"."started_at"),
	CONSTRAINT "agent_executions_completed_at_when_final" CHECK (("agent_executions"."status" IN ('completed', 'failed', 'cancelled')) = ("agent_executions"."completed_at" IS NOT NULL)),
	CONSTRAINT "agent_executions_duration_non_negative" CHECK ("agent_executions"."duration_ms" >= 0)
);
--> statement-breakpoint
CREATE TABLE "document_versions" (
	"id" uuid PRIMARY KEY DEFAULT uuidv7() NOT NULL,
	"project_id" uuid NOT NULL,
	"document_type" "document_type" NOT NULL,
	"version" integer NOT NULL,
	"content" text NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"readability_score" real,
	"grammar_score" real,
	"created_by" uuid NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "document_versions_project_type_version_unique" UNIQUE("project_id","document_type","version"),
	CONSTRAINT "document_versions_version_positive" CHECK ("document_versions"."version" >= 1),
	CONSTRAINT "document_versions_readability_score_range" CHECK ("document_versions"."readability_score" BETWEEN 0 AND 100),
	CONSTRAINT "document_versions_grammar_score_range" CHECK ("document_versions"."grammar_score" BETWEEN 0 AND 100),
	CONSTRAINT "document_versions_metadata_object" CHECK (jsonb_typeof("document_versions"."metadata") = 'object')
);
--> statement-breakpoint
CREATE TABLE "exports" (
	"id" uuid PRIMARY KEY DEFAULT uuidv7() NOT NULL,
	"project_id" uuid NOT NULL,
	"format" "export_format" NOT NULL,
	"status" "export_status" DEFAULT 'pending' NOT NULL,
	"file_path" text,
	"manifest" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"expires_at" timestamp (3) with time zone DEFAULT now() + interval '24 hours' NOT NULL,
	"download_count" integer DEFAULT 0 NOT NULL,
	"completed_at" timestamp (3) with time zone,
	"created_by" uuid NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "exports_download_count_non_negative" CHECK ("exports"."download_count" >= 0),
	CONSTRAINT "exports_completed_has_file" CHECK ("exports"."status" <> 'completed' OR ("exports"."file_path" IS NOT NULL AND "exports"."completed_at" IS NOT NULL)),
	CONSTRAINT "exports_manifest_object" CHECK (jsonb_typeof("exports"."manifest") = 'object')
);
--> statement-breakpoint
CREATE TABLE "projects" (
	"id" uuid PRIMARY KEY DEFAULT uuidv7() NOT NULL,
	"name" text NOT NULL,
	"status" "project_status" DEFAULT 'draft' NOT NULL,
	"current_step" integer DEFAULT 1 NOT NULL,
	"language" text DEFAULT 'en' NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_by" uuid NOT NULL,
	"deleted_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "projects_name_length" CHECK (char_length("projects"."name") BETWEEN 1 AND 255),
	CONSTRAINT "projects_current_step_range" CHECK ("projects"."current_step" BETWEEN 1 AND 4),
	CONSTRAINT "projects_language_tag" CHECK ("projects"."language" ~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
	CONSTRAINT "projects_metadata_object" CHECK (jsonb_typeof("projects"."metadata") = 'object')
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" uuid PRIMARY KEY DEFAULT uuidv7() NOT NULL,
	"email" text NOT NULL,
	"name" text NOT NULL,
	"profile_data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"last_login_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_email_format" CHECK ("users"."email" ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND char_length("users"."email") <= 320),
	CONSTRAINT "users_name_length" CHECK (char_length("users"."name") BETWEEN 1 AND 255),
	CONSTRAINT "users_profile_data_object" CHECK (jsonb_typeof("users"."profile_data") = 'object')
);
--> statement-breakpoint
ALTER TABLE "agent_executions" ADD CONSTRAINT "agent_executions_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "document_versions" ADD CONSTRAINT "document_versions_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "document_versions" ADD CONSTRAINT "document_versions_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "exports" ADD CONSTRAINT "exports_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "exports" ADD CONSTRAINT "exports_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "projects" ADD CONSTRAINT "projects_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "agent_executions_correlation_id_idx" ON "agent_executions" USING btree ("correlation_id");--> statement-breakpoint
CREATE INDEX "agent_executions_project_id_started_at_idx" ON "agent_executions" USING btree ("project_id","started_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "agent_executions_status_started_at_idx" ON "agent_executions" USING btree ("status","started_at");--> statement-breakpoint
CREATE INDEX "document_versions_created_by_idx" ON "document_versions" USING btree ("created_by");--> statement-breakpoint
CREATE INDEX "exports_project_id_created_at_idx" ON "exports" USING btree ("project_id","created_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "exports_expires_at_completed_idx" ON "exports" USING btree ("expires_at") WHERE "exports"."status" = 'completed';--> statement-breakpoint
CREATE INDEX "exports_created_by_idx" ON "exports" USING btree ("created_by");--> statement-breakpoint
CREATE INDEX "projects_created_by_status_updated_at_idx" ON "projects" USING btree ("created_by","status","updated_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_unique" ON "users" USING btree (lower("email"));
-- Down migration for 0002_deferred_author_fks: the two author foreign keys are checked
-- immediately again (NOT DEFERRABLE, as 0000_init created them).
--
-- Once this has run, deleting a user who wrote in their own project fails again (see the up
-- migration for why): roll back only together with code that does not delete such users.
ALTER TABLE "exports" ALTER CONSTRAINT "exports_created_by_users_id_fk" NOT DEFERRABLE INITIALLY IMMEDIATE;--> statement-breakpoint
ALTER TABLE "document_versions" ALTER CONSTRAINT "document_versions_created_by_users_id_fk" NOT DEFERRABLE INITIALLY IMMEDIATE;

-- Custom migration (drizzle-kit generate --custom): deferrable foreign keys, which Drizzle
-- cannot declare.
--
-- Deleting a user cascades to their projects and from there to the projects' versions and
-- exports. The author keys below (NO ACTION) must be checked after that cascade, or PostgreSQL,
-- which fires the checks in the order the constraints were created, refuses to delete any user
-- who wrote in their own project. Deferred to commit, they still refuse to delete a user who
-- wrote in someone else's project, whose history must survive.
ALTER TABLE "document_versions" ALTER CONSTRAINT "document_versions_created_by_users_id_fk" DEFERRABLE INITIALLY DEFERRED;--> statement-breakpoint
ALTER TABLE "exports" ALTER CONSTRAINT "exports_created_by_users_id_fk" DEFERRABLE INITIALLY DEFERRED;

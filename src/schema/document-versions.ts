import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, real, text, unique, uuid } from 'drizzle-orm/pg-core';
import { id, timestamps } from './columns.ts';
import { documentType } from './enums.ts';
import { projects } from './projects.ts';
import { users } from './users.ts';

/**
 * Append-only document history: an edit is a new row with the next version number. The
 * immutable columns are guarded by a trigger (migration 0001); scores and metadata may be
 * filled in later by reviewers.
 */
export const documentVersions = pgTable(
  'document_versions',
  {
    id: id(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    documentType: documentType('document_type').notNull(),
    version: integer('version').notNull(),
    content: text('content').notNull(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    readabilityScore: real('readability_score'),
    grammarScore: real('grammar_score'),
    // NO ACTION, DEFERRABLE INITIALLY DEFERRED (migration 0002; Drizzle cannot declare it):
    // deleting a user who wrote versions in someone else's project is refused, so that project's
    // history survives; versions in the user's own projects go with them. Deferred, because the
    // check must run after the cascade users -> projects -> versions, not before it.
    createdBy: uuid('created_by')
      .notNull()
      .references(() => users.id, { onDelete: 'no action' }),
    ...timestamps,
  },
  (t) => [
    // Serves both main reads (latest version per type: DISTINCT ON with version DESC, and the
    // history of one type) and makes two racing writers unable to take the same number.
    unique('document_versions_project_type_version_unique').on(t.projectId, t.documentType, t.version),
    // Serves the foreign key check when a user is deleted.
    index('document_versions_created_by_idx').on(t.createdBy),
    check('document_versions_version_positive', sql`${t.version} >= 1`),
    check('document_versions_readability_score_range', sql`${t.readabilityScore} BETWEEN 0 AND 100`),
    check('document_versions_grammar_score_range', sql`${t.grammarScore} BETWEEN 0 AND 100`),
    check('document_versions_metadata_object', sql`jsonb_typeof(${t.metadata}) = 'object'`),
  ],
);

import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { id, timestamps } from './columns.ts';
import { projectStatus } from './enums.ts';
import { users } from './users.ts';

/** BCP 47 language tag, e.g. `en`, `ru`, `pt-BR`, `zh-Hant-TW`. Shared with the validation schemas. */
export const languageTagPattern = '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$';

export const projects = pgTable(
  'projects',
  {
    id: id(),
    name: text('name').notNull(),
    status: projectStatus('status').notNull().default('draft'),
    currentStep: integer('current_step').notNull().default(1),
    language: text('language').notNull().default('en'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    // A project belongs to the user who created it: deleting the user deletes their projects
    // (and, through them, versions, executions and exports).
    createdBy: uuid('created_by')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    deletedAt: timestamp('deleted_at', { withTimezone: true, precision: 3 }),
    ...timestamps,
  },
  (t) => [
    // Main read: a user's projects by status, newest updated_at first (soft-deleted rows are
    // filtered on the few heap rows of one user). Not partial, so the leading created_by also
    // serves the ON DELETE CASCADE from users, which must find soft-deleted projects too.
    index('projects_created_by_status_updated_at_idx').on(t.createdBy, t.status, t.updatedAt.desc().nullsFirst()),
    check('projects_name_length', sql`char_length(${t.name}) BETWEEN 1 AND 255`),
    check('projects_current_step_range', sql`${t.currentStep} BETWEEN 1 AND 4`),
    check('projects_language_tag', sql`${t.language} ~ ${sql.raw(`'${languageTagPattern}'`)}`),
    check('projects_metadata_object', sql`jsonb_typeof(${t.metadata}) = 'object'`),
  ],
);

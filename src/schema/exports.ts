import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { id, timestamps } from './columns.ts';
import { exportFormat, exportStatus } from './enums.ts';
import { projects } from './projects.ts';
import { users } from './users.ts';

export const exports = pgTable(
  'exports',
  {
    id: id(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    format: exportFormat('format').notNull(),
    status: exportStatus('status').notNull().default('pending'),
    filePath: text('file_path'),
    manifest: jsonb('manifest').$type<Record<string, unknown>>().notNull().default({}),
    expiresAt: timestamp('expires_at', { withTimezone: true, precision: 3 })
      .notNull()
      .default(sql`now() + interval '24 hours'`),
    downloadCount: integer('download_count').notNull().default(0),
    completedAt: timestamp('completed_at', { withTimezone: true, precision: 3 }),
    // NO ACTION, DEFERRABLE INITIALLY DEFERRED, as for document versions (migration 0002): an
    // export made in another user's project keeps its author; exports of the user's own
    // projects go with those projects.
    createdBy: uuid('created_by')
      .notNull()
      .references(() => users.id, { onDelete: 'no action' }),
    ...timestamps,
  },
  (t) => [
    // A project's exports, newest first; also serves the cascade from projects.
    index('exports_project_id_created_at_idx').on(t.projectId, t.createdAt.desc().nullsFirst()),
    // The clean-up job: completed exports past expires_at. Partial, so it stays small.
    index('exports_expires_at_completed_idx').on(t.expiresAt).where(sql`${t.status} = 'completed'`),
    // Serves the foreign key check when a user is deleted.
    index('exports_created_by_idx').on(t.createdBy),
    check('exports_download_count_non_negative', sql`${t.downloadCount} >= 0`),
    check('exports_completed_has_file', sql`${t.status} <> 'completed' OR (${t.filePath} IS NOT NULL AND ${t.completedAt} IS NOT NULL)`),
    check('exports_manifest_object', sql`jsonb_typeof(${t.manifest}) = 'object'`),
  ],
);

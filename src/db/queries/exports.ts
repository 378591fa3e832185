import { and, asc, desc, eq, lt, sql } from 'drizzle-orm';
import { exports } from '../../schema/exports.ts';
import type { Export, NewExport } from '../../schema/types.ts';
import { insertExportSchema } from '../../schema/validation.ts';
import type { Database } from '../create-db.ts';
import { uuidv7 } from '../../core/uuid.ts';
import { cached, insertShape } from './prepared.ts';
import { MAX_FILE_PATH_BYTES } from '../../schema/input-bounds.ts';
import { params } from './params.ts';
import { one, run, validate } from './run.ts';

export type CreateExportInput = Pick<NewExport, 'id' | 'projectId' | 'format' | 'manifest' | 'createdBy' | 'expiresAt'>;

// Made once: zod 4 compiles a parser for each schema object on its first use (~150 µs).
const createExportSchema = insertExportSchema.pick({ id: true, projectId: true, format: true, manifest: true, createdBy: true, expiresAt: true });

/** Queue an export (status `pending`, expiring 24 hours from now unless `expiresAt` is given). */
export async function createExport(db: Database, input: CreateExportInput): Promise<Export> {
  const values = validate(createExportSchema, input, 'export');
  const { shape, placeholders, values: params } = insertShape({ ...values, id: values.id ?? uuidv7() });
  return run(async () =>
    one(
      await cached(db, `createExport:${shape}`, (d) => d.insert(exports).values(placeholders as unknown as NewExport).returning(), params),
      'the new export',
    ),
  );
}

/** Mark an export completed with the file it produced. */
export async function completeExport(db: Database, id: string, filePath: string): Promise<Export> {
  params('export').uuid('id', id).bytes('filePath', filePath, MAX_FILE_PATH_BYTES).check();
  return run(async () =>
    one(
      await db
        .update(exports)
        .set({ status: 'completed', filePath, completedAt: sql`now()` })
        .where(eq(exports.id, id))
        .returning(),
      `export ${id}`,
    ),
  );
}

/** Count a download atomically (no lost updates under concurrency). */
export async function recordExportDownload(db: Database, id: string): Promise<Export> {
  params('export').uuid('id', id).check();
  return run(async () =>
    one(
      await db
        .update(exports)
        .set({ downloadCount: sql`${exports.downloadCount} + 1` })
        .where(and(eq(exports.id, id), eq(exports.status, 'completed')))
        .returning(),
      `completed export ${id}`,
    ),
  );
}

/** A project's exports, newest first. */
export async function listProjectExports(db: Database, projectId: string, limit = 50): Promise<Export[]> {
  params('export list').uuid('projectId', projectId).limit('limit', limit).check();
  return run(() =>
    db.select().from(exports).where(eq(exports.projectId, projectId)).orderBy(desc(exports.createdAt)).limit(limit),
  );
}

/** Completed exports past `expires_at`, oldest first: what the clean-up job removes. */
export async function listExpiredExports(db: Database, options: { now?: Date; limit?: number } = {}): Promise<Export[]> {
  const checks = params('export list').date('now', options.now, true);
  if (options.limit !== undefined) checks.limit('limit', options.limit);
  checks.check();
  const now = options.now ?? sql`now()`;
  return run(() =>
    db
      .select()
      .from(exports)
      .where(and(eq(exports.status, 'completed'), lt(exports.expiresAt, now)))
      .orderBy(asc(exports.expiresAt))
      .limit(options.limit ?? 500),
  );
}

/** Mark an export expired once its file is gone. */
export async function expireExport(db: Database, id: string): Promise<Export> {
  params('export').uuid('id', id).check();
  return run(async () =>
    one(await db.update(exports).set({ status: 'expired' }).where(eq(exports.id, id)).returning(), `export ${id}`),
  );
}

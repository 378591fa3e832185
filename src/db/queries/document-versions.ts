import { and, asc, desc, eq, max, sql } from 'drizzle-orm';
import { documentVersions } from '../../schema/document-versions.ts';
import type { DocumentType, DocumentVersion, NewDocumentVersion } from '../../schema/types.ts';
import { insertDocumentVersionSchema } from '../../schema/validation.ts';
import type { Database } from '../create-db.ts';
import { JeexDbError } from '../errors.ts';
import { one, run, validate } from './run.ts';

/** Advisory-lock namespace (first key) for "the next version of one document". */
const VERSION_LOCK_NAMESPACE = 0x4a455856; // 'JEXV'

export type AppendDocumentVersionInput = Omit<NewDocumentVersion, 'version'> & {
  /**
   * The version the edit was based on (0 for the first). When given, the append fails with
   * `VERSION_CONFLICT` if someone else saved in the meantime (optimistic concurrency);
   * when left out, the edit simply becomes the next version.
   */
  expectedVersion?: number;
};

/**
 * Append the next version of a project's document. Writers of the same document are
 * serialized by a transaction-scoped advisory lock (safe behind PgBouncer in transaction
 * mode), and the unique (project_id, document_type, version) constraint backs it up: two
 * racing writers never get the same number.
 *
 * @example
 * const v = await appendDocumentVersion(db, { projectId, documentType: 'specs', content, createdBy });
 * v.version; // 1, 2, 3, ...
 */
export async function appendDocumentVersion(db: Database, input: AppendDocumentVersionInput): Promise<DocumentVersion> {
  const { expectedVersion, ...rest } = input;
  const values = validate(insertDocumentVersionSchema.omit({ version: true }), rest, 'document version');
  return run(() =>
    db.transaction(async (tx) => {
      const key = `${values.projectId}:${values.documentType}`;
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${VERSION_LOCK_NAMESPACE}, hashtext(${key}))`);
      const [latest] = await tx
        .select({ version: max(documentVersions.version) })
        .from(documentVersions)
        .where(and(eq(documentVersions.projectId, values.projectId), eq(documentVersions.documentType, values.documentType)));
      const current = latest?.version ?? 0;
      if (expectedVersion !== undefined && expectedVersion !== current) {
        throw new JeexDbError(
          'VERSION_CONFLICT',
          `the ${values.documentType} document is at version ${current}, not ${expectedVersion}: someone else saved first`,
          {
            table: 'document_versions',
            hint: `Reload version ${current}, merge your edit into it and append with expectedVersion ${current}.`,
            context: { currentVersion: current, expectedVersion },
          },
        );
      }
      return one(await tx.insert(documentVersions).values({ ...values, version: current + 1 }).returning(), 'the new version');
    }),
  );
}

/**
 * The latest version of each document type of a project, in wizard order. The per-type maxima
 * come from an index-only scan of the unique index; only those rows are fetched.
 */
export async function getLatestDocuments(db: Database, projectId: string): Promise<DocumentVersion[]> {
  const latest = db
    .select({ documentType: documentVersions.documentType, version: max(documentVersions.version) })
    .from(documentVersions)
    .where(eq(documentVersions.projectId, projectId))
    .groupBy(documentVersions.documentType);
  return run(() =>
    db
      .select()
      .from(documentVersions)
      .where(
        and(
          eq(documentVersions.projectId, projectId),
          sql`(${documentVersions.documentType}, ${documentVersions.version}) IN (${latest})`,
        ),
      )
      .orderBy(asc(documentVersions.documentType)),
  );
}

/** Every version of one document, newest first. */
export async function getDocumentHistory(
  db: Database,
  projectId: string,
  documentType: DocumentType,
  options: { limit?: number } = {},
): Promise<DocumentVersion[]> {
  return run(() =>
    db
      .select()
      .from(documentVersions)
      .where(and(eq(documentVersions.projectId, projectId), eq(documentVersions.documentType, documentType)))
      .orderBy(desc(documentVersions.version))
      .limit(options.limit ?? 100),
  );
}

/** Record review scores on a version (the only columns besides metadata that may change). */
export async function scoreDocumentVersion(
  db: Database,
  id: string,
  scores: { readabilityScore?: number | null; grammarScore?: number | null },
): Promise<DocumentVersion> {
  const values = validate(insertDocumentVersionSchema.pick({ readabilityScore: true, grammarScore: true }), scores, 'scores');
  return run(async () =>
    one(await db.update(documentVersions).set(values).where(eq(documentVersions.id, id)).returning(), `document version ${id}`),
  );
}

import { and, asc, desc, eq, isNull, max, sql } from 'drizzle-orm';
import { documentVersions } from '../../schema/document-versions.ts';
import { projects } from '../../schema/projects.ts';
import type { DocumentType, DocumentVersion, NewDocumentVersion, Project } from '../../schema/types.ts';
import { insertDocumentVersionSchema } from '../../schema/validation.ts';
import type { Database } from '../create-db.ts';
import { JeexDbError } from '../errors.ts';
import { cached } from './prepared.ts';
import { one, run, validate } from './run.ts';

// Derived schemas are made once: zod 4 compiles a parser for each schema object on its first use
// (~150 µs), so an `.omit()` per call would pay that on every call.
const appendSchema = insertDocumentVersionSchema.omit({ version: true });
const scoresSchema = insertDocumentVersionSchema.pick({ readabilityScore: true, grammarScore: true });

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
 * racing writers never get the same number. Four statements: BEGIN, the lock, the INSERT that
 * computes the number, COMMIT.
 *
 * @example
 * const v = await appendDocumentVersion(db, { projectId, documentType: 'specs', content, createdBy });
 * v.version; // 1, 2, 3, ...
 */
export async function appendDocumentVersion(db: Database, input: AppendDocumentVersionInput): Promise<DocumentVersion> {
  const { expectedVersion, ...rest } = input;
  const values = validate(appendSchema, rest, 'document version');
  return run(() =>
    db.transaction(async (tx) => {
      const key = `${values.projectId}:${values.documentType}`;
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${VERSION_LOCK_NAMESPACE}, hashtext(${key}))`);
      // The number is computed by the INSERT itself, a statement after the lock's: its snapshot
      // is taken once the lock is held, so it sees every version committed by earlier holders
      // (in the lock's own statement it would not). One round trip less than a SELECT first.
      const next = sql<number>`(SELECT coalesce(max(${documentVersions.version}), 0) + 1 FROM ${documentVersions} WHERE ${documentVersions.projectId} = ${values.projectId} AND ${documentVersions.documentType} = ${values.documentType})`;
      const saved = one(await tx.insert(documentVersions).values({ ...values, version: next }).returning(), 'the new version');
      const current = saved.version - 1;
      // Throwing here rolls the transaction back: the row just inserted is not kept.
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
      return saved;
    }),
  );
}

// Placeholders of the cached queries (see cached()).
const $projectId = sql.placeholder('projectId');

/** (document_type, max(version)) of each type of the project: an index-only scan of the unique index. */
const latestVersions = (db: Database) =>
  db
    .select({ documentType: documentVersions.documentType, version: max(documentVersions.version) })
    .from(documentVersions)
    .where(eq(documentVersions.projectId, $projectId))
    .groupBy(documentVersions.documentType);

/**
 * The latest version of each document type of a project, in wizard order. The per-type maxima
 * come from an index-only scan of the unique index; only those rows are fetched.
 */
export async function getLatestDocuments(db: Database, projectId: string): Promise<DocumentVersion[]> {
  return run(() =>
    cached(
      db,
      'getLatestDocuments',
      (d) =>
        d
          .select()
          .from(documentVersions)
          .where(and(eq(documentVersions.projectId, $projectId), sql`(${documentVersions.documentType}, ${documentVersions.version}) IN (${latestVersions(d)})`))
          .orderBy(asc(documentVersions.documentType)),
      { projectId },
    ),
  );
}

export interface ProjectWithDocuments {
  project: Project;
  /** The latest version of each document type, in wizard order (none for a new project). */
  documents: DocumentVersion[];
}

/**
 * A project with the latest version of each of its document types, in one statement (what
 * opening a project needs; `getProject` then `getLatestDocuments` is two round trips). Soft-deleted
 * projects only when `includeDeleted`; undefined when there is no such project.
 *
 * @example
 * const opened = await getProjectWithLatestDocuments(db, projectId);
 * opened?.documents.map((d) => `${d.documentType} v${d.version}`); // ['about v3', 'specs v1']
 */
export async function getProjectWithLatestDocuments(
  db: Database,
  projectId: string,
  options: { includeDeleted?: boolean } = {},
): Promise<ProjectWithDocuments | undefined> {
  const live = options.includeDeleted ? undefined : isNull(projects.deletedAt);
  const rows = await run(() =>
    cached(
      db,
      options.includeDeleted ? 'getProjectWithLatestDocuments:all' : 'getProjectWithLatestDocuments',
      (d) =>
        d
          .select({ project: projects, document: documentVersions })
          .from(projects)
          .leftJoin(
            documentVersions,
            and(eq(documentVersions.projectId, projects.id), sql`(${documentVersions.documentType}, ${documentVersions.version}) IN (${latestVersions(d)})`),
          )
          .where(and(eq(projects.id, $projectId), live))
          .orderBy(asc(documentVersions.documentType)),
      { projectId },
    ),
  );
  const first = rows[0];
  if (!first) return undefined;
  return { project: first.project, documents: rows.flatMap((row) => (row.document ? [row.document] : [])) };
}

/** Every version of one document, newest first. */
export async function getDocumentHistory(
  db: Database,
  projectId: string,
  documentType: DocumentType,
  options: { limit?: number } = {},
): Promise<DocumentVersion[]> {
  return run(() =>
    cached(
      db,
      'getDocumentHistory',
      (d) =>
        d
          .select()
          .from(documentVersions)
          .where(and(eq(documentVersions.projectId, $projectId), eq(documentVersions.documentType, sql.placeholder('documentType'))))
          .orderBy(desc(documentVersions.version))
          .limit(sql.placeholder('limit')),
      { projectId, documentType, limit: options.limit ?? 100 },
    ),
  );
}

/** Record review scores on a version (the only columns besides metadata that may change). */
export async function scoreDocumentVersion(
  db: Database,
  id: string,
  scores: { readabilityScore?: number | null; grammarScore?: number | null },
): Promise<DocumentVersion> {
  const values = validate(scoresSchema, scores, 'scores');
  return run(async () =>
    one(await db.update(documentVersions).set(values).where(eq(documentVersions.id, id)).returning(), `document version ${id}`),
  );
}

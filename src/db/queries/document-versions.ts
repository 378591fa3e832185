import { and, asc, desc, eq, isNull, max, sql } from 'drizzle-orm';
import { z } from 'zod';
import { documentType as documentTypes } from '../../schema/enums.ts';
import { documentVersions } from '../../schema/document-versions.ts';
import { projects } from '../../schema/projects.ts';
import type { DocumentType, DocumentVersion, NewDocumentVersion, Project } from '../../schema/types.ts';
import { insertDocumentVersionSchema } from '../../schema/validation.ts';
import type { Database } from '../create-db.ts';
import { isJeexDbError, JeexDbError } from '../../core/errors.ts';
import { uuidv7 } from '../../core/uuid.ts';
import { cached, insertShape } from './prepared.ts';
import { params } from './params.ts';
import { one, run, validate } from './run.ts';

// Derived schemas are made once: zod 4 compiles a parser for each schema object on its first use
// (~150 µs), so an `.omit()` per call would pay that on every call.
// expectedVersion is a version number (0 before the first): -1, 2.5 or NaN are refused as input,
// not answered with a VERSION_CONFLICT that no reload could resolve.
const appendSchema = insertDocumentVersionSchema.omit({ version: true }).extend({
  expectedVersion: z.number().int('must be a whole number').min(0, 'must be 0 (no version yet) or a version number').max(2_147_483_646).optional(),
});
const scoresSchema = insertDocumentVersionSchema.pick({ readabilityScore: true, grammarScore: true });

/** The next version of the document being appended, computed by the INSERT itself. */
const nextVersion = sql<number>`(SELECT coalesce(max(${documentVersions.version}), 0) + 1 FROM ${documentVersions} WHERE ${documentVersions.projectId} = ${sql.placeholder('projectId')} AND ${documentVersions.documentType} = ${sql.placeholder('documentType')})`;

/**
 * Attempts before an append without `expectedVersion` gives up. Each failed attempt means another
 * writer committed a version of the same document in the meantime, so this many only happen
 * under that many simultaneous writers of one document.
 */
const APPEND_ATTEMPTS = 100;

export type AppendDocumentVersionInput = Omit<NewDocumentVersion, 'version'> & {
  /**
   * The version the edit was based on (0 for the first). When given, the append fails with
   * `VERSION_CONFLICT` if someone else saved in the meantime (optimistic concurrency);
   * when left out, the edit simply becomes the next version.
   */
  expectedVersion?: number;
};

/**
 * Append the next version of a project's document. The unique (project_id, document_type,
 * version) constraint arbitrates between racing writers: the INSERT computes max + 1 itself and
 * skips on a conflict (`ON CONFLICT DO NOTHING`, which first waits for a writer still holding that
 * number to commit or roll back). Without `expectedVersion` a skipped insert tries again with the
 * new maximum: one statement, one round trip, no explicit transaction. With `expectedVersion`
 * the insert runs in a transaction that is rolled back when the number it got is not
 * `expectedVersion + 1`, and a skipped insert means someone saved first: `VERSION_CONFLICT`.
 * Two writers never get the same number and no number is skipped.
 *
 * Inside a caller's transaction it retries only under READ COMMITTED, where each statement sees
 * what committed before it; under REPEATABLE READ a conflict is a `SERIALIZATION_FAILURE`.
 *
 * @example
 * const v = await appendDocumentVersion(db, { projectId, documentType: 'specs', content, createdBy });
 * v.version; // 1, 2, 3, ...
 */
export async function appendDocumentVersion(db: Database, input: AppendDocumentVersionInput): Promise<DocumentVersion> {
  const id = input.id ?? uuidv7();
  return appendVersion(db, { ...input, id }).catch((error: unknown) => {
    throw isJeexDbError(error, 'WRITE_OUTCOME_UNKNOWN') ? appendOutcomeUnknown(error, id, input) : error;
  });
}

/** WRITE_OUTCOME_UNKNOWN of an append, saying how to find out whether the version was saved. */
function appendOutcomeUnknown(error: JeexDbError, id: string, input: AppendDocumentVersionInput): JeexDbError {
  const retry =
    input.expectedVersion === undefined
      ? 'or append again with expectedVersion (the version the edit was based on), which fails with VERSION_CONFLICT instead of saving it twice'
      : `or append again with the same expectedVersion (${input.expectedVersion}): it saves the version once, or fails with VERSION_CONFLICT when the first try was saved`;
  const next = `Before appending it again, read the document (getDocumentHistory or getLatestDocuments) and look for the version with id ${id}: there, it was saved; ${retry}.`;
  return new JeexDbError('WRITE_OUTCOME_UNKNOWN', `appending a version of the ${input.documentType} document (id ${id}): ${error.message.replace(/ Do not send it again.*$/, '')} ${next}`, {
    hint: next,
    table: 'document_versions',
    ...(error.sqlState ? { sqlState: error.sqlState } : {}),
    cause: error,
    context: { ...error.context, id, projectId: input.projectId, documentType: input.documentType, ...(input.expectedVersion !== undefined ? { expectedVersion: input.expectedVersion } : {}) },
  });
}

async function appendVersion(db: Database, input: AppendDocumentVersionInput & { id: string }): Promise<DocumentVersion> {
  const { expectedVersion, ...values } = validate(appendSchema, input, 'document version');
  const { shape, placeholders, values: params } = insertShape({ ...values, id: values.id ?? input.id });
  // Built once per client and shape (see cached()); the id is chosen here, once for every attempt.
  const insertNext = async (d: Database): Promise<DocumentVersion | undefined> => {
    const rows = await cached(
      d,
      `appendDocumentVersion:${shape}`,
      (q) =>
        q
          .insert(documentVersions)
          .values({ ...(placeholders as unknown as NewDocumentVersion), version: nextVersion })
          .onConflictDoNothing({ target: [documentVersions.projectId, documentVersions.documentType, documentVersions.version] })
          .returning(),
      params,
    );
    return rows[0];
  };
  if (expectedVersion === undefined) {
    return run(async () => {
      for (let attempt = 1; attempt <= APPEND_ATTEMPTS; attempt++) {
        const saved = await insertNext(db);
        if (saved) return saved;
      }
      throw new JeexDbError('VERSION_CONFLICT', `the ${values.documentType} document got ${APPEND_ATTEMPTS} other versions while this one was being appended`, {
        table: 'document_versions',
        hint: 'Too many writers of one document at once: retry later, or serialize them in the application.',
        context: { attempts: APPEND_ATTEMPTS },
      });
    });
  }
  return run(() =>
    db.transaction(async (tx) => {
      const saved = await insertNext(tx);
      const current = saved ? saved.version - 1 : await currentVersion(tx, values.projectId, values.documentType);
      // Throwing here rolls the transaction back: the row just inserted is not kept.
      if (!saved || expectedVersion !== current) {
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

/** The newest version number of one document (0 when it has none), as a new statement sees it. */
async function currentVersion(db: Database, projectId: string, documentType: DocumentType): Promise<number> {
  const [row] = await db
    .select({ version: max(documentVersions.version) })
    .from(documentVersions)
    .where(and(eq(documentVersions.projectId, projectId), eq(documentVersions.documentType, documentType)));
  return row?.version ?? 0;
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
  params('project').uuid('projectId', projectId).check();
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
  params('project').uuid('projectId', projectId).check();
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
  const checks = params('document history').uuid('projectId', projectId).oneOf('documentType', documentType, documentTypes.enumValues);
  if (options.limit !== undefined) checks.limit('limit', options.limit);
  checks.check();
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
  params('document version').uuid('id', id).check();
  const values = validate(scoresSchema, scores, 'scores');
  return run(async () =>
    one(await db.update(documentVersions).set(values).where(eq(documentVersions.id, id)).returning(), `document version ${id}`),
  );
}

import { and, desc, eq, isNull, lt, or, sql, type SQL } from 'drizzle-orm';
import { projects } from '../../schema/projects.ts';
import type { NewProject, Project, ProjectStatus } from '../../schema/types.ts';
import { insertProjectSchema } from '../../schema/validation.ts';
import type { Database } from '../create-db.ts';
import { cached } from './prepared.ts';
import { projectStatus } from '../../schema/enums.ts';
import { params } from './params.ts';
import { one, run, validate } from './run.ts';

export async function createProject(db: Database, input: NewProject): Promise<Project> {
  const values = validate(insertProjectSchema, input, 'project');
  return run(async () => one(await db.insert(projects).values(values).returning(), 'the new project'));
}

/** A project by id; soft-deleted projects only when `includeDeleted`. */
export async function getProject(db: Database, id: string, options: { includeDeleted?: boolean } = {}): Promise<Project | undefined> {
  params('project').uuid('id', id).check();
  const live = options.includeDeleted ? undefined : isNull(projects.deletedAt);
  const key = options.includeDeleted ? 'getProject:all' : 'getProject';
  return run(async () => (await cached(db, key, (d) => d.select().from(projects).where(and(eq(projects.id, sql.placeholder('id')), live)), { id }))[0]);
}

export interface ListProjectsOptions {
  status?: ProjectStatus;
  limit?: number;
  /** Keyset pagination: pass the last project of the previous page. */
  after?: Pick<Project, 'id' | 'updatedAt'>;
}

/**
 * A user's projects, newest `updated_at` first, soft-deleted ones left out.
 * Served by `projects_created_by_status_updated_at_idx`.
 */
export async function listUserProjects(db: Database, userId: string, options: ListProjectsOptions = {}): Promise<Project[]> {
  const checks = params('project list').uuid('userId', userId);
  if (options.status !== undefined) checks.oneOf('status', options.status, projectStatus.enumValues);
  if (options.limit !== undefined) checks.limit('limit', options.limit);
  if (options.after) checks.uuid('after.id', options.after.id).date('after.updatedAt', options.after.updatedAt);
  checks.check();
  const conditions: (SQL | undefined)[] = [eq(projects.createdBy, sql.placeholder('userId')), isNull(projects.deletedAt)];
  if (options.status) conditions.push(eq(projects.status, sql.placeholder('status')));
  if (options.after) {
    // A Date goes through the column's encoder, as a literal value would (the driver takes text).
    const [updatedAt, id] = [sql.param(sql.placeholder('afterUpdatedAt'), projects.updatedAt), sql.placeholder('afterId')];
    // Timestamps have millisecond precision (src/schema/columns.ts), so the Date a caller got
    // from the previous page compares equal to the stored value; ties are broken by id.
    conditions.push(or(lt(projects.updatedAt, updatedAt), and(eq(projects.updatedAt, updatedAt), lt(projects.id, id))));
  }
  const key = `listUserProjects${options.status ? ':status' : ''}${options.after ? ':after' : ''}`;
  const values = {
    userId,
    limit: options.limit ?? 50,
    ...(options.status ? { status: options.status } : {}),
    ...(options.after ? { afterUpdatedAt: options.after.updatedAt, afterId: options.after.id } : {}),
  };
  return run(() =>
    cached(
      db,
      key,
      (d) =>
        d
          .select()
          .from(projects)
          .where(and(...conditions))
          .orderBy(desc(projects.updatedAt), desc(projects.id))
          .limit(sql.placeholder('limit')),
      values,
    ),
  );
}

export type ProjectChanges = Partial<Pick<NewProject, 'name' | 'status' | 'currentStep' | 'language' | 'metadata'>>;

// Made once: zod 4 compiles a parser for each schema object on its first use (~150 µs).
const changesSchema = insertProjectSchema.pick({ name: true, status: true, currentStep: true, language: true, metadata: true }).partial();

/** Change a live project; `updated_at` is set by the database. */
export async function updateProject(db: Database, id: string, changes: ProjectChanges): Promise<Project> {
  params('project').uuid('id', id).check();
  const values = validate(changesSchema, changes, 'project changes');
  return run(async () =>
    one(
      await db.update(projects).set(values).where(and(eq(projects.id, id), isNull(projects.deletedAt))).returning(),
      `live project ${id}`,
    ),
  );
}

/** Soft delete: the project disappears from reads but keeps its rows until purged. */
export async function softDeleteProject(db: Database, id: string): Promise<Project> {
  params('project').uuid('id', id).check();
  return run(async () =>
    one(
      await db.update(projects).set({ deletedAt: sql`now()` }).where(and(eq(projects.id, id), isNull(projects.deletedAt))).returning(),
      `live project ${id}`,
    ),
  );
}

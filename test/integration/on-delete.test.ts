import type { Sql } from 'postgres';
import { describe, expect, it } from 'vitest';
import { deleteUser } from '../../src/db/queries/users.ts';
import { constraints } from '../../src/schema/constraints.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { refusal } from '../helpers/rejections.ts';
import { insertUser } from '../helpers/users.ts';

// The ON DELETE rules of data-model.md, exercised with plain SQL as the application role:
// a project takes its versions, executions and exports with it; a user takes their projects
// (and everything below); a user who wrote versions or exports in someone else's project
// cannot be deleted; a soft delete touches nothing.

const tables = ['users', 'projects', 'document_versions', 'agent_executions', 'exports'] as const;
type Counts = Record<(typeof tables)[number], number>;

let sequence = 0;

async function user(sql: Sql, name: string): Promise<string> {
  return insertUser(sql, { email: `${name.toLowerCase()}-${++sequence}@example.com`, name });
}

async function project(sql: Sql, owner: string, options: { softDeleted?: boolean } = {}): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO projects (name, created_by, deleted_at)
    VALUES (${`Project ${++sequence}`}, ${owner}, ${options.softDeleted ? sql`now()` : null}) RETURNING id`;
  return row!.id;
}

async function version(sql: Sql, projectId: string, author: string): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO document_versions (project_id, document_type, version, content, created_by)
    VALUES (${projectId}, 'about', ${++sequence}, '# About', ${author}) RETURNING id`;
  return row!.id;
}

async function execution(sql: Sql, projectId: string): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO agent_executions (project_id, agent_type, correlation_id) VALUES (${projectId}, 'architect', uuidv7()) RETURNING id`;
  return row!.id;
}

async function exportOf(sql: Sql, projectId: string, author: string): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO exports (project_id, format, created_by) VALUES (${projectId}, 'markdown_zip', ${author}) RETURNING id`;
  return row!.id;
}

describe('REQ-002: ON DELETE rules', () => {
  const t = useTestDatabase();

  /** Rows per table in this file's database (the superuser sees all of them). */
  async function counts(): Promise<Counts> {
    const result = {} as Counts;
    for (const table of tables) {
      const [row] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM ${t.admin(table)}`;
      result[table] = row!.n;
    }
    return result;
  }

  async function rowsOf(projectIds: string[]): Promise<Omit<Counts, 'users'>> {
    const [row] = await t.admin<Omit<Counts, 'users'>[]>`
      SELECT (SELECT count(*)::int FROM projects WHERE id IN ${t.admin(projectIds)}) AS projects,
             (SELECT count(*)::int FROM document_versions WHERE project_id IN ${t.admin(projectIds)}) AS document_versions,
             (SELECT count(*)::int FROM agent_executions WHERE project_id IN ${t.admin(projectIds)}) AS agent_executions,
             (SELECT count(*)::int FROM exports WHERE project_id IN ${t.admin(projectIds)}) AS exports`;
    return row!;
  }

  async function userExists(id: string): Promise<boolean> {
    const rows = await t.admin`SELECT 1 FROM users WHERE id = ${id}`;
    return rows.length === 1;
  }

  it("deleting a project deletes its document versions, executions and exports, and nothing of another project's", async () => {
    const sql = t.client.sql;
    const owner = await user(sql, 'Owner');
    const doomed = await project(sql, owner);
    const kept = await project(sql, owner);
    for (const p of [doomed, kept]) {
      await version(sql, p, owner);
      await version(sql, p, owner);
      await execution(sql, p);
      await execution(sql, p);
      await exportOf(sql, p, owner);
    }
    expect(await rowsOf([doomed])).toEqual({ projects: 1, document_versions: 2, agent_executions: 2, exports: 1 });
    const before = await counts();

    const deleted = await sql`DELETE FROM projects WHERE id = ${doomed}`;
    expect(deleted.count).toBe(1);

    expect(await rowsOf([doomed])).toEqual({ projects: 0, document_versions: 0, agent_executions: 0, exports: 0 });
    expect(await rowsOf([kept])).toEqual({ projects: 1, document_versions: 2, agent_executions: 2, exports: 1 });
    expect(await counts()).toEqual({
      users: before.users,
      projects: before.projects - 1,
      document_versions: before.document_versions - 2,
      agent_executions: before.agent_executions - 2,
      exports: before.exports - 1,
    });
  });

  it('deleting a user deletes their projects, soft-deleted ones too, and every row below them', async () => {
    const sql = t.client.sql;
    const owner = await user(sql, 'Leaving');
    const collaborator = await user(sql, 'Staying');
    const live = await project(sql, owner);
    const softDeleted = await project(sql, owner, { softDeleted: true });
    const collaboratorsOwn = await project(sql, collaborator);
    for (const p of [live, softDeleted, collaboratorsOwn]) {
      // Written by the collaborator: see the next test for rows the owner wrote.
      await version(sql, p, collaborator);
      await execution(sql, p);
      await exportOf(sql, p, collaborator);
    }
    const before = await counts();

    const deleted = await sql`DELETE FROM users WHERE id = ${owner}`;
    expect(deleted.count).toBe(1);

    expect(await userExists(owner)).toBe(false);
    expect(await rowsOf([live, softDeleted])).toEqual({ projects: 0, document_versions: 0, agent_executions: 0, exports: 0 });
    expect(await userExists(collaborator)).toBe(true);
    expect(await rowsOf([collaboratorsOwn])).toEqual({ projects: 1, document_versions: 1, agent_executions: 1, exports: 1 });
    expect(await counts()).toEqual({
      users: before.users - 1,
      projects: before.projects - 2,
      document_versions: before.document_versions - 2,
      agent_executions: before.agent_executions - 2,
      exports: before.exports - 2,
    });
  });

  // Migration 0002 makes the author keys DEFERRABLE INITIALLY DEFERRED: without it PostgreSQL
  // fires their NO ACTION checks (in creation order) before the cascade users -> projects and
  // refuses this delete with document_versions_created_by_users_id_fk.
  it('deleting a user also deletes the versions and exports they wrote in their own projects', async () => {
    const sql = t.client.sql;
    const owner = await user(sql, 'Author');
    const own = await project(sql, owner);
    await version(sql, own, owner);
    await execution(sql, own);
    await exportOf(sql, own, owner);
    const before = await counts();

    const deleted = await sql`DELETE FROM users WHERE id = ${owner}`;
    expect(deleted.count).toBe(1);

    expect(await rowsOf([own])).toEqual({ projects: 0, document_versions: 0, agent_executions: 0, exports: 0 });
    expect(await counts()).toEqual({
      users: before.users - 1,
      projects: before.projects - 1,
      document_versions: before.document_versions - 1,
      agent_executions: before.agent_executions - 1,
      exports: before.exports - 1,
    });
  });

  const refusedCases = [
    {
      what: "a document version in another user's project",
      constraint: 'document_versions_created_by_users_id_fk',
      table: 'document_versions',
      write: (sql: Sql, otherProject: string, author: string) => version(sql, otherProject, author),
    },
    {
      what: "an export of another user's project",
      constraint: 'exports_created_by_users_id_fk',
      table: 'exports',
      write: (sql: Sql, otherProject: string, author: string) => exportOf(sql, otherProject, author),
    },
  ];

  it.each(refusedCases)('deleting a user who made $what is refused, and nothing is deleted', async (c) => {
    const sql = t.client.sql;
    const owner = await user(sql, 'Owner');
    const ownersProject = await project(sql, owner);
    const contributor = await user(sql, 'Contributor');
    await c.write(sql, ownersProject, contributor);
    // The contributor's own project has rows too: the refused delete must not take them.
    const contributorsProject = await project(sql, contributor);
    await version(sql, contributorsProject, owner);
    await execution(sql, contributorsProject);
    await exportOf(sql, contributorsProject, owner);
    const before = await counts();
    const contributorsRows = await rowsOf([contributorsProject]);
    expect(contributorsRows).toEqual({ projects: 1, document_versions: 1, agent_executions: 1, exports: 1 });

    const error = await refusal(sql`DELETE FROM users WHERE id = ${contributor}`);

    const info = constraints[c.constraint];
    expect(info?.onParentDelete).toBeDefined();
    expect(error.code).toBe('FOREIGN_KEY_VIOLATION');
    expect(error.constraint).toBe(c.constraint);
    expect(error.table).toBe(c.table);
    expect(error.columns).toEqual(['created_by']);
    expect(error.message).toBe(`${c.constraint}: ${info?.onParentDelete}`);
    expect(error.hint).toBe(info?.hint);

    expect(await userExists(contributor)).toBe(true);
    expect(await rowsOf([contributorsProject])).toEqual(contributorsRows);
    expect(await counts()).toEqual(before);

    // The package's own deleteUser() reports the same, through Drizzle.
    const viaQuery = await refusal(deleteUser(t.client.db, contributor));
    expect(viaQuery.code).toBe('FOREIGN_KEY_VIOLATION');
    expect(viaQuery.message).toBe(error.message);
    expect(await counts()).toEqual(before);
  });

  it('soft-deleting a project (deleted_at) deletes nothing', async () => {
    const sql = t.client.sql;
    const owner = await user(sql, 'Soft');
    const p = await project(sql, owner);
    await version(sql, p, owner);
    await execution(sql, p);
    await exportOf(sql, p, owner);
    const before = await counts();

    const updated = await sql`UPDATE projects SET deleted_at = now() WHERE id = ${p}`;
    expect(updated.count).toBe(1);

    const [row] = await t.admin<{ deleted: boolean }[]>`SELECT deleted_at IS NOT NULL AS deleted FROM projects WHERE id = ${p}`;
    expect(row?.deleted).toBe(true);
    expect(await rowsOf([p])).toEqual({ projects: 1, document_versions: 1, agent_executions: 1, exports: 1 });
    expect(await userExists(owner)).toBe(true);
    expect(await counts()).toEqual(before);
  });
});

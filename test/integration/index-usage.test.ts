import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/create-db.ts';
import {
  listExecutionsByCorrelation,
  listExecutionsByStatus,
  listRecentExecutions,
} from '../../src/db/queries/agent-executions.ts';
import { getDocumentHistory, getLatestDocuments, getProjectWithLatestDocuments } from '../../src/db/queries/document-versions.ts';
import { listExpiredExports, listProjectExports } from '../../src/db/queries/exports.ts';
import { listUserProjects } from '../../src/db/queries/projects.ts';
import { findUserByEmail } from '../../src/db/queries/users.ts';
import * as schema from '../../src/schema/index.ts';
import { attachCipher } from '../../src/crypto/db-cipher.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { emailHash, rawUser, testCipher } from '../helpers/users.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** Every node of a plan tree, depth first. */
function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

const BIG_TABLES = ['users', 'projects', 'document_versions', 'agent_executions', 'exports'];

// The main reads must be served by their indexes at a realistic size (and with statistics),
// not by scanning whole tables. The SQL explained is exactly what the query functions send:
// a Drizzle client with a logger records it while the function runs as the application role.
describe('indexes serve the main reads', () => {
  const t = useTestDatabase();
  let traced: Database;
  const recorded: { query: string; params: unknown[] }[] = [];
  const ids = {} as {
    userId: string;
    userEmail: string;
    userStatus: schema.ProjectStatus;
    projectWithDocs: string;
    projectWithExecutions: string;
    correlationId: string;
    projectWithExports: string;
  };

  beforeAll(async () => {
    // Users are sealed by the application: made here, sent as arrays.
    const seedUsers = Array.from({ length: 2000 }, (_, i) => rawUser(`seed${i + 1}@example.com`, `Seed user ${i + 1}`));
    await t.admin.begin(async (sql) => {
      await sql`
        INSERT INTO users (id, email, email_hash, name)
        SELECT id, email, decode(hash, 'hex'), name
        FROM unnest(${seedUsers.map((u) => u.id)}::uuid[], ${seedUsers.map((u) => u.email)}::text[],
                    ${seedUsers.map((u) => u.email_hash.toString('hex'))}::text[], ${seedUsers.map((u) => u.name)}::text[]) AS s(id, email, hash, name)`;
      await sql`
        CREATE TEMP TABLE seed_users ON COMMIT DROP AS
        SELECT id, row_number() OVER (ORDER BY id) AS n FROM users`;
      await sql`
        INSERT INTO projects (name, status, current_step, created_by, updated_at, deleted_at)
        SELECT 'Seed project ' || i,
               (ARRAY['draft', 'in_progress', 'completed', 'archived'])[1 + (i / 7) % 4]::project_status,
               1 + i % 4,
               u.id,
               now() - i * interval '1 minute',
               CASE WHEN i % 10 = 0 THEN now() END
        FROM generate_series(1, 5000) AS i JOIN seed_users u ON u.n = 1 + i % 2000`;
      await sql`
        CREATE TEMP TABLE seed_projects ON COMMIT DROP AS
        SELECT id, created_by, row_number() OVER (ORDER BY id) AS n FROM projects`;
      // 1 000 projects x 4 document types x 5 versions = 20 000 versions.
      await sql`
        INSERT INTO document_versions (project_id, document_type, version, content, created_by)
        SELECT p.id, t.type, v, repeat('markdown ', 50), p.created_by
        FROM seed_projects p
        CROSS JOIN unnest(enum_range(NULL::document_type)) AS t(type)
        CROSS JOIN generate_series(1, 5) AS v
        WHERE p.n <= 1000`;
      // 20 000 executions in requests of 4; 50 still running, the rest completed.
      await sql`
        INSERT INTO agent_executions (project_id, agent_type, correlation_id, status, started_at, completed_at, duration_ms)
        SELECT p.id,
               (ARRAY['product_manager', 'architect', 'planner', 'reviewer'])[1 + i % 4],
               md5('request ' || (i / 4))::uuid,
               CASE WHEN i % 400 = 0 THEN 'running' ELSE 'completed' END::execution_status,
               now() - i * interval '1 minute',
               CASE WHEN i % 400 = 0 THEN NULL ELSE now() - i * interval '1 minute' + interval '2 seconds' END,
               CASE WHEN i % 400 = 0 THEN NULL ELSE 2000 END
        FROM generate_series(1, 20000) AS i JOIN seed_projects p ON p.n = 1 + i % 5000`;
      // 5 000 exports: half pending, half completed; 50 of the completed ones have expired.
      await sql`
        INSERT INTO exports (project_id, format, status, file_path, expires_at, completed_at, created_by)
        SELECT p.id,
               (ARRAY['markdown_zip', 'pdf'])[1 + i % 2]::export_format,
               CASE WHEN i % 2 = 0 THEN 'completed' ELSE 'pending' END::export_status,
               CASE WHEN i % 2 = 0 THEN '/exports/' || i || '.zip' END,
               CASE WHEN i % 100 = 0 THEN now() - i * interval '1 minute' ELSE now() + interval '1 day' + i * interval '1 second' END,
               CASE WHEN i % 2 = 0 THEN now() - interval '2 days' END,
               p.created_by
        FROM generate_series(1, 5000) AS i JOIN seed_projects p ON p.n = 1 + i % 5000`;
    });
    await t.admin`ANALYZE`;

    const [counts] = await t.admin<Record<string, number>[]>`
      SELECT (SELECT count(*)::int FROM users) AS users,
             (SELECT count(*)::int FROM projects) AS projects,
             (SELECT count(*)::int FROM document_versions) AS document_versions,
             (SELECT count(*)::int FROM agent_executions) AS agent_executions,
             (SELECT count(*)::int FROM exports) AS exports`;
    expect(counts).toEqual({ users: 2000, projects: 5000, document_versions: 20000, agent_executions: 20000, exports: 5000 });

    const [pick] = await t.admin<(typeof ids)[]>`
      SELECT (SELECT id FROM users WHERE email_hash = ${emailHash('seed42@example.com')}) AS "userId",
             'SEED42@Example.com' AS "userEmail",
             (SELECT p.status FROM projects p JOIN users u ON u.id = p.created_by
              WHERE u.email_hash = ${emailHash('seed42@example.com')} AND p.deleted_at IS NULL LIMIT 1) AS "userStatus",
             (SELECT project_id FROM document_versions ORDER BY id LIMIT 1) AS "projectWithDocs",
             (SELECT project_id FROM agent_executions ORDER BY id LIMIT 1) AS "projectWithExecutions",
             (SELECT correlation_id FROM agent_executions ORDER BY id OFFSET 100 LIMIT 1) AS "correlationId",
             (SELECT project_id FROM exports ORDER BY id LIMIT 1) AS "projectWithExports"`;
    Object.assign(ids, pick);

    traced = drizzle(t.client.sql, {
      schema,
      logger: { logQuery: (query, params) => void recorded.push({ query, params }) },
    });
    attachCipher(traced, testCipher());
  });

  /** Run a query function as the app role, then EXPLAIN the one statement it sent. */
  async function planOf(call: (db: Database) => Promise<unknown>): Promise<{ result: unknown; plan: PlanNode[] }> {
    recorded.length = 0;
    const result = await call(traced);
    expect(recorded).toHaveLength(1);
    const { query, params } = recorded[0]!;
    const [row] = await t.admin.unsafe<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>(
      `EXPLAIN (FORMAT JSON) ${query}`,
      params as string[],
    );
    return { result, plan: nodes(row!['QUERY PLAN'][0]!.Plan) };
  }

  function expectIndex(plan: PlanNode[], index: string): void {
    const used = plan.flatMap((n) => (n['Index Name'] ? [n['Index Name']] : []));
    const seqScans = plan.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name']);
    expect({ used: used.includes(index), seqScans: seqScans.filter((r) => BIG_TABLES.includes(r ?? '')) }).toEqual({
      used: true,
      seqScans: [],
    });
  }

  it('findUserByEmail uses users_email_hash_unique (the blind index)', async () => {
    const { result, plan } = await planOf((db) => findUserByEmail(db, ids.userEmail));
    expect((result as { id: string; email: string } | undefined)?.id).toBe(ids.userId);
    expect((result as { email: string } | undefined)?.email).toBe('seed42@example.com');
    expectIndex(plan, 'users_email_hash_unique');
  });

  it('listUserProjects by status uses projects_created_by_status_updated_at_idx', async () => {
    const { result, plan } = await planOf((db) => listUserProjects(db, ids.userId, { status: ids.userStatus }));
    expect((result as schema.Project[]).map((p) => p.status)).toContain(ids.userStatus);
    expectIndex(plan, 'projects_created_by_status_updated_at_idx');
  });

  it('listUserProjects without a status, and its next page, use the same index', async () => {
    const first = await planOf((db) => listUserProjects(db, ids.userId, { limit: 1 }));
    expectIndex(first.plan, 'projects_created_by_status_updated_at_idx');
    const [last] = first.result as schema.Project[];
    expect(last).toBeDefined();
    const next = await planOf((db) => listUserProjects(db, ids.userId, { limit: 1, after: last! }));
    expectIndex(next.plan, 'projects_created_by_status_updated_at_idx');
  });

  it('getLatestDocuments uses document_versions_project_type_version_unique', async () => {
    const { result, plan } = await planOf((db) => getLatestDocuments(db, ids.projectWithDocs));
    expect((result as { version: number }[]).map((d) => d.version)).toEqual([5, 5, 5, 5]);
    expectIndex(plan, 'document_versions_project_type_version_unique');
  });

  it('getProjectWithLatestDocuments uses projects_pkey and document_versions_project_type_version_unique', async () => {
    // The seeded project may be soft-deleted (every tenth is); the plan is the same either way.
    const { result, plan } = await planOf((db) => getProjectWithLatestDocuments(db, ids.projectWithDocs, { includeDeleted: true }));
    expect((result as { documents: { version: number }[] }).documents.map((d) => d.version)).toEqual([5, 5, 5, 5]);
    expectIndex(plan, 'projects_pkey');
    expectIndex(plan, 'document_versions_project_type_version_unique');
  });

  it('getDocumentHistory uses document_versions_project_type_version_unique', async () => {
    const { result, plan } = await planOf((db) => getDocumentHistory(db, ids.projectWithDocs, 'specs'));
    expect((result as { version: number }[]).map((d) => d.version)).toEqual([5, 4, 3, 2, 1]);
    expectIndex(plan, 'document_versions_project_type_version_unique');
  });

  it('listExecutionsByCorrelation uses agent_executions_correlation_id_idx', async () => {
    const { result, plan } = await planOf((db) => listExecutionsByCorrelation(db, ids.correlationId));
    expect((result as unknown[]).length).toBeGreaterThan(0);
    expectIndex(plan, 'agent_executions_correlation_id_idx');
  });

  it('listRecentExecutions uses agent_executions_project_id_started_at_idx', async () => {
    const { result, plan } = await planOf((db) => listRecentExecutions(db, ids.projectWithExecutions, 10));
    expect((result as unknown[]).length).toBeGreaterThan(0);
    expectIndex(plan, 'agent_executions_project_id_started_at_idx');
  });

  it('listExecutionsByStatus for stuck running ones uses agent_executions_status_started_at_idx', async () => {
    const anHourAgo = new Date(Date.now() - 3_600_000);
    const { result, plan } = await planOf((db) => listExecutionsByStatus(db, 'running', { startedBefore: anHourAgo }));
    expect((result as unknown[]).length).toBe(50);
    expectIndex(plan, 'agent_executions_status_started_at_idx');
  });

  it('listExpiredExports uses the partial exports_expires_at_completed_idx', async () => {
    const { result, plan } = await planOf((db) => listExpiredExports(db));
    expect((result as unknown[]).length).toBe(50);
    expectIndex(plan, 'exports_expires_at_completed_idx');
  });

  it('listProjectExports uses exports_project_id_created_at_idx', async () => {
    const { result, plan } = await planOf((db) => listProjectExports(db, ids.projectWithExports));
    expect((result as unknown[]).length).toBeGreaterThan(0);
    expectIndex(plan, 'exports_project_id_created_at_idx');
  });
});

import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import type { DbConfigInput } from '../../src/db/config.ts';
import { finishAgentExecution, startAgentExecution } from '../../src/db/queries/agent-executions.ts';
import { appendDocumentVersion, getProjectWithLatestDocuments } from '../../src/db/queries/document-versions.ts';
import { createProject, getProject, listUserProjects } from '../../src/db/queries/projects.ts';
import { createUser } from '../../src/db/queries/users.ts';
import { uuidv7 } from '../../src/core/uuid.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { testKeys } from '../helpers/users.ts';

const t = useTestDatabase();
const clients: JeexDb[] = [];
/** One connection, so that pg_prepared_statements (per session) shows what this client prepared. */
function client(options: DbConfigInput): JeexDb {
  const made = createDb({ url: t.appUrl, max: 1, keys: testKeys(), ...options }, {});
  clients.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close(1)));
});

async function preparedOnConnection(c: JeexDb): Promise<string[]> {
  // Simple protocol: this query itself is never prepared.
  const rows = await c.sql.unsafe<{ statement: string }[]>('SELECT statement FROM pg_prepared_statements ORDER BY prepare_time').simple();
  return rows.map((r) => r.statement);
}

async function exercise(c: JeexDb): Promise<void> {
  const user = await createUser(c.db, { email: `prep-${randomUUID()}@example.com`, name: 'Prepared', profileData: {} });
  const project = await createProject(c.db, { name: 'Prepared', createdBy: user.id, metadata: {} });
  for (let i = 0; i < 2; i++) {
    await getProject(c.db, project.id);
    await listUserProjects(c.db, user.id);
    await appendDocumentVersion(c.db, { projectId: project.id, documentType: 'specs', content: `v${i}`, createdBy: user.id, metadata: {} });
    const run = await startAgentExecution(c.db, { projectId: project.id, agentType: 'architect', correlationId: uuidv7(), inputData: { i } });
    await finishAgentExecution(c.db, run.id, { status: 'completed', outputData: { ok: i } });
  }
  const opened = await getProjectWithLatestDocuments(c.db, project.id);
  expect(opened?.documents.map((d) => [d.documentType, d.version, d.content])).toEqual([['specs', 2, 'v1']]);
}

describe('prepared statements follow the prepare option', () => {
  it('with prepare (a direct connection) the query functions run prepared statements, inside transactions too', async () => {
    const c = client({ pooler: 'none' });
    expect(c.config.prepare).toBe(true);
    await exercise(c);
    const statements = await preparedOnConnection(c);
    const about = (pattern: RegExp) => statements.filter((s) => pattern.test(s));
    expect(about(/^select .* from "projects" where \("projects"\."id" = \$1/)).toHaveLength(1);
    expect(about(/^select .* from "projects" where \("projects"\."created_by" = \$1/)).toHaveLength(1);
    // appendDocumentVersion's single INSERT (it computes the number and skips a taken one).
    expect(about(/^insert into "document_versions" .* on conflict/)).toHaveLength(1);
    expect(about(/^update "agent_executions"/)).toHaveLength(1);
  });

  it('a cached query gets its values on every call, not the ones of the first call', async () => {
    const c = client({ pooler: 'none' });
    const user = await createUser(c.db, { email: `prep-${randomUUID()}@example.com`, name: 'Values', profileData: {} });
    const [a, b] = [await createProject(c.db, { name: 'A', createdBy: user.id, metadata: {} }), await createProject(c.db, { name: 'B', createdBy: user.id, metadata: {} })];
    expect((await getProject(c.db, a.id))?.name).toBe('A');
    expect((await getProject(c.db, b.id))?.name).toBe('B');
    // Each insert gets its own id (a $defaultFn would have run once, when the query was built).
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await startAgentExecution(c.db, { projectId: a.id, agentType: 'planner', correlationId: uuidv7() }));
    expect(new Set(runs.map((r) => r.id)).size).toBe(3);
    expect(runs.map((r) => r.inputData)).toEqual([null, null, null]);
    const finished = await finishAgentExecution(c.db, runs[0]!.id, { status: 'failed', errorMessage: 'boom' });
    expect(finished).toMatchObject({ status: 'failed', errorMessage: 'boom', outputData: null });
  });

  it('without prepare (PgBouncer before 1.21) nothing is prepared on the server, though postgres.js prepares (its statements go out unnamed)', async () => {
    const c = client({ pooler: 'none', prepare: false });
    await exercise(c);
    expect(await preparedOnConnection(c)).toEqual([]);
  });

  it('a statement without parameters is not kept prepared (its text may be built at run time)', async () => {
    const c = client({ pooler: 'none' });
    await c.sql.unsafe(`SELECT '${randomUUID()}' AS once`);
    // (postgres.js prepares its own array-type lookup on each new connection.)
    expect((await preparedOnConnection(c)).filter((s) => s.includes('once'))).toEqual([]);
  });
});

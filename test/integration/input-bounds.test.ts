import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { finishAgentExecution, startAgentExecution } from '../../src/db/queries/agent-executions.ts';
import { appendDocumentVersion } from '../../src/db/queries/document-versions.ts';
import { completeExport, createExport } from '../../src/db/queries/exports.ts';
import { createProject, getProject, updateProject } from '../../src/db/queries/projects.ts';
import { createUser, findUserByEmail, getUser } from '../../src/db/queries/users.ts';
import type { JeexDbError } from '../../src/core/errors.ts';
import { uuidv7 } from '../../src/core/uuid.ts';
import { MAX_CONTENT_BYTES } from '../../src/schema/input-bounds.ts';
import type { Project, User } from '../../src/schema/types.ts';
import { rejection } from '../helpers/rejections.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// Issue 18, finding 4: a 100 MB name crashed Node in createUser/createProject (the validation
// spread the string into an array before checking its length: out of memory; 40 s of blocked
// event loop with enough heap), 10 MiB blocked it 0.57 s. Sizes are now checked first, for every
// entry point, before anything copies the input. And two more of the "Also" items:
// expectedVersion -1 / 2.5 / NaN was a VERSION_CONFLICT, and lone surrogates became U+FFFD.

const HUNDRED_MB = 100_000_000;
// Far above what a size check takes (well under a millisecond), far below the 40 s of before.
const QUICK_MS = 1000;

/** The call's rejection and how long it took to settle. */
async function timed(call: () => Promise<unknown>): Promise<{ error: JeexDbError; ms: number }> {
  const started = performance.now();
  const error = await rejection(call());
  return { error, ms: performance.now() - started };
}

describe('issue 18 finding 4: input bounds are checked before any copy of the input', () => {
  const t = useTestDatabase();
  let owner: User;
  let project: Project;
  const huge = 'a'.repeat(HUNDRED_MB);
  const rows = async (table: string) => (await t.admin.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table}`))[0]?.n;

  beforeAll(async () => {
    owner = await createUser(t.client.db, { email: `bounds.${randomUUID().slice(0, 8)}@example.com`, name: 'Bounds' });
    project = await createProject(t.client.db, { name: 'Bounded', createdBy: owner.id });
  });

  it('a 100 MB name: INVALID_INPUT naming the field, at once, in createUser, createProject and updateProject', async () => {
    const before = { users: await rows('users'), projects: await rows('projects') };
    for (const call of [
      () => createUser(t.client.db, { email: 'huge.name@example.com', name: huge }),
      () => createProject(t.client.db, { name: huge, createdBy: owner.id }),
      () => updateProject(t.client.db, project.id, { name: huge }),
    ]) {
      const { error, ms } = await timed(call);
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.columns).toEqual(['name']);
      expect(error.message).toContain('name: must be 1 to 255 characters long (it has 100,000,000 UTF-16 code units)');
      expect(ms).toBeLessThan(QUICK_MS);
    }
    expect({ users: await rows('users'), projects: await rows('projects') }).toEqual(before);
    expect((await getProject(t.client.db, project.id))?.name).toBe('Bounded');
  });

  it('a 100 MB email, content, JSON, error message, file path or id: INVALID_INPUT at once, nothing written', async () => {
    const before = { users: await rows('users'), versions: await rows('document_versions'), projects: await rows('projects') };
    const execution = await startAgentExecution(t.client.db, { projectId: project.id, agentType: 'architect', correlationId: uuidv7() });
    const exported = await createExport(t.client.db, { projectId: project.id, format: 'pdf', createdBy: owner.id });
    const cases: [string, () => Promise<unknown>][] = [
      ['email', () => createUser(t.client.db, { email: `${huge}@example.com`, name: 'Huge email' })],
      ['email', () => findUserByEmail(t.client.db, `${huge}@example.com`)],
      ['content', () => appendDocumentVersion(t.client.db, { projectId: project.id, documentType: 'specs', content: huge, createdBy: owner.id })],
      ['metadata', () => createProject(t.client.db, { name: 'Huge metadata', createdBy: owner.id, metadata: { notes: huge } })],
      ['profileData', () => createUser(t.client.db, { email: 'huge.profile@example.com', name: 'Huge profile', profileData: { bio: huge } })],
      ['errorMessage', () => finishAgentExecution(t.client.db, execution.id, { status: 'failed', errorMessage: huge })],
      ['outputData', () => finishAgentExecution(t.client.db, execution.id, { status: 'completed', outputData: { text: huge } })],
      ['filePath', () => completeExport(t.client.db, exported.id, `/exports/${huge}.pdf`)],
      ['id', () => getUser(t.client.db, huge)],
      ['id', () => getProject(t.client.db, huge)],
    ];
    for (const [field, call] of cases) {
      const { error, ms } = await timed(call);
      expect(error.code, field).toBe('INVALID_INPUT');
      expect(error.columns, field).toEqual([field]);
      expect(ms, field).toBeLessThan(QUICK_MS);
    }
    expect({ users: await rows('users'), versions: await rows('document_versions'), projects: await rows('projects') }).toEqual(before);
    const [left] = await t.admin<{ status: string; completed_at: Date | null }[]>`SELECT status, completed_at FROM agent_executions WHERE id = ${execution.id}`;
    expect(left).toEqual({ status: 'running', completed_at: null });
  });

  it('content up to 8 MiB is stored; one byte more is refused', async () => {
    // 'é' is two bytes in UTF-8: the limit counts bytes, not characters.
    const fits = 'é'.repeat(MAX_CONTENT_BYTES / 2);
    const saved = await appendDocumentVersion(t.client.db, { projectId: project.id, documentType: 'about', content: fits, createdBy: owner.id });
    const [stored] = await t.admin<{ n: number }[]>`SELECT octet_length(content)::int AS n FROM document_versions WHERE id = ${saved.id}`;
    expect(stored?.n).toBe(MAX_CONTENT_BYTES);
    const over = await rejection(appendDocumentVersion(t.client.db, { projectId: project.id, documentType: 'about', content: `${fits}x`, createdBy: owner.id }));
    expect(over.code).toBe('INVALID_INPUT');
    expect(over.message).toContain('content: must be at most 8,388,608 bytes (UTF-8); it has 8,388,609');
  });

  it('a JSON object nested 10,000 levels deep, or containing itself, is refused instead of overflowing the stack', async () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 10_000; i++) deep = { deep };
    const looped: Record<string, unknown> = {};
    looped.self = looped;
    for (const metadata of [deep, looped]) {
      const error = await rejection(createProject(t.client.db, { name: 'Deep', createdBy: owner.id, metadata }));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toContain('metadata: is nested deeper than 100 levels');
    }
  });
});

describe('issue 18: expectedVersion must be a version number', () => {
  const t = useTestDatabase();

  it.each([
    ['-1', -1],
    ['2.5', 2.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['"1" (a string)', '1' as unknown as number],
  ])('expectedVersion %s is INVALID_INPUT naming it, not VERSION_CONFLICT, and writes nothing', async (_label, expectedVersion) => {
    const owner = await createUser(t.client.db, { email: `versions.${randomUUID().slice(0, 8)}@example.com`, name: 'Versions' });
    const project = await createProject(t.client.db, { name: 'Versioned', createdBy: owner.id });
    await appendDocumentVersion(t.client.db, { projectId: project.id, documentType: 'plan', content: 'v1', createdBy: owner.id });
    const error = await rejection(appendDocumentVersion(t.client.db, { projectId: project.id, documentType: 'plan', content: 'v2', createdBy: owner.id, expectedVersion }));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.columns).toEqual(['expectedVersion']);
    const [row] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM document_versions WHERE project_id = ${project.id}`;
    expect(row?.n).toBe(1);
    // A real stale number is still a conflict, and the right one is still accepted.
    expect((await rejection(appendDocumentVersion(t.client.db, { projectId: project.id, documentType: 'plan', content: 'v2', createdBy: owner.id, expectedVersion: 0 }))).code).toBe('VERSION_CONFLICT');
    expect((await appendDocumentVersion(t.client.db, { projectId: project.id, documentType: 'plan', content: 'v2', createdBy: owner.id, expectedVersion: 1 })).version).toBe(2);
  });
});

describe('issue 18: text with a lone surrogate is refused, not stored as U+FFFD', () => {
  const t = useTestDatabase();
  // Half of 🦊 (U+1F98A = D83E DD8A): what a string cut at the wrong UTF-16 index holds.
  const high = '\uD83E';
  const low = '\uDD8A';

  it('in every text a caller sends: INVALID_INPUT naming the field, nothing written', async () => {
    const owner = await createUser(t.client.db, { email: `surrogates.${randomUUID().slice(0, 8)}@example.com`, name: 'Surrogates 🦊' });
    expect((await getUser(t.client.db, owner.id))?.name).toBe('Surrogates 🦊');
    const project = await createProject(t.client.db, { name: 'Whole 🦊', createdBy: owner.id });
    const before = { users: 1, projects: 1 };
    const cases: [string, () => Promise<unknown>][] = [
      ['name', () => createUser(t.client.db, { email: 'cut.name@example.com', name: `Cut ${high}` })],
      ['email', () => createUser(t.client.db, { email: `cut${low}@example.com`, name: 'Cut email' })],
      ['email', () => findUserByEmail(t.client.db, `cut${high}@example.com`)],
      ['name', () => createProject(t.client.db, { name: `Cut ${high}`, createdBy: owner.id })],
      ['name', () => updateProject(t.client.db, project.id, { name: `${low} cut` })],
      ['content', () => appendDocumentVersion(t.client.db, { projectId: project.id, documentType: 'specs', content: `# Spec ${high}`, createdBy: owner.id })],
      ['metadata', () => createProject(t.client.db, { name: 'Cut metadata', createdBy: owner.id, metadata: { title: `t${high}` } })],
      ['metadata', () => createProject(t.client.db, { name: 'Cut key', createdBy: owner.id, metadata: { [`k${low}`]: 1 } })],
    ];
    for (const [field, call] of cases) {
      const error = await rejection(call());
      expect(error.code, `${field}: ${error.message}`).toBe('INVALID_INPUT');
      expect(error.columns, field).toEqual([field]);
      expect(error.message, field).toContain('lone surrogate');
    }
    const [counts] = await t.admin<{ users: number; projects: number }[]>`SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM projects) AS projects`;
    expect(counts).toEqual(before);
    const [stored] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM projects WHERE name LIKE ${'%\uFFFD%'}`;
    expect(stored?.n).toBe(0);
    expect((await getProject(t.client.db, project.id))?.name).toBe('Whole 🦊');
  });
});

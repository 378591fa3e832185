import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/create-db.ts';
import {
  listExecutionsByCorrelation,
  listExecutionsByStatus,
  listRecentExecutions,
  finishAgentExecution,
  setExecutionNeedsInput,
  startAgentExecution,
} from '../../src/db/queries/agent-executions.ts';
import {
  appendDocumentVersion,
  getDocumentHistory,
  getLatestDocuments,
  getProjectWithLatestDocuments,
  scoreDocumentVersion,
} from '../../src/db/queries/document-versions.ts';
import {
  completeExport,
  createExport,
  expireExport,
  listExpiredExports,
  listProjectExports,
  recordExportDownload,
} from '../../src/db/queries/exports.ts';
import {
  createProject,
  getProject,
  listUserProjects,
  softDeleteProject,
  updateProject,
} from '../../src/db/queries/projects.ts';
import { createUser, deleteUser, findUserByEmail, getUser, recordLogin } from '../../src/db/queries/users.ts';
import { isUuidv7, uuidv7 } from '../../src/core/uuid.ts';
import type { Project, User } from '../../src/schema/types.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { rejection } from '../helpers/rejections.ts';
import { emailHash, testKeys } from '../helpers/users.ts';

let counter = 0;
const uniqueEmail = (prefix = 'user') => `${prefix}.${process.pid}.${++counter}.${randomUUID().slice(0, 8)}@example.com`;

describe('query functions against PostgreSQL 18 as the application role', () => {
  const t = useTestDatabase();

  const newUser = (name = 'Test User') => createUser(t.client.db, { profileData: {}, email: uniqueEmail(), name });
  const serverNow = async (): Promise<Date> => {
    const [row] = await t.admin<{ now: Date }[]>`SELECT clock_timestamp() AS now`;
    return row!.now;
  };
  const count = async (table: string, column: string, value: unknown): Promise<number> => {
    const [row] = await t.admin.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [
      value as string,
    ]);
    return row!.n;
  };


  describe('users', () => {
    it('creates a user with a UUIDv7 id and defaults, and finds it by email ignoring case', async () => {
      const email = `Ada.Lovelace.${randomUUID().slice(0, 8)}@Example.COM`;
      const ada = await createUser(t.client.db, { profileData: {}, email, name: 'Ada Lovelace' });
      expect(isUuidv7(ada.id)).toBe(true);
      expect(ada).toMatchObject({ email, name: 'Ada Lovelace', profileData: {}, lastLoginAt: null });
      expect(ada.createdAt).toBeInstanceOf(Date);

      const found = await findUserByEmail(t.client.db, email.toLowerCase());
      expect(found?.id).toBe(ada.id);
      expect((await findUserByEmail(t.client.db, email.toUpperCase()))?.id).toBe(ada.id);
      expect(await findUserByEmail(t.client.db, `nobody.${randomUUID()}@example.com`)).toBeUndefined();
    });

    it('refuses a second user whose email differs only in case (UNIQUE_VIOLATION)', async () => {
      const email = uniqueEmail('Grace');
      await createUser(t.client.db, { profileData: {}, email, name: 'Grace' });
      const error = await rejection(createUser(t.client.db, { profileData: {}, email: email.toUpperCase(), name: 'Grace again' }));
      expect(error.code).toBe('UNIQUE_VIOLATION');
      expect(error.constraint).toBe('users_email_hash_unique');
      expect(error.message).toBe('users_email_hash_unique: a user with this email already exists');
      const [row] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE email_hash = ${emailHash(email)}`;
      expect(row?.n).toBe(1);
    });

    it('recordLogin stamps last_login_at with the server clock and bumps updated_at', async () => {
      const user = await newUser();
      const before = await serverNow();
      const logged = await recordLogin(t.client.db, user.id);
      expect(logged.lastLoginAt).toBeInstanceOf(Date);
      expect(logged.lastLoginAt!.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1);
      expect(logged.updatedAt.getTime()).toBeGreaterThan(user.updatedAt.getTime());
      const [row] = await t.admin<{ last_login_at: Date | null }[]>`SELECT last_login_at FROM users WHERE id = ${user.id}`;
      expect(row?.last_login_at?.getTime()).toBe(logged.lastLoginAt!.getTime());

      const missing = await rejection(recordLogin(t.client.db, uuidv7()));
      expect(missing.code).toBe('NOT_FOUND');
    });

    it('deleteUser removes the user with their projects, versions, executions and exports', async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Doomed', createdBy: user.id });
      await appendDocumentVersion(t.client.db, { metadata: {}, projectId: project.id, documentType: 'about', content: '# About', createdBy: user.id });
      await startAgentExecution(t.client.db, { projectId: project.id, agentType: 'product_manager', correlationId: uuidv7() });
      await createExport(t.client.db, { manifest: {}, projectId: project.id, format: 'pdf', createdBy: user.id });

      await deleteUser(t.client.db, user.id);

      expect(await getUser(t.client.db, user.id)).toBeUndefined();
      expect(await count('projects', 'created_by', user.id)).toBe(0);
      expect(await count('document_versions', 'project_id', project.id)).toBe(0);
      expect(await count('agent_executions', 'project_id', project.id)).toBe(0);
      expect(await count('exports', 'project_id', project.id)).toBe(0);

      const again = await rejection(deleteUser(t.client.db, user.id));
      expect(again.code).toBe('NOT_FOUND');
    });

    it('deleteUser is refused while the user authored a version in another user\'s project', async () => {
      const owner = await newUser('Owner');
      const guest = await newUser('Guest');
      const project = await createProject(t.client.db, { metadata: {}, name: 'Shared', createdBy: owner.id });
      await appendDocumentVersion(t.client.db, { metadata: {}, projectId: project.id, documentType: 'specs', content: 'x', createdBy: guest.id });

      const error = await rejection(deleteUser(t.client.db, guest.id));
      expect(error.code).toBe('FOREIGN_KEY_VIOLATION');
      expect(error.constraint).toBe('document_versions_created_by_users_id_fk');
      expect(await getUser(t.client.db, guest.id)).toBeDefined();
      expect(await count('document_versions', 'project_id', project.id)).toBe(1);
    });
  });

  describe('projects', () => {
    it('creates a project with the documented defaults', async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Idea', createdBy: user.id });
      expect(isUuidv7(project.id)).toBe(true);
      expect(project).toMatchObject({
        name: 'Idea',
        status: 'draft',
        currentStep: 1,
        language: 'en',
        metadata: {},
        createdBy: user.id,
        deletedAt: null,
      });
      expect((await getProject(t.client.db, project.id))?.id).toBe(project.id);
    });

    it('lists a user\'s projects newest updated_at first, filtered by status, without soft-deleted or other users\' ones', async () => {
      const user = await newUser();
      const other = await newUser();
      const a = await createProject(t.client.db, { metadata: {}, name: 'A', createdBy: user.id });
      const b = await createProject(t.client.db, { metadata: {}, name: 'B', createdBy: user.id, status: 'in_progress' });
      const c = await createProject(t.client.db, { metadata: {}, name: 'C', createdBy: user.id, status: 'in_progress' });
      const d = await createProject(t.client.db, { metadata: {}, name: 'D', createdBy: user.id });
      await createProject(t.client.db, { metadata: {}, name: 'Not mine', createdBy: other.id, status: 'in_progress' });
      // Touching A makes it the most recently updated; D is soft-deleted.
      await updateProject(t.client.db, a.id, { currentStep: 2 });
      await softDeleteProject(t.client.db, d.id);

      const all = await listUserProjects(t.client.db, user.id);
      expect(all.map((p) => p.name)).toEqual(['A', 'C', 'B']);
      for (let i = 1; i < all.length; i++) {
        expect(all[i - 1]!.updatedAt.getTime()).toBeGreaterThanOrEqual(all[i]!.updatedAt.getTime());
      }

      const inProgress = await listUserProjects(t.client.db, user.id, { status: 'in_progress' });
      expect(inProgress.map((p) => p.id)).toEqual([c.id, b.id]);
      expect(await listUserProjects(t.client.db, user.id, { status: 'archived' })).toEqual([]);
      expect((await listUserProjects(t.client.db, user.id, { limit: 2 })).map((p) => p.id)).toEqual([a.id, c.id]);
    });

    it('pages with `after` through every project exactly once, also when updated_at ties or differs below a millisecond', async () => {
      const user = await newUser();
      for (let i = 0; i < 8; i++) await createProject(t.client.db, { metadata: {}, name: `sequential ${i}`, createdBy: user.id });
      // Rows written in one statement share updated_at exactly; others differ by microseconds only.
      await t.admin`
        INSERT INTO projects (name, created_by, updated_at)
        SELECT 'same instant ' || i, ${user.id}, '2030-01-01 00:00:00.123456+00'
        FROM generate_series(1, 6) AS i`;
      await t.admin`
        INSERT INTO projects (name, created_by, updated_at)
        SELECT 'sub-millisecond ' || i, ${user.id}, '2030-01-01 00:00:00.123'::timestamptz + i * interval '100 microseconds'
        FROM generate_series(1, 6) AS i`;

      const everything = await listUserProjects(t.client.db, user.id, { limit: 100 });
      expect(everything).toHaveLength(20);

      const pages: Project[][] = [];
      let after: Project | undefined;
      for (let guard = 0; guard < 20; guard++) {
        const page: Project[] = await listUserProjects(t.client.db, user.id, { limit: 3, ...(after ? { after } : {}) });
        if (page.length === 0) break;
        pages.push(page);
        after = page.at(-1);
      }
      const paged = pages.flat().map((p) => p.id);
      expect(new Set(paged).size).toBe(paged.length); // no overlap
      expect(paged).toEqual(everything.map((p) => p.id)); // nothing skipped, same order
      expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 3, 3, 3, 2]);
    });

    it('updateProject changes a live project and bumps updated_at; soft-deleted ones are NOT_FOUND', async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Before', createdBy: user.id });
      // The timestamps keep milliseconds (timestamp(3)): let the update fall in a later one.
      await new Promise((resolve) => setTimeout(resolve, 3));
      const updated = await updateProject(t.client.db, project.id, {
        name: 'After',
        status: 'in_progress',
        currentStep: 3,
        language: 'pt-BR',
        metadata: { source: 'wizard' },
      });
      expect(updated).toMatchObject({ name: 'After', status: 'in_progress', currentStep: 3, language: 'pt-BR', metadata: { source: 'wizard' } });
      expect(updated.updatedAt.getTime()).toBeGreaterThan(project.updatedAt.getTime());
      expect(updated.createdAt.getTime()).toBe(project.createdAt.getTime());

      const deleted = await softDeleteProject(t.client.db, project.id);
      expect(deleted.deletedAt).toBeInstanceOf(Date);
      const error = await rejection(updateProject(t.client.db, project.id, { name: 'Ghost' }));
      expect(error.code).toBe('NOT_FOUND');
      const [row] = await t.admin<{ name: string }[]>`SELECT name FROM projects WHERE id = ${project.id}`;
      expect(row?.name).toBe('After');
    });

    it('softDeleteProject hides the project but keeps the row; a second soft delete is NOT_FOUND', async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Soft', createdBy: user.id });
      await softDeleteProject(t.client.db, project.id);

      expect(await getProject(t.client.db, project.id)).toBeUndefined();
      const kept = await getProject(t.client.db, project.id, { includeDeleted: true });
      expect(kept?.deletedAt).toBeInstanceOf(Date);
      expect(await listUserProjects(t.client.db, user.id)).toEqual([]);

      const again = await rejection(softDeleteProject(t.client.db, project.id));
      expect(again.code).toBe('NOT_FOUND');
    });
  });

  describe('document versions', () => {
    it('numbers versions 1, 2, 3 per type; latest documents come one per type in wizard order; history is newest first', async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Docs', createdBy: user.id });
      const append = (documentType: 'about' | 'specs' | 'architecture' | 'plan', content: string) =>
        appendDocumentVersion(t.client.db, { metadata: {}, projectId: project.id, documentType, content, createdBy: user.id });

      // Written in an order different from the enum's, so the sort is not insertion order.
      expect((await append('plan', 'plan v1')).version).toBe(1);
      expect((await append('specs', 'specs v1')).version).toBe(1);
      expect((await append('specs', 'specs v2')).version).toBe(2);
      expect((await append('architecture', 'arch v1')).version).toBe(1);
      const specs3 = await append('specs', 'specs v3');
      expect(specs3.version).toBe(3);
      expect(isUuidv7(specs3.id)).toBe(true);
      await append('about', 'about v1');
      await append('about', 'about v2');

      const latest = await getLatestDocuments(t.client.db, project.id);
      expect(latest.map((d) => [d.documentType, d.version, d.content])).toEqual([
        ['about', 2, 'about v2'],
        ['specs', 3, 'specs v3'],
        ['architecture', 1, 'arch v1'],
        ['plan', 1, 'plan v1'],
      ]);

      const history = await getDocumentHistory(t.client.db, project.id, 'specs');
      expect(history.map((d) => [d.version, d.content])).toEqual([
        [3, 'specs v3'],
        [2, 'specs v2'],
        [1, 'specs v1'],
      ]);
      expect((await getDocumentHistory(t.client.db, project.id, 'specs', { limit: 2 })).map((d) => d.version)).toEqual([3, 2]);

      const empty = await createProject(t.client.db, { metadata: {}, name: 'Empty', createdBy: user.id });
      expect(await getLatestDocuments(t.client.db, empty.id)).toEqual([]);
      expect(await getDocumentHistory(t.client.db, empty.id, 'about')).toEqual([]);
    });

    it('getProjectWithLatestDocuments returns the project with its latest version of each type in one statement', async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Opened', createdBy: user.id });
      const append = (documentType: 'about' | 'specs' | 'architecture' | 'plan', content: string) =>
        appendDocumentVersion(t.client.db, { metadata: {}, projectId: project.id, documentType, content, createdBy: user.id });
      expect(await getProjectWithLatestDocuments(t.client.db, project.id)).toEqual({ project, documents: [] });

      await append('plan', 'plan v1');
      await append('specs', 'specs v1');
      await append('specs', 'specs v2');
      await append('about', 'about v1');
      const opened = await getProjectWithLatestDocuments(t.client.db, project.id);
      expect(opened?.project).toEqual(project);
      expect(opened?.documents.map((d) => [d.documentType, d.version, d.content])).toEqual([
        ['about', 1, 'about v1'],
        ['specs', 2, 'specs v2'],
        ['plan', 1, 'plan v1'],
      ]);
      expect(opened?.documents).toEqual(await getLatestDocuments(t.client.db, project.id));

      // Another project's documents never leak in; unknown and soft-deleted projects are undefined.
      const other = await createProject(t.client.db, { metadata: {}, name: 'Other', createdBy: user.id });
      expect((await getProjectWithLatestDocuments(t.client.db, other.id))?.documents).toEqual([]);
      expect(await getProjectWithLatestDocuments(t.client.db, uuidv7())).toBeUndefined();
      await softDeleteProject(t.client.db, project.id);
      expect(await getProjectWithLatestDocuments(t.client.db, project.id)).toBeUndefined();
      expect((await getProjectWithLatestDocuments(t.client.db, project.id, { includeDeleted: true }))?.documents).toHaveLength(3);
    });

    it('keeps a large markdown document intact', async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Big', createdBy: user.id });
      const content = `# Specs\n\n${'Ünïcode ✓ line of markdown text.\n'.repeat(12_000)}`; // ~400 KB
      const saved = await appendDocumentVersion(t.client.db, { metadata: {}, projectId: project.id, documentType: 'specs', content, createdBy: user.id });
      const [latest] = await getLatestDocuments(t.client.db, project.id);
      expect(latest?.id).toBe(saved.id);
      expect(latest?.content).toBe(content);
    });

    it('scoreDocumentVersion records scores; out-of-range scores are INVALID_INPUT; an unknown id is NOT_FOUND', async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Scored', createdBy: user.id });
      const version = await appendDocumentVersion(t.client.db, { metadata: {}, projectId: project.id, documentType: 'about', content: 'x', createdBy: user.id });
      expect(version.readabilityScore).toBeNull();

      const scored = await scoreDocumentVersion(t.client.db, version.id, { readabilityScore: 72.5, grammarScore: 90 });
      expect(scored).toMatchObject({ id: version.id, readabilityScore: 72.5, grammarScore: 90, content: 'x', version: 1 });

      const bad = await rejection(scoreDocumentVersion(t.client.db, version.id, { grammarScore: 101 }));
      expect(bad.code).toBe('INVALID_INPUT');
      expect(bad.columns).toContain('grammarScore');
      const [row] = await t.admin<{ grammar_score: number }[]>`SELECT grammar_score FROM document_versions WHERE id = ${version.id}`;
      expect(row?.grammar_score).toBe(90);

      const missing = await rejection(scoreDocumentVersion(t.client.db, uuidv7(), { readabilityScore: 1 }));
      expect(missing.code).toBe('NOT_FOUND');
    });

    it('appending to a project that does not exist is a FOREIGN_KEY_VIOLATION and writes nothing', async () => {
      const user = await newUser();
      const projectId = uuidv7();
      const error = await rejection(
        appendDocumentVersion(t.client.db, { metadata: {}, projectId, documentType: 'about', content: 'x', createdBy: user.id }),
      );
      expect(error.code).toBe('FOREIGN_KEY_VIOLATION');
      expect(await count('document_versions', 'project_id', projectId)).toBe(0);
    });
  });

  describe('agent executions', () => {
    const setup = async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Agents', createdBy: user.id });
      return { user, project };
    };

    it('starts as running and finishes once, with completed_at and a non-negative duration', async () => {
      const { project } = await setup();
      const correlationId = uuidv7();
      const started = await startAgentExecution(t.client.db, {
        projectId: project.id,
        agentType: 'architect',
        correlationId,
        inputData: { prompt: 'design it' },
      });
      expect(isUuidv7(started.id)).toBe(true);
      expect(started).toMatchObject({ status: 'running', completedAt: null, durationMs: null, inputData: { prompt: 'design it' } });

      await sleep(30);
      const finished = await finishAgentExecution(t.client.db, started.id, { status: 'completed', outputData: { ok: true } });
      expect(finished.status).toBe('completed');
      expect(finished.outputData).toEqual({ ok: true });
      expect(finished.completedAt).toBeInstanceOf(Date);
      expect(finished.completedAt!.getTime()).toBeGreaterThanOrEqual(finished.startedAt.getTime());
      expect(finished.durationMs).not.toBeNull();
      expect(finished.durationMs!).toBeGreaterThanOrEqual(20);
      expect(Math.abs(finished.durationMs! - (finished.completedAt!.getTime() - finished.startedAt.getTime()))).toBeLessThanOrEqual(1);

      const twice = await rejection(finishAgentExecution(t.client.db, started.id, { status: 'failed', errorMessage: 'late' }));
      expect(twice.code).toBe('NOT_FOUND');
      const [row] = await t.admin<{ status: string; error_message: string | null }[]>`
        SELECT status, error_message FROM agent_executions WHERE id = ${started.id}`;
      expect(row).toEqual({ status: 'completed', error_message: null });
    });

    it('records a failure with its message', async () => {
      const { project } = await setup();
      const started = await startAgentExecution(t.client.db, { projectId: project.id, agentType: 'planner', correlationId: uuidv7() });
      const failed = await finishAgentExecution(t.client.db, started.id, { status: 'failed', errorMessage: 'model timed out' });
      expect(failed).toMatchObject({ status: 'failed', errorMessage: 'model timed out', outputData: null });
      expect(failed.completedAt).toBeInstanceOf(Date);
    });

    it('setExecutionNeedsInput pauses an unfinished execution; a finished one is NOT_FOUND', async () => {
      const { project } = await setup();
      const started = await startAgentExecution(t.client.db, { projectId: project.id, agentType: 'reviewer', correlationId: uuidv7() });
      const waiting = await setExecutionNeedsInput(t.client.db, started.id);
      expect(waiting).toMatchObject({ status: 'needs_input', completedAt: null });

      const done = await finishAgentExecution(t.client.db, started.id, { status: 'cancelled' });
      expect(done.status).toBe('cancelled');
      const error = await rejection(setExecutionNeedsInput(t.client.db, started.id));
      expect(error.code).toBe('NOT_FOUND');
    });

    it('lists one request\'s executions in start order and a project\'s recent ones newest first', async () => {
      const { project } = await setup();
      const { project: otherProject } = await setup();
      const correlationId = uuidv7();
      const ids: string[] = [];
      for (const agentType of ['product_manager', 'architect', 'planner']) {
        ids.push((await startAgentExecution(t.client.db, { projectId: project.id, agentType, correlationId })).id);
        await sleep(2);
      }
      const unrelated = await startAgentExecution(t.client.db, { projectId: project.id, agentType: 'reviewer', correlationId: uuidv7() });
      await startAgentExecution(t.client.db, { projectId: otherProject.id, agentType: 'reviewer', correlationId });

      const byCorrelation = await listExecutionsByCorrelation(t.client.db, correlationId);
      expect(byCorrelation).toHaveLength(4);
      expect(byCorrelation.slice(0, 3).map((e) => e.id)).toEqual(ids);
      expect(byCorrelation.every((e) => e.correlationId === correlationId)).toBe(true);
      expect(await listExecutionsByCorrelation(t.client.db, uuidv7())).toEqual([]);

      const recent = await listRecentExecutions(t.client.db, project.id);
      expect(recent.map((e) => e.id)).toEqual([unrelated.id, ...ids.toReversed()]);
      expect((await listRecentExecutions(t.client.db, project.id, 2)).map((e) => e.id)).toEqual([unrelated.id, ids[2]]);
    });

    it('lists executions stuck in a status since before a given time, oldest first', async () => {
      const { project } = await setup();
      // Two long-running ones (started 3 h and 2 h ago), one old but finished, one fresh.
      const old = await t.admin<{ id: string }[]>`
        INSERT INTO agent_executions (project_id, agent_type, correlation_id, status, started_at, completed_at)
        VALUES (${project.id}, 'architect', uuidv7(), 'running', now() - interval '3 hours', NULL),
               (${project.id}, 'planner', uuidv7(), 'running', now() - interval '2 hours', NULL),
               (${project.id}, 'reviewer', uuidv7(), 'completed', now() - interval '4 hours', now() - interval '4 hours')
        RETURNING id`;
      const fresh = await startAgentExecution(t.client.db, { projectId: project.id, agentType: 'architect', correlationId: uuidv7() });

      const oneHourAgo = new Date((await serverNow()).getTime() - 3_600_000);
      const stuck = await listExecutionsByStatus(t.client.db, 'running', { startedBefore: oneHourAgo });
      const mine = stuck.filter((e) => e.projectId === project.id).map((e) => e.id);
      expect(mine).toEqual([old[0]!.id, old[1]!.id]);
      expect(stuck.every((e) => e.status === 'running' && e.startedAt < oneHourAgo)).toBe(true);

      const running = (await listExecutionsByStatus(t.client.db, 'running', { limit: 1000 })).filter((e) => e.projectId === project.id);
      expect(running.map((e) => e.id)).toEqual([old[0]!.id, old[1]!.id, fresh.id]);
      const completed = (await listExecutionsByStatus(t.client.db, 'completed', { startedBefore: oneHourAgo })).filter(
        (e) => e.projectId === project.id,
      );
      expect(completed.map((e) => e.id)).toEqual([old[2]!.id]);
    });
  });

  describe('exports', () => {
    const setup = async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Exports', createdBy: user.id });
      return { user, project };
    };

    it('queues an export expiring in 24 hours and completes it with its file', async () => {
      const { user, project } = await setup();
      const before = await serverNow();
      const queued = await createExport(t.client.db, { projectId: project.id, format: 'markdown_zip', createdBy: user.id, manifest: { files: 4 } });
      expect(isUuidv7(queued.id)).toBe(true);
      expect(queued).toMatchObject({ status: 'pending', downloadCount: 0, filePath: null, completedAt: null, manifest: { files: 4 } });
      const hours = (queued.expiresAt.getTime() - before.getTime()) / 3_600_000;
      expect(hours).toBeGreaterThan(23.9);
      expect(hours).toBeLessThan(24.1);

      const notYet = await rejection(recordExportDownload(t.client.db, queued.id));
      expect(notYet.code).toBe('NOT_FOUND');

      const done = await completeExport(t.client.db, queued.id, '/exports/idea.zip');
      expect(done).toMatchObject({ status: 'completed', filePath: '/exports/idea.zip' });
      expect(done.completedAt).toBeInstanceOf(Date);

      const missing = await rejection(completeExport(t.client.db, uuidv7(), '/nowhere'));
      expect(missing.code).toBe('NOT_FOUND');
    });

    it('counts 50 concurrent downloads exactly', async () => {
      const { user, project } = await setup();
      const exp = await createExport(t.client.db, { manifest: {}, projectId: project.id, format: 'pdf', createdBy: user.id });
      await completeExport(t.client.db, exp.id, '/exports/idea.pdf');

      const pool = createDb({ url: t.appUrl, max: 10, keys: testKeys() }, {});
      try {
        const results = await Promise.all(Array.from({ length: 50 }, () => recordExportDownload(pool.db, exp.id)));
        expect(results.map((r) => r.downloadCount).toSorted((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      } finally {
        await pool.close();
      }
      const [row] = await t.admin<{ download_count: number }[]>`SELECT download_count FROM exports WHERE id = ${exp.id}`;
      expect(row?.download_count).toBe(50);
    });

    it('lists a project\'s exports newest first', async () => {
      const { user, project } = await setup();
      const { project: other } = await setup();
      const first = await createExport(t.client.db, { manifest: {}, projectId: project.id, format: 'pdf', createdBy: user.id });
      await sleep(2);
      const second = await createExport(t.client.db, { manifest: {}, projectId: project.id, format: 'markdown_zip', createdBy: user.id });
      await createExport(t.client.db, { manifest: {}, projectId: other.id, format: 'pdf', createdBy: user.id });

      expect((await listProjectExports(t.client.db, project.id)).map((e) => e.id)).toEqual([second.id, first.id]);
      expect((await listProjectExports(t.client.db, project.id, 1)).map((e) => e.id)).toEqual([second.id]);
    });

    it('lists only completed exports past expires_at, and expireExport takes them off the list', async () => {
      const { user, project } = await setup();
      const past = (ms: number) => new Date(Date.now() - ms);
      const make = async (expiresAt: Date, complete: boolean) => {
        const e = await createExport(t.client.db, { manifest: {}, projectId: project.id, format: 'pdf', createdBy: user.id, expiresAt });
        if (complete) await completeExport(t.client.db, e.id, `/exports/${e.id}.pdf`);
        return e.id;
      };
      const expiredLongAgo = await make(past(48 * 3_600_000), true);
      const expired = await make(past(3_600_000), true);
      const pendingPast = await make(past(3_600_000), false);
      const completedFuture = await make(new Date(Date.now() + 3_600_000), true);
      const ours = new Set([expiredLongAgo, expired, pendingPast, completedFuture]);

      const listed = (await listExpiredExports(t.client.db)).filter((e) => ours.has(e.id));
      expect(listed.map((e) => e.id)).toEqual([expiredLongAgo, expired]);
      expect(listed.every((e) => e.status === 'completed')).toBe(true);

      const inTwoHours = (await listExpiredExports(t.client.db, { now: new Date(Date.now() + 2 * 3_600_000) })).filter((e) =>
        ours.has(e.id),
      );
      expect(inTwoHours.map((e) => e.id)).toEqual([expiredLongAgo, expired, completedFuture]);

      const gone = await expireExport(t.client.db, expired);
      expect(gone.status).toBe('expired');
      const after = (await listExpiredExports(t.client.db)).filter((e) => ours.has(e.id));
      expect(after.map((e) => e.id)).toEqual([expiredLongAgo]);
      expect((await rejection(expireExport(t.client.db, uuidv7()))).code).toBe('NOT_FOUND');
    });
  });

  // The tests above pass the jsonb columns explicitly; these check that their defaults
  // (`{}`) apply when a caller leaves them out, as the data model documents.
  describe('jsonb columns with a default may be left out', () => {
    it('users.profile_data defaults to {}', async () => {
      const user = await createUser(t.client.db, { email: uniqueEmail('defaults'), name: 'Defaults' });
      expect(user.profileData).toEqual({});
    });

    it('projects.metadata, document_versions.metadata and exports.manifest default to {}', async () => {
      const owner = await newUser();
      const project = await createProject(t.client.db, { name: 'Defaults', createdBy: owner.id });
      expect(project.metadata).toEqual({});
      const version = await appendDocumentVersion(t.client.db, {
        projectId: project.id,
        documentType: 'about',
        content: 'x',
        createdBy: owner.id,
      });
      expect(version.metadata).toEqual({});
      const exp = await createExport(t.client.db, { projectId: project.id, format: 'pdf', createdBy: owner.id });
      expect(exp.manifest).toEqual({});
    });
  });

  describe('validation before any SQL', () => {
    let owner: User;
    const ownerOf = async () => (owner ??= await newUser('Validator'));

    it('rejects a malformed email, naming the field, and writes no user', async () => {
      const error = await rejection(createUser(t.client.db, { profileData: {}, email: 'not-an-email', name: 'Bad' }));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.columns).toEqual(['email']);
      expect(error.message).toMatch(/email/);
      expect(await count('users', 'email_hash', emailHash('not-an-email'))).toBe(0);
    });

    // The database sees only ciphertext, so these rules (CHECKs before SEC-001) are the
    // application's: the validation schema enforces them, counting characters, not bytes.
    it.each([
      ['an email without @', { email: 'ada.example.com' }, 'email'],
      ['an email with two @', { email: 'ada@@example.com' }, 'email'],
      ['an email with a space', { email: 'ada lovelace@example.com' }, 'email'],
      ['an email of 321 characters', { email: `${'a'.repeat(316)}@x.io` }, 'email'],
      ['a name of 256 characters', { name: 'x'.repeat(256) }, 'name'],
      ['a name of 256 multi-byte characters', { name: '🦊'.repeat(256) }, 'name'],
    ])('rejects %s before any SQL', async (_rule, patch, field) => {
      const input = { email: uniqueEmail('rules'), name: 'Rules', ...patch };
      const error = await rejection(createUser(t.client.db, input));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.columns).toEqual([field]);
      expect(await count('users', 'email_hash', emailHash(input.email))).toBe(0);
    });

    it.each([
      ['an email of 320 characters', { email: `${'b'.repeat(315)}@x.io` }],
      ['a name of 255 multi-byte characters', { name: '🦊'.repeat(255) }],
      ['a name of 255 two-byte characters', { name: 'é'.repeat(255) }],
    ])('accepts %s', async (_rule, patch) => {
      const user = await createUser(t.client.db, { email: uniqueEmail('edge'), name: 'Edge', ...patch });
      expect(await getUser(t.client.db, user.id)).toMatchObject(patch);
    });

    it('rejects an empty name, naming the field, and writes no user', async () => {
      const email = uniqueEmail('noname');
      const error = await rejection(createUser(t.client.db, { profileData: {}, email, name: '' }));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.columns).toEqual(['name']);
      expect(error.message).toMatch(/name/);
      expect(await count('users', 'email_hash', emailHash(email))).toBe(0);
    });

    it('rejects a caller-chosen id that is a UUIDv4, naming the field', async () => {
      const id = randomUUID();
      const error = await rejection(createUser(t.client.db, { profileData: {}, id, email: uniqueEmail(), name: 'V4' }));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.columns).toEqual(['id']);
      expect(error.message).toMatch(/UUIDv7/);
      expect(await count('users', 'id', id)).toBe(0);

      const user = await ownerOf();
      const projectError = await rejection(createProject(t.client.db, { metadata: {}, id, name: 'V4', createdBy: user.id }));
      expect(projectError.columns).toEqual(['id']);
      expect(await count('projects', 'id', id)).toBe(0);
    });

    it('rejects language "english" and current_step 9 together, listing both fields, and writes no project', async () => {
      const user = await newUser();
      const error = await rejection(
        createProject(t.client.db, { metadata: {}, name: 'Bad project', createdBy: user.id, language: 'english', currentStep: 9 }),
      );
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.columns?.toSorted()).toEqual(['currentStep', 'language']);
      expect(error.message).toMatch(/language/);
      expect(error.message).toMatch(/currentStep/);
      const [row] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM projects WHERE name = 'Bad project'`;
      expect(row?.n).toBe(0);

      const emptyName = await rejection(createProject(t.client.db, { metadata: {}, name: '', createdBy: user.id }));
      expect(emptyName.columns).toEqual(['name']);
      expect(await count('projects', 'created_by', user.id)).toBe(0);
    });

    it('rejects bad changes to an existing project and leaves it unchanged', async () => {
      const user = await newUser();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Stable', createdBy: user.id });
      const error = await rejection(updateProject(t.client.db, project.id, { currentStep: 9, language: 'english' }));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.columns?.toSorted()).toEqual(['currentStep', 'language']);
      const [row] = await t.admin<{ current_step: number; language: string; updated_at: Date }[]>`
        SELECT current_step, language, updated_at FROM projects WHERE id = ${project.id}`;
      expect(row).toEqual({ current_step: 1, language: 'en', updated_at: project.updatedAt });
    });

    it('rejects a bad agent type and a non-UUID correlation id, and writes no execution', async () => {
      const user = await ownerOf();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Validated agents', createdBy: user.id });
      const error = await rejection(
        startAgentExecution(t.client.db, { projectId: project.id, agentType: 'Product Manager', correlationId: 'abc' }),
      );
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.columns?.toSorted()).toEqual(['agentType', 'correlationId']);
      expect(await count('agent_executions', 'project_id', project.id)).toBe(0);
    });

    it('rejects an empty-type document version and a bad export format, writing nothing', async () => {
      const user = await ownerOf();
      const project = await createProject(t.client.db, { metadata: {}, name: 'Validated docs', createdBy: user.id });
      const docError = await rejection(
        appendDocumentVersion(t.client.db, {
          metadata: {},
          projectId: project.id,
          documentType: 'readme' as 'about',
          content: 'x',
          createdBy: user.id,
        }),
      );
      expect(docError.code).toBe('INVALID_INPUT');
      expect(docError.columns).toEqual(['documentType']);
      expect(await count('document_versions', 'project_id', project.id)).toBe(0);

      const exportError = await rejection(
        createExport(t.client.db, { manifest: {}, projectId: project.id, format: 'docx' as 'pdf', createdBy: user.id }),
      );
      expect(exportError.code).toBe('INVALID_INPUT');
      expect(exportError.columns).toEqual(['format']);
      expect(await count('exports', 'project_id', project.id)).toBe(0);
    });
  });
});

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Database, type JeexDb } from '../../src/db/create-db.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { appendDocumentVersion, getDocumentHistory } from '../../src/db/queries/document-versions.ts';
import { createProject } from '../../src/db/queries/projects.ts';
import { createUser } from '../../src/db/queries/users.ts';
import type { DocumentType, DocumentVersion } from '../../src/schema/types.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

const WRITERS = 20;
const sequence = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('appendDocumentVersion under concurrent writers', () => {
  const t = useTestDatabase();
  /** One client per writer, each with a single connection: the appends really run in parallel. */
  const clients: JeexDb[] = [];
  let userId: string;

  beforeAll(async () => {
    for (let i = 0; i < WRITERS; i++) clients.push(createDb({ url: t.appUrl, max: 1, applicationName: `race-writer-${i}` }, {}));
    // Open every connection now, so the race is not just a race to connect.
    await Promise.all(clients.map((c) => c.sql`SELECT 1`));
    const user = await createUser(t.client.db, { email: `racer-${randomUUID()}@example.com`, name: 'Racer', profileData: {} });
    userId = user.id;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });

  const newProject = async () => (await createProject(t.client.db, { name: 'Race', createdBy: userId, metadata: {} })).id;
  const append = (db: Database, projectId: string, documentType: DocumentType, content: string, expectedVersion?: number) =>
    appendDocumentVersion(db, {
      projectId,
      documentType,
      content,
      createdBy: userId,
      metadata: {},
      ...(expectedVersion === undefined ? {} : { expectedVersion }),
    });
  const storedVersions = async (projectId: string, documentType: DocumentType): Promise<number[]> => {
    const rows = await t.admin<{ version: number }[]>`
      SELECT version FROM document_versions
      WHERE project_id = ${projectId} AND document_type = ${documentType} ORDER BY version`;
    return rows.map((r) => r.version);
  };

  it(`gives ${WRITERS} simultaneous appends the versions 1..${WRITERS}, no gap, no duplicate`, async () => {
    const projectId = await newProject();
    const results = await Promise.allSettled(clients.map((c, i) => append(c.db, projectId, 'specs', `writer ${i}`)));

    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toEqual([]);
    const saved = results.map((r) => (r as PromiseFulfilledResult<DocumentVersion>).value);
    expect(saved.map((v) => v.version).toSorted((a, b) => a - b)).toEqual(sequence(WRITERS));
    expect(await storedVersions(projectId, 'specs')).toEqual(sequence(WRITERS));

    // Every writer's content landed exactly once, and history shows all of them newest first.
    const history = await getDocumentHistory(t.client.db, projectId, 'specs');
    expect(history.map((v) => v.version)).toEqual(sequence(WRITERS).toReversed());
    expect(history.map((v) => v.content).toSorted()).toEqual(clients.map((_, i) => `writer ${i}`).toSorted());
  });

  it('keeps numbering right over several racing rounds on one document', async () => {
    const projectId = await newProject();
    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      await Promise.all(clients.map((c, i) => append(c.db, projectId, 'plan', `round ${round} writer ${i}`)));
    }
    expect(await storedVersions(projectId, 'plan')).toEqual(sequence(rounds * WRITERS));
  });

  it('with expectedVersion, exactly one of two writers based on the same version wins; the other gets VERSION_CONFLICT', async () => {
    const projectId = await newProject();
    const [a, b] = [clients[0]!, clients[1]!];
    for (let base = 0; base < 5; base++) {
      const results = await Promise.allSettled([
        append(a.db, projectId, 'architecture', `a on ${base}`, base),
        append(b.db, projectId, 'architecture', `b on ${base}`, base),
      ]);
      const won = results.filter((r): r is PromiseFulfilledResult<DocumentVersion> => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(won[0]!.value.version).toBe(base + 1);

      const error = lost[0]!.reason as JeexDbError;
      expect(error).toBeInstanceOf(JeexDbError);
      expect(error.code).toBe('VERSION_CONFLICT');
      expect(error.context).toMatchObject({ currentVersion: base + 1, expectedVersion: base });
      expect(error.message).toContain(`version ${base + 1}`);
      expect(error.hint).toMatch(/expectedVersion/);
    }
    expect(await storedVersions(projectId, 'architecture')).toEqual(sequence(5));
  });

  it(`with expectedVersion, ${WRITERS} writers on the same base: one version written, ${WRITERS - 1} conflicts`, async () => {
    const projectId = await newProject();
    await append(t.client.db, projectId, 'about', 'base', 0);
    const results = await Promise.allSettled(clients.map((c, i) => append(c.db, projectId, 'about', `edit ${i}`, 1)));
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as JeexDbError).code));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(1);
    expect(codes.filter((c) => c === 'VERSION_CONFLICT')).toHaveLength(WRITERS - 1);
    expect(await storedVersions(projectId, 'about')).toEqual([1, 2]);

    // A stale base is refused also without a race; the current one is accepted.
    const stale = await append(t.client.db, projectId, 'about', 'stale', 1).catch((e: unknown) => e as JeexDbError);
    expect((stale as JeexDbError).code).toBe('VERSION_CONFLICT');
    expect((stale as JeexDbError).context?.currentVersion).toBe(2);
    expect((await append(t.client.db, projectId, 'about', 'fresh', 2)).version).toBe(3);
  });

  it('numbers each document type of a project on its own while all are written at once', async () => {
    const projectId = await newProject();
    const types: DocumentType[] = ['about', 'specs', 'architecture', 'plan'];
    await Promise.all(clients.map((c, i) => append(c.db, projectId, types[i % types.length]!, `writer ${i}`)));
    for (const type of types) {
      expect(await storedVersions(projectId, type)).toEqual(sequence(WRITERS / types.length));
    }
  });

  it('a writer holding one type of a document blocks only that type, not the others', async () => {
    const projectId = await newProject();
    const [holder, sameType, otherType] = [clients[2]!, clients[3]!, clients[4]!];

    // Keep an append to `about` uncommitted inside an open transaction.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const holderDone = holder.db.transaction(async (tx) => {
      const version = await append(tx, projectId, 'about', 'held');
      holding();
      await released;
      return version;
    });
    await held;

    // Another type of the same project goes through at once.
    const specs = await append(otherType.db, projectId, 'specs', 'not blocked');
    expect(specs.version).toBe(1);

    // The same type waits for the holder: its INSERT met the holder's uncommitted version 1 under
    // the unique constraint and waits for that transaction to end (seen in pg_stat_activity).
    let sameTypeSettled = false;
    const blocked = append(sameType.db, projectId, 'about', 'waited').finally(() => (sameTypeSettled = true));
    const waitingOn = await waitForLockWait(`race-writer-3`);
    expect(waitingOn).toBe('transactionid');
    expect(sameTypeSettled).toBe(false);

    release();
    expect((await holderDone).version).toBe(1);
    expect((await blocked).version).toBe(2);
    expect(await storedVersions(projectId, 'about')).toEqual([1, 2]);
    expect(await storedVersions(projectId, 'specs')).toEqual([1]);
  });

  /** Poll pg_stat_activity until the writer with this application_name waits on a lock; returns the wait event. */
  async function waitForLockWait(applicationName: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const [row] = await t.admin<{ wait_event: string }[]>`
        SELECT wait_event FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = ${applicationName} AND wait_event_type = 'Lock'`;
      if (row) return row.wait_event;
      await sleep(25);
    }
    throw new Error(`${applicationName} never waited on a lock`);
  }
});

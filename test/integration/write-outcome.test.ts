import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { appendDocumentVersion } from '../../src/db/queries/document-versions.ts';
import { createProject } from '../../src/db/queries/projects.ts';
import { createUser } from '../../src/db/queries/users.ts';
import { processAlive } from '../../src/platform/process-alive.ts';
import { uniqueAppName } from '../helpers/activity.ts';
import { startDedicatedPooler, type DedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { healingClients, healingEmail, watchCrashes } from '../helpers/healing.ts';
import { refusal } from '../helpers/rejections.ts';
import { startRelay } from '../helpers/relay.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { rawUser } from '../helpers/users.ts';

// A write whose connection breaks after it was sent may have committed: it is reported as
// WRITE_OUTCOME_UNKNOWN (and the tests check that it did commit), never as "cannot reach"; one
// refused before anything was sent stays CONNECTION_FAILED, naming PgBouncer.
const t = useTestDatabase();
const client = healingClients(() => t.appUrl);
const server = inject('testServer');

let userId: string;
let pooler: DedicatedPooler | undefined;

beforeAll(async () => {
  userId = (await createUser(t.client.db, { email: `outcome-${randomUUID()}@example.com`, name: 'Outcome', profileData: {} })).id;
  pooler = await startDedicatedPooler();
});
afterAll(async () => {
  await pooler?.remove();
});

const newProject = async () => (await createProject(t.client.db, { name: 'Outcome', createdBy: userId, metadata: {} })).id;

/** The versions of a project's specs document, as a superuser reads them (committed rows only). */
const versionsOf = (projectId: string) => t.admin<{ id: string; version: number }[]>`SELECT id, version FROM document_versions WHERE project_id = ${projectId} AND document_type = 'specs' ORDER BY version`;

/** Wait until a backend of `applicationName` waits for a lock. */
async function lockWaiter(applicationName: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const [row] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${applicationName} AND wait_event_type = 'Lock'`;
    if (row?.n) return;
    await sleep(20);
  }
  throw new Error(`no backend of ${applicationName} came to wait for a lock`);
}

/** The app URL through a relay in front of the PgBouncer (client → relay → PgBouncer → PostgreSQL). */
function relayed(own: DedicatedPooler, port: number): string {
  const url = new URL(own.through(t.appUrl));
  url.port = String(port);
  return url.toString();
}

describe('a write whose connection breaks after it was sent', () => {
  it('an append in flight when PgBouncer is killed with SIGKILL: WRITE_OUTCOME_UNKNOWN naming the version id, and the version did commit', { timeout: 60_000 }, async (ctx) => {
    requirePooler(ctx, server);
    if (!pooler) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const projectId = await newProject();
    // Another writer holds version 1 of the document, uncommitted: the append's INSERT computes
    // the same number and waits on it (ON CONFLICT waits for the holder), inside PostgreSQL.
    const holder = await t.admin.reserve();
    const crashes = watchCrashes();
    try {
      await holder`BEGIN`;
      await holder`INSERT INTO document_versions (id, project_id, document_type, version, content, created_by) VALUES (${randomUUID()}, ${projectId}, 'specs', 1, 'held', ${userId})`;
      const applicationName = uniqueAppName('outcome_kill');
      const { db } = client({ url: pooler.through(t.appUrl), pooler: 'pgbouncer', max: 1, applicationName });
      const append = refusal(appendDocumentVersion(db, { projectId, documentType: 'specs', content: 'in flight', createdBy: userId }));
      // Its INSERT runs, waiting for the holder's row (not merely parsed: then nothing would commit).
      await lockWaiter(applicationName);
      const pid = await pooler.pid();
      if (!pid) throw new Error('the dedicated PgBouncer is not running');
      process.kill(pid, 'SIGKILL');
      const error = await append;
      expect(error.code).toBe('WRITE_OUTCOME_UNKNOWN');
      const id = error.context?.id as string;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(error.message).toContain(`PgBouncer at 127.0.0.1:${pooler.port}`);
      expect(error.message).toMatch(/may have been committed/);
      expect(error.message).toContain(`look for the version with id ${id}`);
      expect(error.hint).toMatch(/expectedVersion/);
      expect(error.message).not.toMatch(/cannot reach/);

      // The holder gives the number up: the append's INSERT, still running in PostgreSQL, takes
      // it and commits although its client is gone. A blind retry would have made version 2.
      await holder`ROLLBACK`;
      let rows: { id: string; version: number }[] = [];
      for (let i = 0; i < 100 && rows.length === 0; i++) {
        await sleep(50);
        rows = await versionsOf(projectId);
      }
      expect(rows).toEqual([{ id, version: 1 }]);
      expect(crashes.errors).toEqual([]);
    } finally {
      crashes.stop();
      holder.release();
      // Back for the next tests (ensurePooler starts a PgBouncer that died).
      await pooler.start();
    }
  });

  it('an INSERT outside a transaction whose answer is lost between client and PgBouncer: WRITE_OUTCOME_UNKNOWN, and the row is there', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    if (!pooler) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const relay = await startRelay(pooler.port);
    try {
      const { sql } = client({ url: relayed(pooler, relay.port), pooler: 'pgbouncer', max: 1 });
      const insert = (u: ReturnType<typeof rawUser>) => sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
      // Once, so the statement is known (described) on the client: the next one goes out whole.
      await insert(rawUser(`outcome-first-${randomUUID()}@example.com`, 'First'));
      const email = `outcome-insert-${randomUUID()}@example.com`;
      const cut = relay.cutAfterNextRequest();
      const error = await refusal(Promise.resolve(insert(rawUser(email, 'Lost answer'))));
      await cut;
      expect(error.code).toBe('WRITE_OUTCOME_UNKNOWN');
      expect(error.message).toContain(`PgBouncer at 127.0.0.1:${relay.port} broke after the INSERT was sent`);
      expect(error.hint).toMatch(/read whether its change is there first/);
      expect(await healingEmail(t.admin, email)).toBe(1);
    } finally {
      await relay.close();
    }
  });

  it("a transaction whose COMMIT's answer is lost: WRITE_OUTCOME_UNKNOWN, and it did commit", { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    if (!pooler) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const relay = await startRelay(pooler.port);
    try {
      const { db } = client({ url: relayed(pooler, relay.port), pooler: 'pgbouncer', max: 1 });
      const projectId = await newProject();
      let cut: Promise<void> | undefined;
      const error = await refusal(
        db.transaction(async (tx) => {
          const saved = await appendDocumentVersion(tx, { projectId, documentType: 'specs', content: 'committed, answer lost', createdBy: userId });
          // COMMIT is the next thing the client sends.
          cut = relay.cutAfterNextRequest();
          return saved;
        }),
      );
      await cut;
      expect(error.code).toBe('WRITE_OUTCOME_UNKNOWN');
      expect(error.message).toContain("broke after the transaction's COMMIT was sent");
      expect((await versionsOf(projectId)).map((r) => r.version)).toEqual([1]);
    } finally {
      await relay.close();
    }
  });

  it('a COMMIT written after the connection closed under the idle transaction is not ambiguous: nothing was sent, it was rolled back', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await startDedicatedPooler();
    if (!own) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    try {
      const { sql } = client({ url: own.through(t.appUrl), pooler: 'pgbouncer', max: 1 });
      const email = `outcome-idle-${randomUUID()}@example.com`;
      const error = await refusal(
        sql.begin(async (tx) => {
          const u = rawUser(email, 'Rolled back');
          await tx`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
          // PgBouncer dies while the transaction waits for the application: its server
          // connection closes, PostgreSQL rolls the transaction back.
          const pid = await own.pid();
          if (!pid) throw new Error('the dedicated PgBouncer is not running');
          process.kill(pid, 'SIGKILL');
          while (processAlive(pid)) await sleep(20);
          await sleep(200);
        }),
      );
      expect(error.code).toBe('CONNECTION_FAILED');
      expect(error.message).toContain(`the connection to PgBouncer at 127.0.0.1:${own.port} broke`);
      expect(await healingEmail(t.admin, email)).toBe(0);
    } finally {
      await own.remove();
    }
  });
});

describe('a write refused before anything was sent', () => {
  it('through a PgBouncer that is down: CONNECTION_FAILED naming PgBouncer and `jeex-db up`, and nothing was written', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await startDedicatedPooler();
    if (!own) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    try {
      const { sql, db } = client({ url: own.through(t.appUrl), pooler: 'pgbouncer', max: 1, connectTimeout: 2 });
      expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      const pid = await own.pid();
      if (!pid) throw new Error('the dedicated PgBouncer is not running');
      process.kill(pid, 'SIGKILL');
      while (processAlive(pid)) await sleep(20);
      // The client notices its connection closed; the next statements open new ones, refused.
      await sleep(100);
      const email = `outcome-refused-${randomUUID()}@example.com`;
      const u = rawUser(email, 'Never sent');
      const write = await refusal(Promise.resolve(sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`));
      expect(write.code).toBe('CONNECTION_FAILED');
      expect(write.message).toContain(`PgBouncer at 127.0.0.1:${own.port} is not answering (ECONNREFUSED)`);
      expect(write.message).toContain('`jeex-db up`');
      expect(write.message).not.toMatch(/PostgreSQL at/);
      const projectId = await newProject();
      const append = await refusal(appendDocumentVersion(db, { projectId, documentType: 'specs', content: 'never sent', createdBy: userId }));
      expect(append.code).toBe('CONNECTION_FAILED');
      expect(append.message).toMatch(/PgBouncer at .* is not answering/);
      const transaction = await refusal(sql.begin((tx) => tx`SELECT 1`));
      expect(transaction.message).toMatch(/PgBouncer at .* is not answering/);
      expect(await healingEmail(t.admin, email)).toBe(0);
      expect(await versionsOf(projectId)).toEqual([]);
    } finally {
      await own.remove();
    }
  });
});

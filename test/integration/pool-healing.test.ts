import { describe, expect, it } from 'vitest';
import { users } from '../../src/schema/index.ts';
import { backendsOf, runningBackend, terminate, uniqueAppName, waitForBackends } from '../helpers/activity.ts';
import { failure, healingClients, healingEmail, until, watchCrashes } from '../helpers/healing.ts';
import { refusal } from '../helpers/rejections.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { rawUser } from '../helpers/users.ts';
import { sealUser } from '../../src/db/queries/users.ts';

const t = useTestDatabase();

const client = healingClients(() => t.appUrl);

describe('healing after pg_terminate_backend', () => {
  it('idle connections killed under the pool are replaced: the next read and write work', async () => {
    const applicationName = uniqueAppName('heal_idle');
    const { sql, pool } = client({ max: 2, applicationName });
    await Promise.all([sql`SELECT pg_sleep(0.05)`, sql`SELECT pg_sleep(0.05)`]);
    const before = await waitForBackends(t.admin, applicationName, (all) => all.length === 2);
    await terminate(t.admin, before.map((b) => b.pid));
    // The client notices the closes (a statement sent before it does would meet a dead
    // connection: a read is retried, a write fails, as the tests below show).
    await until(() => pool().open === 0);

    const [row] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    expect(before.map((b) => b.pid)).not.toContain(row?.pid);
    const email = `heal-idle-${applicationName}@example.com`;
    const u = rawUser(email, 'Idle');
    await sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
    expect(await healingEmail(t.admin, email)).toBe(1);
    expect(pool()).toMatchObject({ used: 0, pending: 0 });
  });

  it('a read whose backend is killed mid-query is retried once on a new connection and answers', async () => {
    const applicationName = uniqueAppName('heal_read');
    // One connection: the retry must run on its replacement.
    const { sql } = client({ max: 1, applicationName });
    const read = Promise.resolve(sql<{ pid: number; answer: number }[]>`SELECT pg_backend_pid() AS pid, 42 AS answer FROM pg_sleep(0.5)`);
    const victim = await runningBackend(t.admin, applicationName, 'pg_sleep(0.5)');
    await terminate(t.admin, [victim.pid]);
    const [row] = await read;
    expect(row?.answer).toBe(42);
    expect(row?.pid).not.toBe(victim.pid);
  });

  it('is retried only once: a read killed twice fails with CONNECTION_FAILED', async () => {
    const applicationName = uniqueAppName('heal_twice');
    const { sql } = client({ max: 1, applicationName });
    const read = failure(sql`SELECT 1 FROM pg_sleep(0.5)`);
    const first = await runningBackend(t.admin, applicationName, 'pg_sleep(0.5)');
    await terminate(t.admin, [first.pid]);
    const retry = await runningBackend(t.admin, applicationName, 'pg_sleep(0.5)', [first.pid]);
    await terminate(t.admin, [retry.pid]);
    expect(await read).toBe('CONNECTION_FAILED');
    // No third attempt started.
    const after = await backendsOf(t.admin, applicationName);
    expect(after.filter((b) => b.state === 'active')).toEqual([]);
  });

  it('a write whose backend is killed while it runs fails with WRITE_OUTCOME_UNKNOWN (it may have committed) and is not run again', async () => {
    const applicationName = uniqueAppName('heal_write');
    const { sql } = client({ max: 2, applicationName });
    const email = `heal-write-${applicationName}@example.com`;
    const u = rawUser(email, 'Write');
    const write = failure(sql`INSERT INTO users (id, email, email_hash, name) SELECT ${u.id}, ${u.email}, ${u.email_hash}, ${u.name} FROM pg_sleep(0.5)`);
    const victim = await runningBackend(t.admin, applicationName, 'INSERT INTO users');
    await terminate(t.admin, [victim.pid]);
    // The client cannot know whether the server committed before it ended the session.
    expect(await write).toBe('WRITE_OUTCOME_UNKNOWN');
    // A retry would have inserted the row by now (the statement takes 0.5 s).
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await healingEmail(t.admin, email)).toBe(0);
    expect((await backendsOf(t.admin, applicationName)).filter((b) => b.state === 'active')).toEqual([]);
  });

  it('a transaction whose backend is killed fails, is not retried, and the connection comes back', async () => {
    const applicationName = uniqueAppName('heal_tx');
    // One connection: the one that died must be the one that serves again.
    const { sql, pool } = client({ max: 1, applicationName });
    const email = `heal-tx-${applicationName}@example.com`;
    const crashes = watchCrashes();
    try {
      let runs = 0;
      const transaction = failure(
        sql.begin(async (tx) => {
          runs++;
          const u = rawUser(email, 'Tx');
          await tx`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
          await tx`SELECT pg_sleep(0.5)`;
        }),
      );
      const victim = await runningBackend(t.admin, applicationName, 'pg_sleep(0.5)');
      await terminate(t.admin, [victim.pid]);
      expect(await transaction).toBe('CONNECTION_FAILED');
      expect(runs).toBe(1);
      expect(await healingEmail(t.admin, email)).toBe(0);
      expect(pool()).toMatchObject({ used: 0, pending: 0 });

      // Everything works again on the same client: reads, writes, transactions.
      await sql.begin(async (tx) => {
        const u = rawUser(email, 'Tx');
        await tx`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
      });
      expect(await healingEmail(t.admin, email)).toBe(1);
      expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      expect(pool()).toMatchObject({ used: 0, pending: 0, open: 1 });
      // postgres.js 3.4.9 would have thrown from a timer here (porsager/postgres#1208).
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(crashes.errors).toEqual([]);
    } finally {
      crashes.stop();
    }
  });

  it('a transaction whose connection dies between statements fails at its next statement, without crashing', async () => {
    const applicationName = uniqueAppName('heal_tx_idle');
    const { sql, pool } = client({ max: 1, applicationName });
    const crashes = watchCrashes();
    try {
      let reached = false;
      const error = await refusal(
        sql.begin(async (tx) => {
          // The server ends a session idle inside a transaction for longer than this.
          await tx`SET LOCAL idle_in_transaction_session_timeout = '150ms'`;
          await new Promise((resolve) => setTimeout(resolve, 500));
          await tx`SELECT 1`;
          reached = true;
        }),
      );
      expect(error.sqlState).toBe('25P03');
      expect(error.message).toContain('idle-in-transaction timeout');
      expect(reached).toBe(false);
      expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      expect(pool()).toMatchObject({ used: 0, pending: 0, open: 1 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(crashes.errors).toEqual([]);
    } finally {
      crashes.stop();
    }
  });

  it('a Drizzle transaction whose backend is killed fails the same way', async () => {
    const applicationName = uniqueAppName('heal_drizzle_tx');
    const { db, sql, cipher } = client({ max: 1, applicationName });
    const email = `heal-drizzle-${applicationName}@example.com`;
    const crashes = watchCrashes();
    try {
      let runs = 0;
      const transaction = failure(
        db.transaction(async (tx) => {
          runs++;
          await tx.insert(users).values(sealUser(cipher(), { email, name: 'Drizzle' }));
          await tx.execute('SELECT pg_sleep(0.5)');
        }),
      );
      const victim = await runningBackend(t.admin, applicationName, 'pg_sleep(0.5)');
      await terminate(t.admin, [victim.pid]);
      expect(await transaction).toBe('CONNECTION_FAILED');
      expect(runs).toBe(1);
      expect(await healingEmail(t.admin, email)).toBe(0);
      await db.insert(users).values(sealUser(cipher(), { email, name: 'Drizzle' }));
      expect(await healingEmail(t.admin, email)).toBe(1);
      expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(crashes.errors).toEqual([]);
    } finally {
      crashes.stop();
    }
  });
});

import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { asAppUser } from '../../src/ops/audit/app-user.ts';
import type { ChangeRow } from '../../src/ops/audit/changes.ts';
import { AUDIT_REDACTED_COLUMNS, REDACTED } from '../../src/ops/audit/redaction.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { insertUser, rawUser } from '../helpers/users.ts';

/** A row of jeex_audit.changes; the tests' rows are keyed by id. */
type Change = ChangeRow & { row_key: { id: string } };

// REQ-006.3, SEC-002: every data change to an application table is in jeex_audit.changes, written
// by a trigger that the application roles cannot bypass, read or undo.
describe('the audit trail (jeex_audit.changes)', () => {
  const t = useTestDatabase();
  const server = inject('testServer');
  let app: Sql;

  beforeAll(() => {
    app = connect(t.appUrl, { max: 2, onnotice: () => {}, connection: { application_name: 'audit-test' } });
  });
  afterAll(async () => {
    await app?.end({ timeout: 1 });
  });

  const changesOf = (id: string) =>
    t.admin<Change[]>`
      SELECT operation, table_name, row_key, old_values, new_values, db_role, session_role, app_user, host(client_addr) AS client_addr,
             application_name, transaction_id::text, at
      FROM jeex_audit.changes WHERE row_key ->> 'id' = ${id} ORDER BY id`;

  it('records an insert, an update and a delete with the role, the client address, the app user and the transaction, redacting personal data', async () => {
    const id = await insertUser(app, { email: 'audit@example.com', name: 'Ada Audit', profileData: { phone: '+1 555 0100' } });
    const renamed = rawUser('audit@example.com', 'Ada A.', id).name;
    const [{ xid } = { xid: '' }] = await asAppUser(app, 'user-7', async (tx) => {
      await tx`UPDATE users SET name = ${renamed}, last_login_at = now() WHERE id = ${id}`;
      return tx<{ xid: string }[]>`SELECT pg_current_xact_id()::text AS xid`;
    });
    await app`DELETE FROM users WHERE id = ${id}`;

    const rows = await changesOf(id);
    expect(rows.map((r) => r.operation)).toEqual(['INSERT', 'UPDATE', 'DELETE']);
    for (const row of rows) {
      expect(row).toMatchObject({ table_name: 'users', row_key: { id }, db_role: server.app.user, session_role: server.app.user, client_addr: '127.0.0.1', application_name: 'audit-test' });
      expect(row.transaction_id).toMatch(/^\d+$/);
    }
    const [insert, update, remove] = [...rows] as [Change, Change, Change];
    // INSERT: the new row, with email, name and profile redacted; nothing before.
    expect(insert.old_values).toBeNull();
    expect(insert.new_values).toMatchObject({ id, email: REDACTED, name: REDACTED, profile_data: REDACTED, last_login_at: null });
    expect(JSON.stringify(rows)).not.toMatch(/audit@example\.com|Ada|555 0100/);
    // UPDATE: only what changed (a redacted column that changed still shows that it did), and who asked.
    expect(Object.keys(update.new_values ?? {}).sort()).toEqual(['last_login_at', 'name', 'updated_at']);
    expect(update.old_values).toMatchObject({ name: REDACTED, last_login_at: null });
    expect(update.new_values).toMatchObject({ name: REDACTED, last_login_at: expect.any(String) as string });
    expect(update.app_user).toBe('user-7');
    expect(update.transaction_id).toBe(xid);
    expect(insert.app_user).toBeNull();
    // DELETE: the row as it was, redacted.
    expect(remove.new_values).toBeNull();
    expect(remove.old_values).toMatchObject({ id, email: REDACTED, name: REDACTED });
    expect(insert.at.getTime()).toBeLessThanOrEqual(remove.at.getTime());
  });

  it('records the rows a cascade deletes, in the same transaction', async () => {
    const userId = await insertUser(app, { email: 'cascade@example.com', name: 'C' });
    const [project] = await app<{ id: string }[]>`INSERT INTO projects (name, created_by) VALUES ('Cascade', ${userId}) RETURNING id`;
    await app`DELETE FROM users WHERE id = ${userId}`;
    const [userDelete] = (await changesOf(userId)).filter((r) => r.operation === 'DELETE');
    const [projectDelete] = (await changesOf(project?.id ?? '')).filter((r) => r.operation === 'DELETE');
    expect(projectDelete).toMatchObject({ table_name: 'projects', db_role: server.app.user, transaction_id: userDelete?.transaction_id });
    expect(projectDelete?.old_values).toMatchObject({ name: 'Cascade' });
  });

  it('records what the migrator changes as the owner role, with the role that logged in', async () => {
    const migrator = connect(t.migratorUrl, { max: 1, onnotice: () => {} });
    try {
      const userId = await insertUser(migrator, { email: 'owner@example.com', name: 'O' });
      const [row] = await changesOf(userId);
      expect(row).toMatchObject({ operation: 'INSERT', db_role: server.roles.owner, session_role: server.migrator.user });
    } finally {
      await migrator.end({ timeout: 1 });
    }
  });

  it('the application role can neither read nor change the trail', async () => {
    for (const statement of ['SELECT * FROM jeex_audit.changes', 'UPDATE jeex_audit.changes SET app_user = NULL', 'DELETE FROM jeex_audit.changes', 'TRUNCATE jeex_audit.changes']) {
      const error = await app.unsafe(statement).then(() => undefined, (e: { code?: string }) => e);
      expect(error, statement).toMatchObject({ code: '42501' });
    }
  });

  it('is append-only even for the owner and a superuser: UPDATE, DELETE and TRUNCATE are refused', async () => {
    const [{ n: before } = { n: 0 }] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM jeex_audit.changes`;
    expect(before).toBeGreaterThan(0);
    const owner = connect(t.migratorUrl, { max: 1, onnotice: () => {} });
    try {
      for (const [sql, statement] of [
        [owner, 'UPDATE jeex_audit.changes SET app_user = NULL'],
        [owner, 'DELETE FROM jeex_audit.changes'],
        [t.admin, 'DELETE FROM jeex_audit.changes'],
        [t.admin, 'TRUNCATE jeex_audit.changes'],
      ] as const) {
        const error = await sql.unsafe(statement).then(() => undefined, (e: { code?: string; message?: string }) => e);
        expect(error, statement).toMatchObject({ code: '42501', message: expect.stringContaining('append-only') as string });
      }
    } finally {
      await owner.end({ timeout: 1 });
    }
    const [{ n: after } = { n: 0 }] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM jeex_audit.changes`;
    expect(after).toBe(before);
  });

  it('the triggers redact exactly the columns src/ops/audit/redaction.ts lists', async () => {
    const rows = await t.admin<{ table: string; args: string[] }[]>`
      SELECT c.relname AS table,
             coalesce((SELECT array_agg(a) FROM unnest(string_to_array(rtrim(encode(tg.tgargs, 'escape'), E'\\\\000'), E'\\\\000')) a WHERE a <> ''), '{}') AS args
      FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_proc p ON p.oid = tg.tgfoid
      WHERE p.proname = 'record_change' AND NOT tg.tgisinternal ORDER BY c.relname`;
    expect(Object.fromEntries(rows.map((r) => [r.table, r.args]))).toEqual(AUDIT_REDACTED_COLUMNS);
  });

  it('through PgBouncer (transaction pooling), SET LOCAL names the app user of each transaction', async (ctx) => {
    requirePooler(ctx, server);
    const pooled = connect(t.pooledAppUrl ?? '', { max: 2, prepare: false, onnotice: () => {} });
    try {
      const ids = await Promise.all(
        ['pooled-1', 'pooled-2', 'pooled-3'].map((who) =>
          asAppUser(pooled, who, async (tx) => insertUser(tx, { email: `${who}@example.com`, name: who })),
        ),
      );
      const users = await Promise.all(ids.map(async (id) => (await changesOf(id))[0]?.app_user));
      expect(users).toEqual(['pooled-1', 'pooled-2', 'pooled-3']);
      // A transaction without SET LOCAL on a server connection that had one before: no leftover.
      const plainId = await insertUser(pooled, { email: 'plain@example.com', name: 'P' });
      expect((await changesOf(plainId))[0]?.app_user).toBeNull();
    } finally {
      await pooled.end({ timeout: 1 });
    }
  });
});

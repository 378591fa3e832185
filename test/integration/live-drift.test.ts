import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { migrate, plan, rollback, status } from '../../src/migrate/index.ts';
import { baseline, verifiedStatus } from '../../src/migrate/live-drift-verify.ts';
import { schemaIdentifier } from '../../src/migrate/live-drift-reference.ts';
import { checkHealth } from '../../src/ops/health/check-health.ts';
import { PACKAGE_MIGRATIONS, PACKAGE_TAGS } from '../helpers/migrations.ts';
import { rejection } from '../helpers/rejections.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { withDatabase } from '../helpers/urls.ts';
import { inject } from 'vitest';

const NEWEST = PACKAGE_TAGS.at(-1) ?? '';
// The three hand-made changes of the issue, on objects the package's migrations make.
const HAND_CHANGES = [
  'ALTER TABLE projects ADD COLUMN owner_note text',
  'DROP INDEX projects_created_by_status_updated_at_idx',
  'ALTER TABLE exports ALTER COLUMN download_count TYPE bigint',
];
const THE_THREE = [
  'column public.exports.download_count: type integer by the migrations, bigint in the database',
  'column public.projects.owner_note: in the database, not made by the migrations',
  'index public.projects_created_by_status_updated_at_idx: made by the migrations, missing in the database',
];
const UNDO = [
  'ALTER TABLE projects DROP COLUMN owner_note',
  'CREATE INDEX projects_created_by_status_updated_at_idx ON projects USING btree (created_by, status, updated_at DESC NULLS FIRST)',
  'ALTER TABLE exports ALTER COLUMN download_count TYPE integer',
];

const messages = (result: { drift: { differences: { message: string }[] } }) => result.drift.differences.map((d) => d.message);

describe('live drift: a migrated database changed by hand', () => {
  let db: TestDatabase;
  let admin: Sql;
  let sql: Sql;
  let monitor: Sql;
  const reference = () => ({ serverUrls: [inject('testServer').adminUrl] });

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = connect(db.adminUrl, { max: 1, onnotice: () => {} });
    sql = connect(db.migratorUrl, { max: 2, onnotice: () => {} });
    const server = inject('testServer');
    monitor = connect(withDatabase(server.adminUrl, db.name, server.monitor), { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await monitor?.end();
    await sql?.end();
    await admin?.end();
    await db?.drop();
  });

  it('is up to date before the hand changes, with the schema recorded by the migrating run', async () => {
    const result = await status(sql);
    expect(result).toMatchObject({ upToDate: true, pending: [], problems: [] });
    expect(result.drift).toMatchObject({ expected: 'recorded', differences: [] });
  });

  it('status names the column added, the index dropped and the type changed (before: "up to date")', async () => {
    for (const change of HAND_CHANGES) await admin.unsafe(change);
    const result = await status(sql);
    expect(messages(result)).toEqual(THE_THREE);
    expect(result.upToDate).toBe(false);
    // Still no problem for assertUpToDate: a service starts on a drifted database.
    expect(result.problems).toEqual([]);
    const type = result.drift.differences.find((d) => d.name === 'public.exports.download_count');
    expect(type).toMatchObject({ object: 'column', change: 'changed', properties: [{ property: 'type', expected: 'integer', actual: 'bigint' }] });
  });

  it('status --verify finds the same three against a scratch reference database, and drops it', async () => {
    const result = await verifiedStatus(sql, { reference: reference() });
    expect(result.drift.expected).toBe('reference');
    expect(messages(result)).toEqual(THE_THREE);
    const left = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'jeex_reference_%'`;
    expect(left[0]?.n).toBe(0);
  });

  it('the health check warns with the objects (as the monitoring role)', async () => {
    const doc = await checkHealth(monitor, { env: {}, migrationsDir: PACKAGE_MIGRATIONS });
    const drift = doc.checks['migrations:drift']?.[0];
    expect(drift).toMatchObject({ status: 'warn', observedValue: 3, observedUnit: '{object}' });
    for (const message of THE_THREE) expect(drift?.output).toContain(message);
    expect(doc.checks['migrations:pending']?.[0]?.status).toBe('pass');
  });

  it('plan and migrate warn and do not refuse; the record keeps the drift through a rollback and a migrate', async () => {
    const planned = await plan(sql, { lint: false });
    expect(planned.drift?.differences.map((d) => d.message)).toEqual(THE_THREE);
    const up = await migrate(sql, { restorePoint: false });
    expect(up.upToDate).toBe(true);
    expect(up.warnings.join('\n')).toMatch(/drifted from what its applied migrations make \(3 difference\(s\)/);
    expect(messages(await status(sql))).toEqual(THE_THREE);

    // A run on top of the drift must not make the hand changes "expected".
    await rollback(sql, { steps: 1, restorePoint: false });
    expect(messages(await status(sql))).toEqual(THE_THREE);
    await migrate(sql, { restorePoint: false });
    expect(messages(await status(sql))).toEqual(THE_THREE);
  });

  it('baseline --to an older migration on a database at the newest is refused with the differences', async () => {
    const refused = await rejection(baseline(sql, { to: PACKAGE_TAGS[2], reference: reference() }));
    expect(refused.code).toBe('BASELINE_MISMATCH');
    expect(refused.message).toContain(`not what the migrations make at ${PACKAGE_TAGS[2] ?? ''}`);
    // 0004 (the audit trail) is applied but not part of the reference: its schema is one difference, not one per object in it.
    expect(refused.message).toContain('schema jeex_audit: in the database, not made by the migrations (with everything in it)');
    expect(refused.message).not.toContain('column jeex_audit.changes.');
    expect(refused.hint).toContain('Nothing was recorded');
  });

  it('undoing the hand changes clears the drift', async () => {
    for (const change of UNDO) await admin.unsafe(change);
    const result = await status(sql);
    expect(result.drift.differences).toEqual([]);
    expect(result.upToDate).toBe(true);
  });

  // PostgreSQL 18 keeps a NOT NULL as a constraint too (pg_constraint, contype 'n'): a NOT NULL
  // changed by hand was two differences, the column's and a `..._not_null` constraint's.
  it('a NOT NULL set or dropped by hand is one difference, the column, naming its constraint', async () => {
    await admin.unsafe('ALTER TABLE projects ALTER COLUMN deleted_at SET NOT NULL');
    await admin.unsafe('ALTER TABLE projects ALTER COLUMN language DROP NOT NULL');
    try {
      const result = await status(sql);
      expect(messages(result)).toEqual([
        'column public.projects.deleted_at: notnull false by the migrations, true in the database (its constraint projects_deleted_at_not_null added)',
        'column public.projects.language: notnull true by the migrations, false in the database (the constraint projects_language_not_null dropped)',
      ]);
    } finally {
      await admin.unsafe('ALTER TABLE projects ALTER COLUMN deleted_at DROP NOT NULL');
      await admin.unsafe('ALTER TABLE projects ALTER COLUMN language SET NOT NULL');
    }
    expect((await status(sql)).drift.differences).toEqual([]);
  });
});

describe('an unledgered database with the schema present', () => {
  let db: TestDatabase;
  let sql: Sql;
  const reference = () => ({ serverUrls: [inject('testServer').adminUrl] });

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    sql = connect(db.migratorUrl, { max: 2, onnotice: () => {} });
    // The package's migrations applied by plain SQL, without our ledger or drizzle's table.
    for (const tag of PACKAGE_TAGS) await sql.unsafe(await readFile(join(PACKAGE_MIGRATIONS, `${tag}.sql`), 'utf8')).simple();
  });
  afterAll(async () => {
    await sql?.end();
    await db?.drop();
  });

  it('migrate refuses before running anything and points at baseline, naming the migration (before: "type already exists")', async () => {
    const refused = await rejection(migrate(sql, { restorePoint: false, identifySchema: schemaIdentifier(reference(), PACKAGE_MIGRATIONS) }));
    expect(refused.code).toBe('MIGRATION_UNLEDGERED');
    expect(refused.hint).toContain(`\`jeex-db baseline --to ${NEWEST}\``);
    const [rows] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM jeex_migrations.ledger`;
    expect(rows?.n).toBe(0);
    // Without a way to build references, the hint says how to find the migration.
    const plain = await rejection(migrate(sql, { restorePoint: false }));
    expect(plain.code).toBe('MIGRATION_UNLEDGERED');
    expect(plain.hint).toMatch(/status --verify.*baseline --to <name>/);
  });

  it('status reports it too, and --verify names the migration', async () => {
    expect((await status(sql)).problems.map((p) => p.code)).toEqual(['MIGRATION_UNLEDGERED']);
    const verified = await verifiedStatus(sql, { reference: reference() });
    expect(verified.problems[0]?.hint).toContain(`baseline --to ${NEWEST}`);
  });

  it('baseline without a role that may create databases says how; --to an older one is refused naming the match', async () => {
    const noCreatedb = await rejection(baseline(sql, { reference: { serverUrls: [db.migratorUrl] } }));
    expect(noCreatedb.code).toBe('MIGRATION_REFERENCE_UNAVAILABLE');
    expect(noCreatedb.message).toContain('may not CREATE DATABASE');
    expect(noCreatedb.hint).toMatch(/--reference-url.*--force/);

    const older = await rejection(baseline(sql, { to: PACKAGE_TAGS[3], reference: reference() }));
    expect(older.code).toBe('BASELINE_MISMATCH');
    expect(older.hint).toContain(`\`jeex-db baseline --to ${NEWEST}\``);
    expect(older.context).toMatchObject({ matches: NEWEST });
  });

  it('baseline to the migration it matches is accepted, then migrate is up to date with no drift', async () => {
    const done = await baseline(sql, { to: NEWEST, reference: reference(), restorePoint: false });
    expect(done).toMatchObject({ marked: [...PACKAGE_TAGS], verified: true });
    const up = await migrate(sql, { restorePoint: false });
    expect(up).toMatchObject({ upToDate: true, applied: [] });
    expect(up.warnings).toEqual([]);
    const result = await status(sql);
    expect(result).toMatchObject({ upToDate: true, problems: [] });
    expect(result.drift).toMatchObject({ expected: 'recorded', differences: [] });
  });

  it('a user-given empty reference database works without CREATEDB and is emptied afterwards', async () => {
    const scratch = await createTestDatabase({ empty: true });
    const ref = connect(scratch.migratorUrl, { max: 1, onnotice: () => {} });
    try {
      const result = await verifiedStatus(sql, { reference: { referenceUrl: scratch.migratorUrl } });
      expect(result.drift).toMatchObject({ expected: 'reference', differences: [] });
      const [left] = await ref<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'`;
      expect(left?.n).toBe(0);
      expect(await ref`SELECT 1 FROM pg_namespace WHERE nspname = 'jeex_audit'`).toHaveLength(0);
    } finally {
      await ref.end();
      await scratch.drop();
    }
  });
});

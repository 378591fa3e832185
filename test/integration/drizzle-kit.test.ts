import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { connect } from '../../src/db/connect.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const drizzleKit = join(root, 'node_modules', '.bin', 'drizzle-kit');

describe('drizzle-kit and the committed migrations', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  it('generating again from the schema produces no new migration (schema and SQL agree)', async () => {
    const work = await mkdtemp(join(tmpdir(), 'jeex-generate-'));
    cleanup.push(() => rm(work, { recursive: true, force: true }));
    await cp(join(root, 'drizzle'), join(work, 'drizzle'), { recursive: true });
    // drizzle-kit 0.31 mangles an absolute `out` ('.//tmp/...') and then exits 0 anyway: run it
    // inside the copy with a relative one, and check its output, not only its exit code.
    await writeFile(
      join(work, 'drizzle.config.ts'),
      `export default { dialect: 'postgresql', schema: ${JSON.stringify(join(root, 'src/schema/index.ts'))}, out: './drizzle' };\n`,
    );
    const listing = async () => [...(await readdir(join(work, 'drizzle'))), ...(await readdir(join(work, 'drizzle', 'meta')))];
    const before = await listing();
    const { stdout, stderr } = await run(drizzleKit, ['generate'], { cwd: work, env: { ...process.env, DATABASE_URL: '' } });
    expect(stderr).not.toMatch(/error/i);
    // The five application tables and the audit trail (jeex_audit.changes).
    expect(stdout).toMatch(/6 tables/);
    expect(stdout).toMatch(/No schema changes, nothing to migrate/);
    expect(await listing()).toEqual(before);
  });

  it('`drizzle-kit migrate` with drizzle.config.ts applies the migrations to an empty database', async () => {
    const database: TestDatabase = await createTestDatabase({ empty: true });
    cleanup.push(() => database.drop());
    await run(drizzleKit, ['migrate'], { cwd: root, env: { ...process.env, DATABASE_URL: database.migratorUrl } });

    const sql = connect(database.adminUrl, { max: 1, onnotice: () => {} });
    cleanup.push(() => sql.end());
    const tables = await sql<{ table_name: string }[]>`
      SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`;
    expect(tables.map((t) => t.table_name)).toEqual(['agent_executions', 'document_versions', 'exports', 'projects', 'users']);
    const triggers = await sql<{ tgname: string }[]>`
      SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname`;
    expect(triggers.map((t) => t.tgname)).toContain('users_set_updated_at');
    const [applied] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
    // One row per migration (the journal's entries): the .down.sql files are not migrations.
    const migrations = (await readdir(join(root, 'drizzle'))).filter((f) => f.endsWith('.sql') && !f.endsWith('.down.sql'));
    expect(migrations.length).toBeGreaterThanOrEqual(3);
    expect(applied?.n).toBe(migrations.length);
  });
});

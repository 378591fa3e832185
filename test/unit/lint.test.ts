import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { effectiveScript, lintScripts, type LintResult } from '../../src/migrate/lint.ts';
import { squawkLauncher } from '../../src/migrate/peers.ts';
import { DEFAULT_TIMEOUTS } from '../../src/migrate/runner.ts';
import { loadMigrations, script } from '../../src/migrate/source.ts';
import { PACKAGE_MIGRATIONS } from '../helpers/migrations.ts';
import { rejection } from '../helpers/rejections.ts';

const run = promisify(execFile);

/** A migration file in a scratch folder, parsed the way the runner parses it. */
async function scratchScript(dir: string, name: string, text: string) {
  const file = join(dir, `${name}.sql`);
  await writeFile(file, text);
  return { migration: name, script: script(file, text) };
}

/** 1-based line of the first line of `text` that contains `needle`. */
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('lintScripts (squawk on the SQL as the runner sends it)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jeex-lint-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the committed migrations: the four deliberate int columns of 0000 and the empty-table DDL of 0003, each accepted with the reason', async () => {
    const source = await loadMigrations(PACKAGE_MIGRATIONS);
    const result = await lintScripts(source.migrations.map((m) => ({ migration: m.tag, script: m.up })));
    const init = await readFile(join(PACKAGE_MIGRATIONS, '0000_init.sql'), 'utf8');
    const encrypt = await readFile(join(PACKAGE_MIGRATIONS, '0003_encrypt_users.sql'), 'utf8');
    expect(result.migrations).toEqual(source.migrations.map((m) => m.tag));
    expect(result.unsuppressed).toBe(0);
    expect(result.unusedIgnores).toEqual([]);
    const ints = result.findings.filter((f) => f.migration === '0000_init');
    expect(ints.map((f) => [f.migration, f.rule, f.line, f.suppressed])).toEqual(
      ['"duration_ms" integer', '"version" integer', '"download_count" integer', '"current_step" integer']
        .map((column) => lineOf(init, column))
        .sort((a, b) => a - b)
        .map((line) => ['0000_init', 'prefer-bigint-over-int', line, true]),
    );
    for (const finding of ints) {
      expect(finding.file).toBe(join('drizzle', '0000_init.sql'));
      expect(finding.reason).toMatch(/bounded counters/);
      // The column points at the type, in the file's own terms.
      expect(init.split('\n')[finding.line - 1]?.slice(finding.column - 1)).toMatch(/^integer/);
    }
    // 0003 changes users while it is empty (its DO block refuses otherwise): the locking and
    // validation findings are accepted for that reason, statement by statement.
    const ddl = result.findings.filter((f) => f.migration !== '0000_init');
    expect(ddl.map((f) => [f.migration, f.rule, f.suppressed])).toEqual([
      ['0003_encrypt_users', 'require-concurrent-index-deletion', true],
      ['0003_encrypt_users', 'adding-required-field', true],
      ['0003_encrypt_users', 'constraint-missing-not-valid', true],
      ['0003_encrypt_users', 'disallowed-unique-constraint', true],
      ['0003_encrypt_users', 'constraint-missing-not-valid', true],
      ['0003_encrypt_users', 'constraint-missing-not-valid', true],
      ['0003_encrypt_users', 'constraint-missing-not-valid', true],
    ]);
    // Each at the line of its statement, after the check that the table is empty.
    const emptyCheck = lineOf(encrypt, 'IF EXISTS (SELECT 1 FROM "public"."users")');
    for (const finding of ddl) {
      expect(finding.line).toBeGreaterThan(emptyCheck);
      expect(encrypt.split('\n')[finding.line - 1]).toMatch(/^(ALTER TABLE|DROP INDEX) /);
    }
    for (const finding of ddl) expect(finding.reason).toMatch(/users is empty/);
  });

  it('a non-concurrent CREATE INDEX on an existing table is reported at its line in the file', async () => {
    const text = ['-- Custom migration: speed up title search.', 'ALTER TABLE "projects" ADD COLUMN "slug" text;--> statement-breakpoint', '', 'CREATE INDEX "projects_slug_idx"', '  ON "projects" ("slug");', ''].join('\n');
    const entry = await scratchScript(dir, '0003_index', text);
    const result = await lintScripts([entry]);
    const finding = result.findings.find((f) => f.rule === 'require-concurrent-index-creation');
    expect(finding).toMatchObject({ migration: '0003_index', line: 4, column: 1, level: 'warning', suppressed: false });
    expect(finding?.file).toBe(entry.script.displayPath);
    expect(finding?.help).toMatch(/concurrently/i);
    expect(result.unsuppressed).toBe(result.findings.length);
  });

  it('`-- jeex:lint-ignore RULE reason` suppresses that rule only, keeping the reason', async () => {
    const text = [
      '-- jeex:lint-ignore require-concurrent-index-creation small table',
      'ALTER TABLE "projects" ADD COLUMN "slug" text;--> statement-breakpoint',
      'CREATE INDEX "projects_slug_idx" ON "projects" ("slug");--> statement-breakpoint',
      'ALTER TABLE "projects" ADD COLUMN "rank" integer;',
    ].join('\n');
    const result = await lintScripts([await scratchScript(dir, '0003_index', text)]);
    const index = result.findings.find((f) => f.rule === 'require-concurrent-index-creation');
    expect(index).toMatchObject({ line: 3, suppressed: true, reason: 'small table' });
    const int = result.findings.find((f) => f.rule === 'prefer-bigint-over-int');
    expect(int).toMatchObject({ line: 4, suppressed: false });
    expect(int?.reason).toBeUndefined();
    expect(result.unsuppressed).toBe(result.findings.filter((f) => f.rule !== 'require-concurrent-index-creation').length);
  });

  it('a directive for a rule that never fires is listed as unused', async () => {
    const text = '-- jeex:lint-ignore ban-drop-column nothing is dropped here\nALTER TABLE "projects" ADD COLUMN "slug" text;\n';
    const result = await lintScripts([await scratchScript(dir, '0003_unused', text)]);
    expect(result.findings).toEqual([]);
    expect(result.unusedIgnores).toEqual([expect.objectContaining({ migration: '0003_unused', line: 1, rule: 'ban-drop-column' })]);
  });

  it('lints what runs: inside the transaction with SET LOCAL timeouts, which the bare file lacks', async () => {
    const text = 'ALTER TABLE "projects" ADD COLUMN "slug" text;\n';
    const entry = await scratchScript(dir, '0003_add_column', text);
    // squawk on the bare file asks for the timeouts the runner sets; on what runs, it does not.
    const bare = await run(process.execPath, [squawkLauncher(), '--reporter', 'json', '--pg-version', '18.0', entry.script.file]).catch((error: { stdout: string }) => error);
    expect((JSON.parse(bare.stdout) as { rule_name: string }[]).map((v) => v.rule_name)).toEqual(expect.arrayContaining(['require-lock-timeout', 'require-statement-timeout']));
    expect((await lintScripts([entry])).findings).toEqual([]);

    const effective = effectiveScript(entry.script, DEFAULT_TIMEOUTS).text.split('\n');
    expect(effective[0]).toBe('BEGIN;');
    expect(effective[1]).toBe(`SET LOCAL lock_timeout = '${DEFAULT_TIMEOUTS.lockTimeoutMs}ms'; SET LOCAL statement_timeout = '${DEFAULT_TIMEOUTS.statementTimeoutMs}ms';`);
    expect(effective.at(-2)).toBe('COMMIT;');
  });

  it('a script that must run outside a transaction is linted without BEGIN, with its own timeout directives', async () => {
    const text = '-- jeex:lock-timeout 10s\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "projects_name_idx" ON "projects" ("name");\n';
    const entry = await scratchScript(dir, '0003_concurrently', text);
    expect(entry.script.mode).toBe('none');
    const effective = effectiveScript(entry.script, DEFAULT_TIMEOUTS).text;
    expect(effective).not.toMatch(/BEGIN|COMMIT/);
    expect(effective).toContain(`SET SESSION lock_timeout = '10000ms'`);
    const result = await lintScripts([entry]);
    // In a transaction squawk would refuse it (ban-concurrent-index-creation-in-transaction).
    expect(result.findings).toEqual([]);

    const wrapped = await scratchScript(dir, '0003_wrapped', `BEGIN;\n${text}COMMIT;\n`);
    const rules = (await lintScripts([wrapped])).findings.map((f) => [f.rule, f.line]);
    expect(rules).toContainEqual(['ban-concurrent-index-creation-in-transaction', 3]);
  });

  it('statements without a closing semicolon are still linted one by one, at their own lines and columns', async () => {
    const text = 'ALTER TABLE "projects" ADD COLUMN "rank" integer --> statement-breakpoint\n    CREATE INDEX "projects_rank_idx" ON "projects" ("rank")\n';
    const result = await lintScripts([await scratchScript(dir, '0003_no_semicolons', text)]);
    expect(result.findings.map((f) => [f.rule, f.line, f.column])).toEqual([
      ['prefer-bigint-over-int', 1, 42],
      ['require-concurrent-index-creation', 2, 5],
    ]);
  });

  describe('when squawk is missing or fails, linting fails loudly (never a silent pass)', () => {
    const one = async () => [await scratchScript(dir, '0003_any', 'ALTER TABLE "projects" ADD COLUMN "rank" integer;\n')];
    const fake = async (name: string, body: string) => {
      const file = join(dir, name);
      await writeFile(file, `#!/usr/bin/env node\n${body}\n`);
      await chmod(file, 0o755);
      return file;
    };

    it('no squawk at the path', async () => {
      const error = await rejection(lintScripts(await one(), { squawkPath: join(dir, 'no-such-squawk') }));
      expect(error.code).toBe('MIGRATION_LINT');
      expect(error.message).toMatch(/squawk is not at/);
      expect(error.hint).toMatch(/npm install -D squawk-cli/);
    });

    it('squawk exits with an error', async () => {
      const squawkPath = await fake('crashing-squawk', `process.stderr.write('squawk: the "@squawk-cli/linux-x64" optional dependency was not installed'); process.exit(1);`);
      const error = await rejection(lintScripts(await one(), { squawkPath }));
      expect(error.code).toBe('MIGRATION_LINT');
      expect(error.message).toMatch(/exited with code 1: squawk: the "@squawk-cli\/linux-x64" optional dependency/);
    });

    it('squawk prints something that is not its report', async () => {
      const squawkPath = await fake('silent-squawk', `process.exit(0);`);
      const error = await rejection(lintScripts(await one(), { squawkPath }));
      expect(error.code).toBe('MIGRATION_LINT');
      expect(error.message).toMatch(/no output/);
    });
  });

  it('nothing to lint is an empty result without running squawk', async () => {
    const result: LintResult = await lintScripts([], { squawkPath: join(dir, 'no-such-squawk') });
    expect(result).toEqual({ findings: [], unsuppressed: 0, unusedIgnores: [], migrations: [] });
  });
});

import { describe, expect, it } from 'vitest';
import { maskLiterals, splitSql, stripComments } from '../../src/migrate/sql-split.ts';
import { normaliseStatement } from '../../src/migrate/snapshot-sql.ts';

describe('splitSql: statements in one chunk, split where PostgreSQL splits them', () => {
  it('splits at top-level semicolons, with each offset at the statement', () => {
    const chunk = '-- lead\nCREATE INDEX CONCURRENTLY a ON t (x);\n  CREATE INDEX CONCURRENTLY b ON t (y);\n';
    const parts = splitSql(chunk);
    expect(parts.map((p) => p.sql)).toEqual(['CREATE INDEX CONCURRENTLY a ON t (x)', 'CREATE INDEX CONCURRENTLY b ON t (y)']);
    expect(parts.map((p) => chunk.slice(p.offset, p.offset + 6))).toEqual(['CREATE', 'CREATE']);
  });

  it('keeps semicolons inside strings, E-strings, identifiers, dollar quotes and (nested) comments', () => {
    const cases = [
      "SELECT 'a;b', 'it''s;'",
      "SELECT E'\\';x'",
      'SELECT 1 AS "a;b"',
      'DO $$ BEGIN PERFORM 1; END $$',
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $fn$ SELECT 1; $fn$',
      'SELECT 1 /* a; /* nested; */ b; */',
    ];
    for (const sql of cases) expect(splitSql(`${sql};`).map((p) => p.sql), sql).toEqual([sql]);
    expect(splitSql('SELECT 1 -- trailing; comment\n').map((p) => p.sql)).toEqual(['SELECT 1 -- trailing; comment']);
  });

  it('drops empty statements and comment-only tails; a parameter $1 is not a dollar quote', () => {
    expect(splitSql(';;\n-- only a comment;\n')).toEqual([]);
    expect(splitSql('PREPARE p AS SELECT $1; SELECT 2; -- done').map((p) => p.sql)).toEqual(['PREPARE p AS SELECT $1', 'SELECT 2']);
  });
});

describe('normaliseStatement: what the SQL-vs-snapshot comparison ignores', () => {
  it('quotes, case, spacing, CONCURRENTLY, IF NOT EXISTS, USING btree and NOT VALID', () => {
    expect(normaliseStatement('CREATE INDEX "a_idx" ON "public"."t" USING btree ("x");')).toBe(
      normaliseStatement('create index concurrently if not exists a_idx\n  on public.t (x)'),
    );
    expect(normaliseStatement('ALTER TABLE "t" ADD CONSTRAINT "fk" FOREIGN KEY ("a") REFERENCES "u"("id");')).toBe(
      normaliseStatement('ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id) NOT VALID;'),
    );
    expect(normaliseStatement('CREATE INDEX "a_idx" ON "t" ("x")')).not.toBe(normaliseStatement('CREATE INDEX "a_idx" ON "t" ("y")'));
  });

  it('a changed string or dollar-quoted body is a changed statement, even one holding -- or /*', () => {
    // Before: both were cut at the `--` and compared equal, so an edited default passed as unchanged.
    const base = `ALTER TABLE "t" ALTER COLUMN "c" SET DEFAULT '--a';`;
    expect(normaliseStatement(base)).not.toBe(normaliseStatement(`ALTER TABLE "t" ALTER COLUMN "c" SET DEFAULT '--b';`));
    expect(normaliseStatement(base)).not.toBe(normaliseStatement(`ALTER TABLE "t" ALTER COLUMN "c" SET DEFAULT '--A';`));
    expect(normaliseStatement(base)).toBe(normaliseStatement(`alter table t alter column c set default '--a' -- why\n;`));
    expect(normaliseStatement(`SELECT '/* x'`)).not.toBe(normaliseStatement(`SELECT '/* y'`));
    expect(normaliseStatement('DO $$ BEGIN RAISE NOTICE $q$Hi$q$; END $$')).not.toBe(normaliseStatement('DO $$ BEGIN RAISE NOTICE $q$hi$q$; END $$'));
  });
});

describe('stripComments and maskLiterals: the same reading of SQL as the split', () => {
  it('removes comments, not a -- or /* inside a string, an identifier or a dollar quote', () => {
    expect(stripComments("SET DEFAULT '--x'; -- why\nSELECT 1 /* a /* nested */ b */;")).toBe("SET DEFAULT '--x'; \nSELECT 1  ;");
    expect(stripComments('SELECT 1 AS "--x", $$ /* body */ $$')).toBe('SELECT 1 AS "--x", $$ /* body */ $$');
    expect(stripComments("SELECT E'\\'--'")).toBe("SELECT E'\\'--'");
    expect(stripComments('-- only')).toBe('');
  });

  it('masks strings and dollar quotes so the code around them can be rewritten, and restores them', () => {
    const { masked, restore } = maskLiterals(`SELECT 'It''s', $f$ Body $f$ FROM "T"`);
    expect(masked).not.toContain('It');
    expect(masked).toContain('"T"');
    expect(restore(masked.toLowerCase())).toBe(`select 'It''s', $f$ Body $f$ from "t"`);
  });
});

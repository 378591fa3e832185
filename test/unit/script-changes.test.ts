import { describe, expect, it } from 'vitest';
import { compareScripts, statementTokens } from '../../src/migrate/script-changes.ts';

describe('compareScripts (what mark-applied compares)', () => {
  it('treats comments, whitespace, keyword case and a trailing semicolon as cosmetic', () => {
    const applied = 'ALTER TABLE "t" ADD COLUMN "c" integer;--> statement-breakpoint\nCREATE INDEX "i" ON "t" ("c");';
    const now = '/* a /* nested */ note */ alter table "t"\n   add column "c" INTEGER -- why\n--> statement-breakpoint\ncreate index "i" on "t" ( "c" )';
    expect(compareScripts('x', applied, now)).toEqual({ migration: 'x', verdict: 'cosmetic', changes: [] });
    expect(compareScripts('x', applied, applied).verdict).toBe('same');
    expect(compareScripts('x', null, now).verdict).toBe('unverifiable');
  });

  it('sees changes inside string literals, quoted identifiers and dollar-quoted bodies, even ones that look like comments', () => {
    expect(compareScripts('x', "UPDATE t SET s = 'a--b';", "UPDATE t SET s = 'a--c';").verdict).toBe('changed');
    expect(compareScripts('x', 'ALTER TABLE "T" ADD COLUMN c int;', 'ALTER TABLE "t" ADD COLUMN c int;').verdict).toBe('changed');
    expect(compareScripts('x', 'DO $$ BEGIN PERFORM 1; -- one\nEND $$;', 'DO $$ BEGIN PERFORM 1; -- two\nEND $$;').verdict).toBe('changed');
    expect(compareScripts('x', 'SELECT a->b;', 'SELECT a - > b;').verdict).toBe('changed');
  });

  it('keeps quoted text whole and folds unquoted words', () => {
    expect(statementTokens(`SELECT 'it''s', "A""b" FROM T;`)).toEqual(['select', "'it''s'", ',', '"A""b"', 'from', 't']);
    // An E-string's backslash escape does not end it (the splitter's reading).
    expect(statementTokens(String.raw`SELECT E'a\'b', 1;`)).toEqual(['select', 'e', String.raw`'a\'b'`, ',', '1']);
  });

  it('lists removed, added and changed statements in order', () => {
    const edit = compareScripts('x', 'CREATE TABLE a (id int);\n--> statement-breakpoint\nCREATE TABLE b (id int);', 'CREATE TABLE a (id bigint);\n--> statement-breakpoint\nCREATE TABLE b (id int);\n--> statement-breakpoint\nCREATE TABLE c (id int);');
    expect(edit.changes).toEqual([{ before: 'CREATE TABLE a (id int);', after: 'CREATE TABLE a (id bigint);' }, { after: 'CREATE TABLE c (id int);' }]);
  });
});

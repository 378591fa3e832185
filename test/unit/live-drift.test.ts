import { describe, expect, it } from 'vitest';
import type { CatalogObject } from '../../src/migrate/catalog.ts';
import { carryDrift, compareSchemas, hasMigrationObjects } from '../../src/migrate/live-drift.ts';

const column = (name: string, type: string, extra: Record<string, string> = {}): CatalogObject => ({ kind: 'columns', schema: 'public', name, attributes: { position: '1', type, notnull: 'false', ...extra } });
const index = (name: string): CatalogObject => ({ kind: 'indexes', schema: 'public', name, attributes: { on: 't', definition: `CREATE INDEX ${name} ON t (a)` } });
const table = (name: string, owner: string): CatalogObject => ({ kind: 'relations', schema: 'public', name, attributes: { kind: 'r', owner, acl: '' } });

describe('compareSchemas', () => {
  it('names each extra, missing and changed object, and ignores owners, grants, positions and the ledgers', () => {
    const expected = [table('public.t', 'owner'), column('public.t.a', 'bigint'), index('public.t_a_idx')];
    const actual = [
      table('public.t', 'someone_else'),
      column('public.t.a', 'integer', { position: '4' }),
      column('public.t.note', 'text'),
      { kind: 'relations', schema: 'jeex_migrations', name: 'jeex_migrations.ledger', attributes: { kind: 'r' } } as CatalogObject,
    ];
    expect(compareSchemas(expected, actual).map((d) => d.message)).toEqual([
      'column public.t.a: type bigint by the migrations, integer in the database',
      'column public.t.note: in the database, not made by the migrations',
      'index public.t_a_idx: made by the migrations, missing in the database',
    ]);
    expect(compareSchemas(expected, expected)).toEqual([]);
  });

  it('an empty public schema and the ledgers are no objects of the migrations; a table is', () => {
    const schema = (name: string): CatalogObject => ({ kind: 'schemas', schema: name, name, attributes: {} });
    expect(hasMigrationObjects([schema('public'), schema('jeex_migrations'), schema('drizzle')])).toBe(false);
    expect(hasMigrationObjects([schema('public'), table('public.t', 'o')])).toBe(true);
  });
});

describe('carryDrift', () => {
  it('keeps a hand change a difference after a run that left it alone, and takes what the run changed', () => {
    const expected = [column('public.t.a', 'bigint'), index('public.t_a_idx')];
    const before = [column('public.t.a', 'integer'), column('public.t.note', 'text')]; // type changed, column added, index dropped
    const after = [...before, column('public.t.b', 'text')]; // the run added b
    const next = carryDrift(expected, before, after);
    expect(compareSchemas(next, after).map((d) => d.name)).toEqual(['public.t.a', 'public.t.note', 'public.t_a_idx']);
    expect(next.some((o) => o.name === 'public.t.b')).toBe(true);
  });
});

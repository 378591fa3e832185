import { describe, expect, it } from 'vitest';
import { covers, findDuplicateIndexes, type IndexInfo } from '../../src/ops/diagnose/duplicate-indexes.ts';

let nextOid = 1000;
/** A btree index on public.t with default operator classes; `columns` are key columns unless `include` is given. */
function index(name: string, columns: string[], extra: Partial<IndexInfo> = {}): IndexInfo {
  const keyCount = extra.keyCount ?? columns.length;
  return {
    name: `public.${name}`,
    oid: (nextOid += 1),
    table: 'public.t',
    method: 'btree',
    columns,
    keyCount,
    opclasses: columns.slice(0, keyCount).map(() => '3126'),
    collations: columns.slice(0, keyCount).map(() => '0'),
    options: columns.slice(0, keyCount).map(() => '0'),
    predicate: null,
    unique: false,
    primary: false,
    backsConstraint: false,
    valid: true,
    bytes: 8192,
    definition: `CREATE INDEX ${name} ON public.t USING btree (${columns.join(', ')})`,
    ...extra,
  };
}

describe('duplicate indexes (btree prefix rules)', () => {
  it('a btree whose key columns lead another is redundant; the reverse order is not', () => {
    expect(covers(index('ab', ['a', 'b']), index('a', ['a']))).toBe('prefix');
    expect(covers(index('ab', ['a', 'b']), index('b', ['b']))).toBeUndefined();
    expect(covers(index('a', ['a']), index('ab', ['a', 'b']))).toBeUndefined();
  });

  it('needs the same predicate, operator class, ordering, method and validity', () => {
    const big = index('ab', ['a', 'b']);
    expect(covers(big, index('a_partial', ['a'], { predicate: '(a > 0)' }))).toBeUndefined();
    expect(covers(big, index('a_pattern', ['a'], { opclasses: ['10044'] }))).toBeUndefined();
    expect(covers(big, index('a_desc', ['a'], { options: ['3'] }))).toBeUndefined();
    expect(covers(index('ab_hash', ['a', 'b'], { method: 'hash' }), index('a_hash', ['a'], { method: 'hash' }))).toBeUndefined();
    expect(covers(index('ab_bad', ['a', 'b'], { valid: false }), index('a', ['a']))).toBeUndefined();
  });

  it('a unique index is not made redundant by a wider one (it enforces something)', () => {
    expect(covers(index('ab', ['a', 'b']), index('a_key', ['a'], { unique: true }))).toBeUndefined();
    expect(covers(index('a_key', ['a'], { unique: true }), index('a', ['a']))).toBe('identical');
  });

  it('INCLUDE columns must be somewhere in the covering index', () => {
    const small = index('a_inc_c', ['a', 'c'], { keyCount: 1 });
    expect(covers(index('ab', ['a', 'b']), small)).toBeUndefined();
    expect(covers(index('abc', ['a', 'b', 'c']), small)).toBe('prefix');
  });

  it('of two identical indexes the later goes; an index backing a constraint never does', () => {
    const first = index('first', ['a']);
    const copy = index('copy', ['a']);
    expect(findDuplicateIndexes([copy, first]).map((d) => [d.redundant.name, d.coveredBy.name])).toEqual([['public.copy', 'public.first']]);
    const constraint = index('a_key', ['a'], { unique: true, backsConstraint: true });
    const plain = index('a_plain', ['a'], { unique: true });
    expect(findDuplicateIndexes([plain, constraint]).map((d) => d.redundant.name)).toEqual(['public.a_plain']);
  });

  it('indexes of different tables never cover each other', () => {
    expect(findDuplicateIndexes([index('ab', ['a', 'b']), index('a', ['a'], { table: 'public.u' })])).toEqual([]);
  });
});

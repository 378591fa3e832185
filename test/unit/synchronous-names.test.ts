import { describe, expect, it } from 'vitest';
import { synchronousRule } from '../../src/ops/ha/synchronous-names.ts';

describe('synchronousRule (synchronous_standby_names)', () => {
  it('reads quorum, priority and bare lists as PostgreSQL does', () => {
    expect(synchronousRule('ANY 1 (standby_a, "Standby B")')).toEqual({ method: 'any', count: 1, names: ['standby_a', 'Standby B'] });
    expect(synchronousRule('any 2(a,b,c)')).toEqual({ method: 'any', count: 2, names: ['a', 'b', 'c'] });
    expect(synchronousRule('FIRST 2 (a, b)')).toEqual({ method: 'first', count: 2, names: ['a', 'b'] });
    // A number without a keyword is FIRST; a bare list asks for its first standby.
    expect(synchronousRule('2 (a, b)')).toEqual({ method: 'first', count: 2, names: ['a', 'b'] });
    expect(synchronousRule(' a , b ')).toEqual({ method: 'first', count: 1, names: ['a', 'b'] });
    expect(synchronousRule('*')).toEqual({ method: 'first', count: 1, names: ['*'] });
    expect(synchronousRule('"a ""quoted"" name"')).toEqual({ method: 'first', count: 1, names: ['a "quoted" name'] });
  });

  it('is undefined when empty (asynchronous replication) or unreadable', () => {
    expect(synchronousRule('')).toBeUndefined();
    expect(synchronousRule('   ')).toBeUndefined();
    for (const bad of ['ANY (a)', 'a,,b', 'a,', '"unclosed', 'a b', 'FIRST 1 ()']) expect(synchronousRule(bad), bad).toBeUndefined();
  });
});

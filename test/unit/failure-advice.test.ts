import { describe, expect, it } from 'vitest';
import { duplicateKey } from '../../src/migrate/failure-advice.ts';

describe('duplicateKey (the DETAIL of a unique violation)', () => {
  it('reads the key of an index build and of a written row', () => {
    expect(duplicateKey('Key (name)=(one) is duplicated.', 'projects')).toEqual({ columns: 'name', value: 'one', masked: false });
    expect(duplicateKey("Key ((e ->> 'a'::text))=(S) is duplicated.", 't')).toEqual({ columns: "(e ->> 'a'::text)", value: 'S', masked: false });
    expect(duplicateKey('Key (c, id)=(y, 1) already exists.', 't')).toEqual({ columns: 'c, id', value: 'y, 1', masked: false });
    expect(duplicateKey('Failing row contains (1, x).', 't')).toBeUndefined();
  });

  it('hides the whole value when any column of the key is personal data (src/schema/sensitive.ts)', () => {
    const key = duplicateKey(String.raw`Key (project_id, email_hash)=(42, \x0102abcdef) is duplicated.`, 'users');
    expect(key?.masked).toBe(true);
    expect(key?.value).not.toContain('abcdef');
    expect(key?.value).not.toContain('42');
    expect(key?.value).toContain('email_hash is personal data');
    // The same column name in a table where it is not listed is shown.
    expect(duplicateKey('Key (email_hash)=(x) is duplicated.', 'projects')?.masked).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { bytesProblem, charsProblem, jsonProblem, MAX_JSON_DEPTH, thousands } from '../../src/schema/input-bounds.ts';
import { insertProjectSchema, insertUserSchema } from '../../src/schema/validation.ts';

describe('input bounds (size first)', () => {
  it('charsProblem counts code points, refuses by length alone past twice the limit, and refuses lone surrogates', () => {
    expect(charsProblem('🦊'.repeat(255), 1, 255)).toBeUndefined(); // 510 UTF-16 units, 255 characters
    expect(charsProblem(`${'🦊'.repeat(200)}${'a'.repeat(56)}`, 1, 255)).toBe('must be 1 to 255 characters long'); // 456 units, 256 characters
    expect(charsProblem('x'.repeat(511), 1, 255)).toBe('must be 1 to 255 characters long (it has 511 UTF-16 code units)');
    expect(charsProblem('', 1, 255)).toBe('must be 1 to 255 characters long');
    expect(charsProblem('a\uD83E', 1, 255)).toContain('lone surrogate');
    expect(charsProblem('\uDD8Ab', 1, 255)).toContain('lone surrogate');
  });

  it('bytesProblem counts UTF-8 bytes without encoding what is plainly too long', () => {
    expect(bytesProblem('é'.repeat(5), 10)).toBeUndefined();
    expect(bytesProblem('é'.repeat(6), 10)).toBe('must be at most 10 bytes (UTF-8); it has 12');
    expect(bytesProblem('x'.repeat(11), 10)).toBe('must be at most 10 bytes (UTF-8); it has 11 UTF-16 code units, so at least as many bytes');
    expect(bytesProblem('ok\uD83E', 10)).toContain('lone surrogate');
  });

  it('jsonProblem measures the JSON text, stops early, names the member, and bounds depth', () => {
    const mixed = { a: [1, 'two', null, true], b: { c: new Date(0) } };
    expect(jsonProblem(mixed, JSON.stringify(mixed).length)).toBeUndefined();
    expect(jsonProblem(mixed, JSON.stringify(mixed).length - 1)).toContain('at most');
    const value = { notes: 'x'.repeat(100) };
    expect(JSON.stringify(value).length).toBe(112);
    expect(jsonProblem(value, 112)).toBeUndefined();
    expect(jsonProblem(value, 111)).toBe('must be at most 111 bytes as JSON; it is larger');
    expect(jsonProblem({ list: ['ok', `cut\uD83E`] }, 1000)).toBe('list[1]: holds a lone surrogate (half of a UTF-16 pair, e.g. text cut in the middle of an emoji), which would be stored as U+FFFD: send well-formed text');
    expect(jsonProblem({ outer: { [`k\uDD8A`]: 1 } }, 1000)).toMatch(/^outer: a key holds a lone surrogate/);
    expect(jsonProblem({ n: 10n }, 1000)).toContain('n is a BigInt');
    let deep: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) deep = [deep];
    expect(jsonProblem(deep, 1e6)).toBeUndefined();
    expect(jsonProblem([deep], 1e6)).toBe(`is nested deeper than ${MAX_JSON_DEPTH} levels (or contains itself)`);
    const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]));
    expect(jsonProblem(wide, 1024)).toContain('at most 1,024 bytes');
    expect(jsonProblem(wide, JSON.stringify(wide).length)).toBeUndefined();
    const long = Array.from({ length: 10_000 }, (_, i) => i % 10);
    expect(jsonProblem(long, JSON.stringify(long).length)).toBeUndefined();
    expect(jsonProblem(long, JSON.stringify(long).length - 1)).toContain('at most');
  });

  it('the zod schemas check the size before their regexes and refinements', () => {
    const email = insertUserSchema.safeParse({ email: `${'a'.repeat(5_000_000)}@x.io`, name: 'A' });
    expect(email.success).toBe(false);
    // One issue (the size), not the regex's as well: the checks after it did not run.
    expect(email.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([['email', 'must be 1 to 320 characters long (it has 5,000,005 UTF-16 code units)']]);
    const language = insertProjectSchema.safeParse({ name: 'P', createdBy: '0190a4b1-3c2d-7e4f-8a5b-6c7d8e9f0a1b', language: 'e'.repeat(1000) });
    expect(language.error?.issues.map((issue) => issue.message)).toEqual(['must be 1 to 255 characters long (it has 1,000 UTF-16 code units)']);
    const owner = insertProjectSchema.safeParse({ name: 'P', createdBy: 'a'.repeat(5_000_000) });
    expect(owner.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([['createdBy', 'must be a UUID (36 characters)']]);
    const metadata = insertProjectSchema.safeParse({ name: 'P', createdBy: '0190a4b1-3c2d-7e4f-8a5b-6c7d8e9f0a1b', metadata: ['not', 'an', 'object'] });
    expect(metadata.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['metadata']);
  });

  it('thousands groups digits', () => {
    expect([thousands(0), thousands(999), thousands(1000), thousands(8_388_608)]).toEqual(['0', '999', '1,000', '8,388,608']);
  });
});

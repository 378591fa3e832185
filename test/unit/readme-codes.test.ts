import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor } from '../../src/cli/exit-codes.ts';
import { errorCodes } from '../../src/core/errors.ts';

// docs/errors.md documents every exit code and every error code by hand (it moved there from the
// README); this keeps them in step with src/cli/exit-codes.ts and src/core/errors.ts (two
// branches once gave exit 36 two meanings).
const readme = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const section = (heading: string): string => {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`docs/errors.md has no "${heading}" section`);
  const next = readme.slice(start + heading.length + 2).search(/\n#{2,3} /);
  return next < 0 ? readme.slice(start) : readme.slice(start, start + heading.length + 2 + next);
};

/** The exit-code table's rows: the number and the codes named in the meaning column. */
function exitTable(): Map<number, string[]> {
  const rows = new Map<number, string[]>();
  for (const line of section('## Exit codes').split('\n')) {
    const match = /^\| (\d+) \| ([^|]*)\|/.exec(line);
    if (!match) continue;
    const number = Number(match[1]);
    if (rows.has(number)) throw new Error(`docs/errors.md's exit-code table lists ${number} twice`);
    rows.set(number, [...(match[2] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1] as string));
  }
  return rows;
}

describe('docs/errors.md: exit codes and error codes', () => {
  it('lists every exit code once, with the meaning exit-codes.ts gives it', () => {
    const table = exitTable();
    const numbers = Object.values(EXIT);
    expect(new Set(numbers).size, 'two EXIT names share a number').toBe(numbers.length);
    for (const [name, number] of Object.entries(EXIT)) {
      expect(table.has(number), `docs/errors.md's exit-code table lacks ${number} (${name})`).toBe(true);
      if (name in Object.fromEntries(errorCodes.map((c) => [c, true]))) {
        expect(table.get(number), `docs/errors.md's row ${number} should name ${name}`).toContain(name);
      }
    }
    for (const number of table.keys()) expect(numbers, `docs/errors.md lists exit ${number}, which exit-codes.ts does not have`).toContain(number);
  });

  it('every error code a row names exits with that row\'s number', () => {
    for (const [number, codes] of exitTable()) {
      for (const code of codes.filter((c) => (errorCodes as readonly string[]).includes(c))) {
        expect(exitCodeFor(code as (typeof errorCodes)[number]), `${code} is listed under exit ${number}`).toBe(number);
      }
    }
  });

  it('names every error code in the error-code list (or the exit-code table it points to), and no code that does not exist', () => {
    const text = section('## Error codes (`JeexDbError.code`)');
    const named = new Set([...text.matchAll(/`([A-Z][A-Z0-9_]{3,})`/g)].map((m) => m[1] as string));
    const inTable = new Set([...exitTable().values()].flat());
    for (const code of errorCodes) expect(named.has(code) || inTable.has(code), `docs/errors.md's error codes lack ${code}`).toBe(true);
    // (environment variables such as JEEX_DB_ACQUIRE_TIMEOUT are named there too)
    for (const code of [...named].filter((c) => !c.startsWith('JEEX_'))) expect(errorCodes as readonly string[], `docs/errors.md names ${code}, which errors.ts does not have`).toContain(code);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT as CLI_EXIT, exitCodeFor as cliExitCodeFor } from '../../src/cli/exit-codes.ts';
import { EXIT, errorCodes, errorEntries, errorGroups, exitCodeFor, exitEntries, type ErrorCode } from '../../src/core/codes.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { healthExitCode } from '../../src/ops/health/judge.ts';
import { ERRORS_DOC, REGENERATE, renderErrorsDoc } from '../../scripts/docs/errors.ts';

// docs/errors.md is generated from the registry in src/core/codes.ts; before it, README's tables
// were kept in step with two hand-written lists by hand (two branches once gave exit 36 two meanings).
describe('docs/errors.md', () => {
  it('is what the generator writes from the registry', () => {
    const written = readFileSync(ERRORS_DOC, 'utf8');
    expect(written, `docs/errors.md differs from src/core/codes.ts: run \`${REGENERATE}\` and commit docs/errors.md`).toBe(renderErrorsDoc());
  });

  it('has a row for every exit code and every error code, with its number', () => {
    const doc = renderErrorsDoc();
    for (const e of exitEntries) expect(doc).toContain(`| ${e.exit} | \`${e.name}\` |`);
    for (const e of errorEntries) expect(doc).toContain(`| \`${e.code}\` | ${e.exit} |`);
    expect(doc).toMatch(/^\| 53 \| `KEY_ROTATION_INCOMPLETE` \|/m);
  });
});

describe('the code registry', () => {
  const statusNumbers = new Set<number>(exitEntries.filter((e) => e.kind === 'status').map((e) => e.exit));
  const sharedNumbers = new Set<number>(exitEntries.filter((e) => e.kind === 'shared').map((e) => e.exit));

  it('names each code once, and the error codes are exactly the registry\'s', () => {
    const names = [...exitEntries.map((e) => e.name), ...errorEntries.map((e) => e.code)];
    expect(names.filter((name, i) => names.indexOf(name) !== i), 'a name twice').toEqual([]);
    expect(errorCodes).toEqual(errorEntries.map((e) => e.code));
    for (const e of errorEntries) expect(Object.keys(errorGroups), e.code).toContain(e.group);
  });

  it('gives each exit number one meaning: an error code\'s own, or an exit entry that names the codes sharing it', () => {
    const byNumber = new Map<number, string[]>();
    for (const e of errorEntries) byNumber.set(e.exit, [...(byNumber.get(e.exit) ?? []), e.code]);
    for (const [number, codes] of byNumber) {
      if (codes.length > 1) expect(sharedNumbers.has(number), `${codes.join(', ')} share exit ${number} and no exit entry says what it means`).toBe(true);
      // 0 would read as success, 3 as health's fail document, 130 as an interrupt.
      expect(statusNumbers.has(number) && !sharedNumbers.has(number), `${codes.join(', ')} exit ${number}, a status`).toBe(false);
    }
    for (const e of exitEntries) expect(e.exit >= 0 && e.exit <= 255 && Number.isInteger(e.exit), e.name).toBe(true);
    for (const e of errorEntries) expect(e.exit >= 1 && e.exit <= 125, `${e.code}: exit ${e.exit} (126+ are the shell's)`).toBe(true);
    // A shared number no code uses would be a status under another name.
    for (const e of exitEntries.filter((x) => x.kind === 'shared' && x.name !== 'FAILURE')) expect(byNumber.get(e.exit), `${e.name} (exit ${e.exit}) is no code's`).toBeDefined();
  });

  it('derives EXIT and exitCodeFor from it (and the CLI re-exports them)', () => {
    for (const e of errorEntries) {
      expect(exitCodeFor(e.code)).toBe(e.exit);
      expect(EXIT[e.code]).toBe(e.exit);
    }
    for (const e of exitEntries) expect(EXIT[e.name]).toBe(e.exit);
    expect(Object.keys(EXIT)).toHaveLength(exitEntries.length + errorEntries.length);
    expect([exitCodeFor(undefined), exitCodeFor('NOT_A_CODE' as ErrorCode)]).toEqual([1, 1]);
    expect(CLI_EXIT).toBe(EXIT);
    expect(cliExitCodeFor).toBe(exitCodeFor);
    expect(new JeexDbError('KEY_ROTATION_INCOMPLETE', 'rows left').code).toBe('KEY_ROTATION_INCOMPLETE');
  });

  it("keeps health's fail apart from a usage error", () => {
    expect([healthExitCode('pass'), healthExitCode('warn'), healthExitCode('fail')]).toEqual([EXIT.OK, EXIT.HEALTH_WARN, EXIT.HEALTH_FAIL]);
    expect(healthExitCode('fail')).not.toBe(EXIT.USAGE);
    expect(healthExitCode('fail')).not.toBe(EXIT.CONNECTION_FAILED);
  });
});

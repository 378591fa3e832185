/**
 * Writes docs/errors.md from the code registry (src/core/codes.ts): the exit codes of `jeex-db`
 * and every `JeexDbError.code`. Run it after changing the registry:
 *
 *   npm run docs:errors        (or: npx tsx scripts/docs/errors.ts)
 *
 * test/unit/errors-doc.test.ts fails while docs/errors.md differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorEntries, errorGroups, exitEntries } from '../../src/core/codes.ts';

export const ERRORS_DOC = fileURLToPath(new URL('../../docs/errors.md', import.meta.url));
export const REGENERATE = 'npm run docs:errors';

/** A table cell: one line, no unescaped pipe. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
const codeName = (name: string) => `\`${name}\``;

function exitTable(): string[] {
  const numbered = new Set<number>(exitEntries.map((e) => e.exit));
  const rows: { exit: number; name: string; meaning: string }[] = exitEntries.map((entry) => {
    const codes = entry.kind === 'shared' ? errorEntries.filter((e) => e.exit === entry.exit).map((e) => codeName(e.code)) : [];
    return { exit: entry.exit, name: entry.name, meaning: codes.length ? `${entry.summary} Error codes: ${codes.join(', ')}.` : entry.summary };
  });
  for (const entry of errorEntries) if (!numbered.has(entry.exit)) rows.push({ exit: entry.exit, name: entry.code, meaning: entry.summary });
  rows.sort((a, b) => a.exit - b.exit); // stable: FAILURE stays before HEALTH_WARN
  return ['| exit | name | meaning |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.exit} | ${codeName(r.name)} | ${cell(r.meaning)} |`)];
}

function errorTables(): string[] {
  const lines: string[] = [];
  for (const [group, title] of Object.entries(errorGroups)) {
    const entries = errorEntries.filter((e) => e.group === group);
    if (entries.length === 0) continue;
    lines.push(`### ${title}`, '', '| code | exit | summary |', '| --- | --- | --- |');
    for (const e of entries) lines.push(`| ${codeName(e.code)} | ${e.exit} | ${cell(e.summary)} |`);
    lines.push('');
  }
  return lines;
}

/** The text of docs/errors.md. */
export function renderErrorsDoc(): string {
  return [
    `<!-- Generated from src/core/codes.ts by \`${REGENERATE}\`: edit the registry, not this file. -->`,
    '',
    '# Exit codes and error codes',
    '',
    'Every error jeex-db raises is a `JeexDbError` with a stable `code`; scripts switch on it (or on',
    "`isJeexDbError(error, 'CODE')`), people read `message`, which says what happened and what to do.",
    'The CLI exits with the number of the code; a code without a number of its own exits 1.',
    'With `--json`, a failure still prints one JSON document on stdout:',
    '`{ "ok": false, "error": { "code", "message", "hint", "logExcerpt" }, "exitCode" }`.',
    '',
    '## Exit codes',
    '',
    '`jeex-db health` has its own meaning for 1 (a warning) and 3 (a failing check); everywhere',
    'else 1 is an unexpected failure, and 2 always a usage error.',
    '',
    ...exitTable(),
    '',
    '## Error codes',
    '',
    ...errorTables(),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(ERRORS_DOC, renderErrorsDoc());
  process.stdout.write(`wrote ${ERRORS_DOC}\n`);
}

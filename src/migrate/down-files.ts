import type { Problem } from './problems.ts';
import type { MigrationSource } from './source.ts';

/**
 * Every migration needs a reviewed `.down.sql` with statements: `rollback` refuses a missing,
 * empty or draft one, and the moment it is needed (a bad deploy) is the worst moment to write
 * one. `allowDraft` lets drafts pass (for development); missing and empty ones still fail.
 */
export function downFileProblems(source: MigrationSource, options: { allowDraft?: boolean } = {}): Problem[] {
  const problems: Problem[] = [];
  for (const migration of source.migrations) {
    const expected = migration.up.displayPath.replace(/\.sql$/, '.down.sql');
    const down = migration.down;
    if (!down) {
      problems.push({
        code: 'MIGRATION_NO_DOWN',
        migration: migration.tag,
        message: `${migration.tag} has no down migration (${expected}), so it cannot be rolled back`,
        hint: `Draft one with \`jeex-db migrate generate-down ${migration.tag}\`, review it, delete its "-- jeex:draft" line and commit it.`,
      });
    } else if (down.statements.length === 0) {
      problems.push({
        code: 'MIGRATION_NO_DOWN',
        migration: migration.tag,
        message: `${down.displayPath} has no statements, only comments`,
        hint: `Write the SQL that undoes ${migration.tag} (\`jeex-db migrate generate-down ${migration.tag} --force\` drafts it from the snapshots), then delete its "-- jeex:draft" line.`,
      });
    } else if (down.draft && !options.allowDraft) {
      const line = down.text.split('\n').findIndex((l) => /^\s*--\s*jeex:draft\b/.test(l)) + 1;
      problems.push({
        code: 'MIGRATION_NO_DOWN',
        migration: migration.tag,
        message: `${down.displayPath}:${line} is an unreviewed draft (its "-- jeex:draft" line), which rollback refuses`,
        hint: 'Review it (irreversible steps are marked WARNING), fix what needs fixing, delete its "-- jeex:draft" line and commit it. `jeex-db check --allow-draft-down` lets drafts pass while developing.',
      });
    }
  }
  return problems;
}

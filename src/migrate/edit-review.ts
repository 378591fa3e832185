import type { Sql, TransactionSql } from 'postgres';
import { JeexDbError } from '../core/errors.ts';
import { readAppliedScript } from './ledger.ts';
import { compareScripts, describeChanges, type ScriptEdit } from './script-changes.ts';
import type { Migration } from './source.ts';

export interface EditReview {
  edits: ScriptEdit[];
  /** What `mark-applied` prints: statement changes accepted, edits that cannot be verified. */
  warnings: string[];
}

/**
 * Before `mark-applied` records the new checksum of applied files that were edited: compare each
 * with the text the ledger kept when it ran. Comments and whitespace pass quietly; changed
 * statements are refused unless `acceptChanges` (then they are a warning), because recording the
 * new checksum would say the database has the new statements when it has what the old ones did;
 * with no kept text (applied before the ledger kept it) the edit is accepted with a warning.
 *
 * @example
 * const { warnings } = await reviewAppliedEdits(sql, [changed], { acceptChanges: false }); // throws MIGRATION_CHECKSUM_MISMATCH on a type change
 */
export async function reviewAppliedEdits(sql: Sql | TransactionSql, edited: Migration[], options: { acceptChanges?: boolean }): Promise<EditReview> {
  const edits: ScriptEdit[] = [];
  for (const migration of edited) edits.push(compareScripts(migration.tag, await readAppliedScript(sql, migration.tag), migration.up.text));
  const changed = edits.filter((e) => e.verdict === 'changed');
  if (changed.length > 0 && !options.acceptChanges) {
    const first = changed[0];
    throw new JeexDbError(
      'MIGRATION_CHECKSUM_MISMATCH',
      `${changed.map((e) => `${e.migration}.sql`).join(', ')} changed statements after ${changed.length > 1 ? 'they were' : 'it was'} applied (${changed.map((e) => `${e.migration}: ${describeChanges(e)}`).join('; ')}); ` +
        "the database still has what the applied statements did, so recording the new checksum would make status say it has the new ones. Nothing was recorded.",
      {
        hint:
          `Restore the applied text (\`git log -p -- '${first?.migration ?? ''}.sql'\`) and put the change in a new migration (\`npm run db:generate\`, or \`npx drizzle-kit generate --custom\`). ` +
          'Only if the database already has the new statements\' effect (done by hand), run mark-applied again with --accept-changes.',
        context: { edits: changed },
      },
    );
  }
  const warnings: string[] = [];
  for (const edit of edits) {
    if (edit.verdict === 'changed') {
      warnings.push(`${edit.migration}: statements changed after it was applied (${describeChanges(edit)}); accepted with --accept-changes: the database was not changed, so it must already have the new statements' effect`);
    } else if (edit.verdict === 'unverifiable') {
      warnings.push(
        `${edit.migration}: the ledger kept no copy of the text that was applied (it ran before jeex-db kept one), so this edit cannot be verified: check with \`git diff\` that only comments or whitespace changed. The new text is kept from now on.`,
      );
    }
  }
  return { edits, warnings };
}

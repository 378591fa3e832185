import { classifyStatement } from './classify.ts';
import type { Problem } from './problems.ts';
import type { Migration, MigrationScript } from './source.ts';
import { splitSql, stripComments } from './sql-split.ts';
import { lineColumn } from './statements.ts';

/**
 * Problems with how migrations would run, found in the files alone: `migrate` and `plan` refuse
 * the pending ones before anything runs, `rollback` the down scripts it would run, and `check`
 * (the CI gate) reports them for every migration so they never reach a deploy.
 */
export function runProblems(migrations: Migration[], options: { singleTransaction?: boolean }, direction: 'up' | 'down'): Problem[] {
  const problems: Problem[] = [];
  for (const migration of migrations) {
    const script = direction === 'up' ? migration.up : migration.down;
    if (!script) continue;
    if (script.mode === 'mixed') {
      const outside = script.statements.filter((_, i) => script.classifications[i]?.nonTransactional);
      const first = outside[0];
      const reason = first ? script.classifications[first.index]?.reason : undefined;
      problems.push({
        code: 'MIGRATION_MIXED_TRANSACTION',
        migration: migration.tag,
        message: `${script.displayPath} mixes statements that must run outside a transaction (line ${first?.line ?? '?'}: ${reason ?? ''}) with ones that run inside one`,
        hint:
          `Move the ${outside.length} statement(s) that must run outside a transaction into a migration of their own ` +
          '(`npx drizzle-kit generate --custom --name <name>`, then cut and paste them there), so a failure never leaves half a transaction applied.',
      });
    }
    problems.push(...unsplitChunks(migration.tag, script));
    problems.push(...newEnumValueUses(migration.tag, script));
    if (options.singleTransaction && script.mode === 'none') {
      problems.push({
        code: 'MIGRATION_MIXED_TRANSACTION',
        migration: migration.tag,
        message: `--single-transaction, but ${script.displayPath} must run outside a transaction (${script.classifications[0]?.reason ?? ''})`,
        hint: 'Run without --single-transaction, or apply up to the migration before it first (--to).',
      });
    }
  }
  return problems;
}

/**
 * The runner sends each chunk (the text between two `--> statement-breakpoint` lines) as one
 * query, and PostgreSQL runs a query of several statements as one implicit transaction: a
 * `CREATE INDEX CONCURRENTLY` in it fails with SQLSTATE 25001 at deploy time, after the chunks
 * before it ran. So a chunk with several statements may hold none that must run outside a
 * transaction.
 */
function unsplitChunks(tag: string, script: MigrationScript): Problem[] {
  const problems: Problem[] = [];
  for (const statement of script.statements) {
    const parts = splitSql(statement.sql);
    if (parts.length < 2) continue;
    const outside = parts.map((part) => ({ part, why: classifyStatement(part.sql) })).find((p) => p.why.nonTransactional);
    if (!outside) continue;
    const at = (offset: number) => lineColumn(script.text, statement.offset + offset).line;
    const lines = parts.map((p) => at(p.offset));
    const after = parts[0] ? at(parts[0].offset + parts[0].sql.length) : statement.line;
    problems.push({
      code: 'MIGRATION_STATEMENTS_NOT_SPLIT',
      migration: tag,
      message:
        `${script.displayPath}:${statement.line}: ${parts.length} statements (lines ${lines.join(', ')}) without a \`--> statement-breakpoint\` between them are sent as one query, ` +
        `which PostgreSQL runs as one transaction, and line ${at(outside.part.offset)} must run outside one (${outside.why.reason ?? ''}; the deploy would fail with SQLSTATE 25001)`,
      hint:
        `Put a line \`--> statement-breakpoint\` after each of these statements (the first ends at line ${after}) so each is sent on its own` +
        (script.mode === 'none' ? '.' : ', and move the ones that must run outside a transaction into a migration of their own (`npx drizzle-kit generate --custom --name <name>`).'),
    });
  }
  return problems;
}

/**
 * `ALTER TYPE ... ADD VALUE 'x'` runs in a transaction, but PostgreSQL refuses to use 'x' before
 * that transaction commits ("unsafe use of new value"): a later statement of the same file that
 * uses it must move to the next migration.
 */
export function newEnumValueUses(tag: string, script: MigrationScript): Problem[] {
  const problems: Problem[] = [];
  script.statements.forEach((statement, i) => {
    const added = /^\s*ALTER\s+TYPE\s+(\S+)\s+ADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'((?:[^']|'')+)'/i.exec(stripComments(statement.sql));
    if (!added) return;
    const literal = `'${added[2] ?? ''}'`;
    const user = script.statements.slice(i + 1).find((later) => stripComments(later.sql).includes(literal));
    if (!user) return;
    problems.push({
      code: 'MIGRATION_MIXED_TRANSACTION',
      migration: tag,
      message: `${script.displayPath} adds the enum value ${literal} to ${added[1] ?? 'a type'} (line ${statement.line}) and uses it at line ${user.line}, in the same transaction, which PostgreSQL refuses ("unsafe use of new value")`,
      hint: `Move the statements that use ${literal} into the next migration (\`npx drizzle-kit generate --custom\`), so the value is committed before it is used.`,
    });
  });
  return problems;
}

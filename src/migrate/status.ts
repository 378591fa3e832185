import type { LedgerEntry } from './ledger.ts';
import { collisionHint, rebaseTarget } from './merge-conflicts.ts';
import type { Problem } from './problems.ts';
import type { Migration, MigrationSource } from './source.ts';

export type MigrationStateName = 'applied' | 'pending' | 'changed' | 'missing' | 'failed' | 'interrupted';

export interface MigrationStatus {
  name: string;
  /** The journal's `when` (ms); undefined for a migration that exists only in the database. */
  when?: number;
  state: MigrationStateName;
  /** Pending, but older than the newest applied migration (merged from another branch). */
  outOfOrder?: boolean;
  /** Recorded by drizzle-kit migrate only; adopted into our ledger by the next `migrate`. */
  adopt?: boolean;
  sha256?: string;
  appliedSha256?: string;
  appliedAt?: string;
  appliedBy?: string;
  transaction?: 'transaction' | 'none' | 'mixed';
  hasDown?: boolean;
}

export interface Snapshot {
  statuses: MigrationStatus[];
  /** Migrations that would run, in order. */
  pending: Migration[];
  problems: Problem[];
  /** Not in the way of this run, but worth saying (a same-parent collision let through by --allow-out-of-order). */
  warnings: string[];
}

/**
 * Compare the files with the database's records (our ledger, and drizzle-orm's table for a
 * database migrated by `drizzle-kit migrate`), and list every problem found.
 */
export function compareWithDatabase(
  source: MigrationSource,
  ledger: Map<string, LedgerEntry>,
  drizzleRows: { hash: string; createdAt: number }[],
  options: { allowOutOfOrder?: boolean } = {},
): Snapshot {
  const problems: Problem[] = source.problems.filter((p) => !p.collision);
  const warnings: string[] = [];
  const statuses: MigrationStatus[] = [];
  const pending: Migration[] = [];
  const byWhen = new Map(source.migrations.map((m) => [m.when, m]));
  const drizzleByWhen = new Map(drizzleRows.map((row) => [row.createdAt, row]));

  const isApplied = (m: Migration) => ledger.get(m.tag)?.state === 'applied' || drizzleByWhen.has(m.when);
  const newestApplied = Math.max(0, ...source.migrations.filter(isApplied).map((m) => m.when));

  for (const migration of source.migrations) {
    const entry = ledger.get(migration.tag);
    const drizzleRow = drizzleByWhen.get(migration.when);
    const status: MigrationStatus = {
      name: migration.tag,
      when: migration.when,
      state: 'pending',
      sha256: migration.up.sha256,
      transaction: migration.up.mode,
      hasDown: Boolean(migration.down && !migration.down.draft),
    };
    if (entry?.state === 'applied' || (drizzleRow && entry?.state !== 'interrupted')) {
      const appliedSha = entry?.state === 'applied' ? entry.appliedSha256 : drizzleRow?.hash;
      status.appliedSha256 = appliedSha;
      if (entry?.state === 'applied') {
        status.appliedAt = entry.appliedAt?.toISOString();
        status.appliedBy = entry.last.appliedBy;
      } else status.adopt = true;
      status.state = appliedSha === migration.up.sha256 ? 'applied' : 'changed';
      if (status.state === 'changed') {
        problems.push({
          code: 'MIGRATION_CHECKSUM_MISMATCH',
          migration: migration.tag,
          message: `${migration.up.displayPath} changed after it was applied (sha256 ${short(appliedSha)} applied, ${short(migration.up.sha256)} on disk)`,
          hint:
            `Restore the file as it was applied (\`git log -p -- ${migration.up.displayPath}\`) and put the new change in a new migration (\`npm run db:generate\`). ` +
            `If the edit changes nothing in the database (a comment, formatting), accept it: \`jeex-db mark-applied ${migration.tag}\` ` +
            '(it compares the edit with the text that was applied; a changed statement also needs `--accept-changes`, and only when the database already has its effect).',
        });
      }
    } else if (entry?.state === 'interrupted') {
      status.state = 'interrupted';
      pending.push(migration);
    } else {
      if (entry?.last.direction === 'up' && entry.last.status === 'failed') status.state = 'failed';
      pending.push(migration);
      if (migration.when < newestApplied) {
        status.outOfOrder = true;
        if (!options.allowOutOfOrder) {
          const newer = source.migrations.filter((m) => isApplied(m) && m.when > migration.when).map((m) => m.tag);
          problems.push({
            code: 'MIGRATION_OUT_OF_ORDER',
            migration: migration.tag,
            message: `${migration.tag} is pending but older than ${newer.join(', ')}, which ${newer.length > 1 ? 'are' : 'is'} applied: it was generated on a branch merged later (drizzle-kit migrate would skip it silently)`,
            hint:
              `If it does not depend on or conflict with ${newer.join(', ')}, apply it deliberately: \`jeex-db migrate --allow-out-of-order\`. ` +
              `Otherwise generate it again on top: delete ${migration.up.displayPath}, its snapshot and its journal entry, then \`npm run db:generate\`.`,
          });
        }
      }
    }
    statuses.push(status);
  }

  for (const [name, entry] of ledger) {
    if (entry.state !== 'applied' || source.migrations.some((m) => m.tag === name)) continue;
    statuses.push({ name, state: 'missing', ...(entry.appliedSha256 ? { appliedSha256: entry.appliedSha256 } : {}) });
    const renamed = renamedTo(source, ledger, entry.appliedSha256);
    problems.push(renamed ? renamedMigration(name, renamed, source.dir) : missing(name, source.dir));
  }
  for (const row of drizzleRows) {
    if (byWhen.has(row.createdAt)) continue;
    const known = [...ledger.values()].some((e) => e.appliedSha256 === row.hash);
    if (known) continue;
    const name = `(drizzle-kit, created_at ${row.createdAt})`;
    statuses.push({ name, when: row.createdAt, state: 'missing', appliedSha256: row.hash });
    problems.push(missing(name, source.dir));
  }
  const applied = new Set(source.migrations.filter(isApplied).map((m) => m.tag));
  const collisions = collisionsHere(source, applied, options);
  problems.unshift(...collisions.problems);
  warnings.push(...collisions.warnings);
  problems.push(...directiveProblems(source, ['up']));
  return { statuses, pending, problems, warnings };
}

/**
 * The files' collisions, with the recipe this database allows: the one applied here is kept, the
 * other is rebased. Two snapshots with one parent but distinct numbers and idx (renumbered by
 * hand) run fine one after the other, so `--allow-out-of-order` lets them through with a warning;
 * a duplicate idx or number does not (drizzle-kit and the journal cannot hold both).
 */
function collisionsHere(source: MigrationSource, applied: Set<string>, options: { allowOutOfOrder?: boolean }): { problems: Problem[]; warnings: string[] } {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const context = { dir: source.dir, migrations: source.migrations, appliedHere: applied };
  for (const problem of source.problems) {
    const collision = problem.collision;
    if (!collision) continue;
    const rebase = collision.duplicate ? collision.rebase : rebaseTarget(collision, context);
    const here = { ...problem, collision: { ...collision, ...(rebase ? { rebase } : {}) }, hint: collisionHint(collision, context) };
    if (options.allowOutOfOrder && collision.kinds.every((kind) => kind === 'same-parent')) {
      warnings.push(`${problem.message} (let through by --allow-out-of-order; to untangle the snapshots: ${here.hint})`);
    } else problems.push(here);
  }
  return { problems, warnings };
}

/** Invalid `-- jeex:` directive comments in the migrations' up (and optionally down) scripts. */
export function directiveProblems(source: MigrationSource, sides: ('up' | 'down')[]): Problem[] {
  const problems: Problem[] = [];
  for (const migration of source.migrations) {
    for (const side of sides) {
      const script = side === 'up' ? migration.up : migration.down;
      for (const problem of script?.directives.problems ?? []) {
        problems.push({
          code: 'MIGRATION_INVALID_DIRECTIVE',
          migration: migration.tag,
          message: `${script?.displayPath ?? migration.tag}: ${problem}`,
          hint: 'Fix the directive comment (see docs/migrations.md, "Migration directives").',
        });
      }
    }
  }
  return problems;
}

/**
 * The pending migration whose file is, byte for byte, the one applied under another name: a
 * migration moved by `jeex-db rebase` (or renamed by hand) after this database applied it.
 */
function renamedTo(source: MigrationSource, ledger: Map<string, LedgerEntry>, appliedSha256: string | undefined): Migration | undefined {
  if (!appliedSha256) return undefined;
  return source.migrations.find((m) => m.up.sha256 === appliedSha256 && ledger.get(m.tag)?.state !== 'applied');
}

function renamedMigration(name: string, renamed: Migration, dir: string): Problem {
  return {
    code: 'MIGRATION_MISSING',
    migration: name,
    message: `${name} is applied to this database but is not in ${dir}: ${renamed.tag} is the same file under a new name (moved by \`jeex-db rebase\`?), and this database has not recorded it`,
    hint: `Record the new name here: \`jeex-db mark-applied ${renamed.tag}\` moves the ledger row of ${name} to it (nothing runs). Not \`jeex-db migrate\`: it would run ${renamed.tag}'s statements a second time.`,
  };
}

function missing(name: string, dir: string): Problem {
  return {
    code: 'MIGRATION_MISSING',
    migration: name,
    message: `${name} is applied to this database but is not in ${dir}`,
    hint: `Restore its .sql file and journal entry from version control (\`git log --all --diff-filter=D -- '${dir}/*'\`): a fresh database would be built without it. If it was deliberately removed, roll it back first on every database that has it.`,
  };
}

const short = (hash?: string) => (hash ? hash.slice(0, 12) : 'unknown');

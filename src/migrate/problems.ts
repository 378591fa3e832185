import { JeexDbError, type ErrorCode } from '../core/errors.ts';

/** Something wrong with the migrations or the ledger, found before anything runs. */
export interface Problem {
  code: ErrorCode;
  message: string;
  /** The exact steps to fix it. */
  hint: string;
  migration?: string;
  /** Set on a merge collision (src/migrate/merge-conflicts.ts), so a database-aware caller can name the one to rebase. */
  collision?: MergeCollision;
}

/** What makes two branches' migrations collide; one problem per group of colliding migrations. */
export type CollisionKind = 'duplicate-idx' | 'duplicate-number' | 'same-parent' | 'no-own-snapshot' | 'repeated-change';

export interface MergeCollision {
  kinds: CollisionKind[];
  /** The colliding migrations, in journal order. */
  migrations: string[];
  /** The one the recipe moves on top (`jeex-db rebase`): offline the later by journal `when`. */
  rebase?: string;
  /** For a repeated change: the migration that only repeats another's change and must be deleted. */
  duplicate?: string;
}

/** Throw the first problem (each has its own code and exit code), listing the others. */
export function throwProblems(problems: Problem[]): void {
  const [first, ...rest] = problems;
  if (!first) return;
  const more = rest.length > 0 ? `\n(and ${rest.length} more: ${rest.map((p) => p.message).join('; ')})` : '';
  throw new JeexDbError(first.code, `${first.message}${more}`, {
    hint: first.hint,
    context: { problems },
  });
}

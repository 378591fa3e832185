import { JeexDbError, type ErrorCode } from '../core/errors.ts';

/** Something wrong with the migrations or the ledger, found before anything runs. */
export interface Problem {
  code: ErrorCode;
  message: string;
  /** The exact steps to fix it. */
  hint: string;
  migration?: string;
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

import { translateDbError } from '../translate-error.ts';
import { JeexDbError } from '../../core/errors.ts';
import type { z } from 'zod';

/** Run a query and turn whatever it throws into a `JeexDbError`. */
export async function run<T>(query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (error) {
    throw translateDbError(error);
  }
}

/** Validate input with a zod schema; every problem is listed, naming the field. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(input)'}: ${issue.message}`);
  throw new JeexDbError('INVALID_INPUT', `invalid ${what}:\n  - ${problems.join('\n  - ')}`, {
    hint: 'Fix the fields named above; nothing was written.',
    columns: parsed.error.issues.map((issue) => String(issue.path[0] ?? '')).filter(Boolean),
    context: { problems },
  });
}

/** The single row a write returned; a missing row means the target did not exist. */
export function one<T>(rows: T[], what: string): T {
  const row = rows[0];
  if (row === undefined) throw new JeexDbError('NOT_FOUND', `${what} was not found`, { hint: 'Check the id.' });
  return row;
}

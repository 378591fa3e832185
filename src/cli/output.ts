import { JeexDbError, maskSecrets, translateDbError } from '../index.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';

/** `--json`, defined with the other shared flags (options.ts); here too for the commands that print. */
export { jsonOption } from './options.ts';

// The CLI's one colour helper: colour when stderr is a terminal and NO_COLOR is unset (no-color.org).
const useColor = () => Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
const paint = (code: string, text: string) => (useColor() ? `\u001b[${code}m${text}\u001b[0m` : text);
export const bold = (text: string) => paint('1', text);
export const dim = (text: string) => paint('2', text);
export const red = (text: string) => paint('31', text);
export const green = (text: string) => paint('32', text);
export const yellow = (text: string) => paint('33', text);

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Human output goes to stdout (results) or stderr (progress and diagnostics). */
export function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Progress on stderr with the time since the command began, so a slow step shows itself. */
export function progressReporter(json: boolean): (message: string) => void {
  const started = Date.now();
  return (message) => {
    if (json && !process.stderr.isTTY) return;
    note(dim(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`));
  };
}

/**
 * Report a failure and set the exit code. With --json the error document goes to stdout (the
 * one document a script reads); the human message, the hint and the server log go to stderr.
 */
export function reportError(error: unknown, json: boolean): void {
  const failure = error instanceof JeexDbError ? error : translateDbError(error);
  process.exitCode = exitCodeFor(failure.code);
  if (json) printJson({ ok: false, error: failure.toJSON(), exitCode: process.exitCode });
  note(`${red('error')} ${dim(`[${failure.code}]`)} ${maskSecrets(failure.message)}`);
  if (failure.hint && !failure.message.includes(failure.hint)) note(`${bold('fix:')} ${maskSecrets(failure.hint)}`);
  const excerpt = failure.context?.excerpt;
  if (typeof excerpt === 'string') note(dim(excerpt));
  if (failure.logExcerpt?.length) {
    note(dim('server log:'));
    for (const line of failure.logExcerpt) note(dim(`  ${maskSecrets(line)}`));
  }
  if (process.env.JEEX_DB_DEBUG && failure.stack) note(dim(failure.stack));
}

export function usageError(message: string): JeexDbError {
  return new JeexDbError('INVALID_CONFIG', message, { hint: 'See `jeex-db <command> --help`.' });
}

export { EXIT };

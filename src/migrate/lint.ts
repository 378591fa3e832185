import { execFile } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { JeexDbError } from '../core/errors.ts';
import { timeoutSql, timeoutsFor, type Timeouts } from './execute.ts';
import { squawkLauncher } from './peers.ts';
import { DEFAULT_TIMEOUTS } from './runner.ts';
import type { MigrationScript } from './source.ts';
import { stripComments } from './sql-split.ts';

/** One squawk finding, located in the migration file (not in the text squawk was given). */
export interface LintFinding {
  migration: string;
  /** The file as shown to people, e.g. `drizzle/0003_x.sql`. */
  file: string;
  /** 1-based line and column in `file`. */
  line: number;
  column: number;
  /** squawk's rule name, e.g. `require-concurrent-index-creation`. */
  rule: string;
  level: 'error' | 'warning';
  message: string;
  help?: string;
  /** Accepted in the file with `-- jeex:lint-ignore RULE reason`. */
  suppressed: boolean;
  /** The reason given in the directive, when suppressed. */
  reason?: string;
}

export interface LintResult {
  /** Every finding, suppressed ones included, in migration then line order. */
  findings: LintFinding[];
  /** Findings not suppressed: what fails `check`. */
  unsuppressed: number;
  /** `-- jeex:lint-ignore` directives that matched no finding (stale, can be removed). */
  unusedIgnores: { migration: string; file: string; line: number; rule: string }[];
  /** The migrations linted, in the order given. */
  migrations: string[];
}

export interface LintOptions {
  /** The run's timeouts (a file's directives win, as when it runs). Default: the runner's defaults. */
  timeouts?: Timeouts;
  /** PostgreSQL version squawk assumes (default 18.0). */
  pgVersion?: string;
  /** Path of squawk's launcher (a JavaScript file, like the package's bin) or native binary. Default: squawk-cli's bin. */
  squawkPath?: string;
}

/** The SQL a script sends, as one text, and which file line each of its lines came from. */
export interface EffectiveScript {
  text: string;
  /** For each line of `text` (0-based), the file's 1-based line; undefined for lines the runner adds. */
  lineMap: (number | undefined)[];
}

/**
 * The script as the runner sends it: in its own transaction with `SET LOCAL` timeouts, or (for
 * a script that must run outside a transaction) after session-level `SET`s. Each statement starts
 * on a line of its own, indented to its column in the file, so squawk's positions map back.
 */
export function effectiveScript(script: MigrationScript, base: Timeouts): EffectiveScript {
  const lines: string[] = [];
  const lineMap: (number | undefined)[] = [];
  const add = (text: string, line?: number) => {
    lines.push(text);
    lineMap.push(line);
  };
  const transactional = script.mode !== 'none';
  const timeouts = timeoutsFor(script, base);
  if (transactional) add('BEGIN;');
  add(`${timeoutSql(timeouts, transactional ? 'LOCAL' : 'SESSION')};`);
  for (const statement of script.statements) {
    const parts = statement.sql.split('\n');
    while (parts.length > 1 && parts[parts.length - 1]?.trim() === '') parts.pop();
    parts.forEach((part, i) => add(i === 0 ? `${' '.repeat(statement.column - 1)}${part}` : part, statement.line + i));
    // Each statement is sent on its own, so it may lack the `;` that separates it from the next here.
    if (!stripComments(statement.sql).trimEnd().endsWith(';')) add(';', statement.line + parts.length - 1);
  }
  if (transactional) add('COMMIT;');
  return { text: `${lines.join('\n')}\n`, lineMap };
}

interface SquawkViolation {
  file: string;
  line: number;
  column: number;
  level: string;
  message: string;
  help: string | null;
  rule_name: string;
}

/** squawk-cli's bin is a Node script that starts the platform's native binary; a native binary runs as is. */
function commandFor(launcher: string, args: string[]): [string, string[]] {
  let head = '';
  try {
    const fd = openSync(launcher, 'r');
    try {
      const buffer = Buffer.alloc(64);
      head = buffer.subarray(0, readSync(fd, buffer, 0, 64, 0)).toString('latin1');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new JeexDbError('MIGRATION_LINT', `cannot lint migrations: squawk is not at ${launcher}`, {
      hint: 'Install squawk-cli (`npm install -D squawk-cli`), or point to an existing squawk binary; nothing was linted.',
      cause: error,
    });
  }
  const isNodeScript = /\.(c|m)?js$/.test(launcher) || (head.startsWith('#!') && /\bnode\b/.test(head.split('\n')[0] ?? ''));
  return isNodeScript ? [process.execPath, [launcher, ...args]] : [launcher, args];
}

function runSquawk(launcher: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, argv] = commandFor(launcher, args);
  return new Promise((resolvePromise, reject) => {
    execFile(command, argv, { cwd, maxBuffer: 64 * 2 ** 20, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(
          new JeexDbError('MIGRATION_LINT', `cannot lint migrations: running squawk (${launcher}) failed: ${error.message}`, {
            hint: 'Reinstall squawk-cli with its optional platform package (`npm install -D --include=optional squawk-cli`), then run again.',
            cause: error,
          }),
        );
        return;
      }
      resolvePromise({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

function parseViolations(stdout: string, stderr: string, code: number, launcher: string): SquawkViolation[] {
  // squawk exits 0 without findings and 1 with findings (JSON on stdout) or when it fails (stderr).
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    parsed = undefined;
  }
  if ((code === 0 || code === 1) && Array.isArray(parsed)) return parsed as SquawkViolation[];
  const said = (stderr.trim() || stdout.trim()).split('\n').slice(0, 5).join(' / ') || 'no output';
  throw new JeexDbError('MIGRATION_LINT', `cannot lint migrations: squawk exited with code ${code}: ${said}`, {
    hint: `Run \`node ${launcher} --version\` to check the installation (\`npm install -D --include=optional squawk-cli\` restores the platform binary); nothing was linted.`,
  });
}

/**
 * Lint migration scripts with squawk as they will actually run: wrapped in the runner's
 * transaction and timeout settings. Findings are reported at the line of the migration file;
 * those whose rule the file accepts with `-- jeex:lint-ignore RULE reason` are `suppressed`.
 * Throws JeexDbError MIGRATION_LINT when squawk is missing or fails (never a silent pass).
 *
 * @example
 * const source = await loadMigrations('drizzle');
 * const result = await lintScripts(source.migrations.map((m) => ({ migration: m.tag, script: m.up })));
 * for (const f of result.findings) console.log(`${f.file}:${f.line} ${f.rule}${f.suppressed ? ' (ignored)' : ''}`);
 */
export async function lintScripts(scripts: { migration: string; script: MigrationScript }[], options: LintOptions = {}): Promise<LintResult> {
  const result: LintResult = { findings: [], unsuppressed: 0, unusedIgnores: [], migrations: scripts.map((s) => s.migration) };
  if (scripts.length === 0) return result;
  const launcher = options.squawkPath ?? squawkLauncher();
  const base = options.timeouts ?? DEFAULT_TIMEOUTS;
  // squawk also reads a .squawk.toml from its working directory: run it where there is none, so
  // the result does not depend on where the command was started.
  const work = await mkdtemp(join(tmpdir(), 'jeex-lint-'));
  try {
    const inputs = await Promise.all(
      scripts.map(async (entry, i) => {
        const effective = effectiveScript(entry.script, base);
        const name = `${String(i).padStart(4, '0')}-${basename(entry.script.file)}`;
        await writeFile(join(work, name), effective.text);
        return { ...entry, name, effective };
      }),
    );
    const args = ['--reporter', 'json', '--pg-version', options.pgVersion ?? '18.0', '--no-assume-in-transaction', ...inputs.map((i) => i.name)];
    const { code, stdout, stderr } = await runSquawk(launcher, args, work);
    const violations = parseViolations(stdout, stderr, code, launcher);
    const byName = new Map(inputs.map((input) => [input.name, input]));
    const used = new Set<string>();
    for (const violation of violations) {
      const input = byName.get(basename(violation.file));
      if (!input) {
        throw new JeexDbError('MIGRATION_LINT', `cannot lint migrations: squawk reported a file it was not given (${violation.file})`, {
          hint: 'Report this as a bug in jeex-db, with the squawk version (`npx squawk --version`).',
        });
      }
      const { line, column } = locate(input.effective, input.script, violation);
      const ignore = input.script.directives.lintIgnores.find((d) => d.rule === violation.rule_name);
      if (ignore) used.add(`${input.migration}\u0000${ignore.line}`);
      result.findings.push({
        migration: input.migration,
        file: input.script.displayPath,
        line,
        column,
        rule: violation.rule_name,
        level: violation.level.toLowerCase() === 'error' ? 'error' : 'warning',
        message: violation.message,
        ...(violation.help ? { help: violation.help } : {}),
        suppressed: Boolean(ignore),
        ...(ignore ? { reason: ignore.reason } : {}),
      });
    }
    for (const input of inputs) {
      for (const ignore of input.script.directives.lintIgnores) {
        if (!used.has(`${input.migration}\u0000${ignore.line}`)) {
          result.unusedIgnores.push({ migration: input.migration, file: input.script.displayPath, line: ignore.line, rule: ignore.rule });
        }
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const order = new Map(scripts.map((s, i) => [s.migration, i]));
  result.findings.sort((a, b) => (order.get(a.migration) ?? 0) - (order.get(b.migration) ?? 0) || a.line - b.line || a.column - b.column);
  result.unsuppressed = result.findings.filter((f) => !f.suppressed).length;
  return result;
}

/** squawk counts lines and columns from 0, in the effective text; the file counts from 1. */
function locate(effective: EffectiveScript, script: MigrationScript, violation: SquawkViolation): { line: number; column: number } {
  const mapped = effective.lineMap[violation.line];
  if (mapped !== undefined) return { line: mapped, column: violation.column + 1 };
  // A line the runner adds (BEGIN, SET, COMMIT): point at the nearest statement instead.
  const before = effective.lineMap.slice(0, violation.line).filter((l): l is number => l !== undefined);
  return { line: before.at(-1) ?? script.statements[0]?.line ?? 1, column: 1 };
}

import { invalidDuration, parseDuration } from '../core/units.ts';

/**
 * Directive comments a migration file may carry, one per line:
 *
 *   -- jeex:lock-timeout 5s           lock_timeout of each try for this migration: queries on the
 *                                     table queue behind a waiting migration that long, so only
 *                                     for a table nobody writes to (default 1 s, see runner.ts)
 *   -- jeex:statement-timeout 30min   statement_timeout for this migration
 *   -- jeex:lint-ignore RULE reason   accept a squawk finding, with the reason (required)
 *
 * Durations are core/units.ts's (`500ms`, `10s`, `1.5min`, `1h`), always with a unit.
 */
export interface Directives {
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
  lintIgnores: { rule: string; reason: string; line: number }[];
  problems: string[];
}

export function parseDirectives(text: string): Directives {
  const result: Directives = { lintIgnores: [], problems: [] };
  text.split('\n').forEach((raw, index) => {
    const match = /^\s*--\s*jeex:([a-z-]+)\s*(.*)$/.exec(raw);
    if (!match) return;
    const [, name, rest = ''] = match;
    const line = index + 1;
    switch (name) {
      case 'lock-timeout':
      case 'statement-timeout': {
        // A plain number has no unit here: 10 could be PostgreSQL's 10 ms or someone's 10 s.
        const ms = parseDuration(rest);
        if (ms === undefined) result.problems.push(`line ${line}: ${invalidDuration(`jeex:${name}`, rest.trim())}`);
        else if (name === 'lock-timeout') result.lockTimeoutMs = ms;
        else result.statementTimeoutMs = ms;
        break;
      }
      case 'lint-ignore': {
        const [rule = '', ...reason] = rest.trim().split(/\s+/);
        if (!rule || reason.join(' ').length < 3) {
          result.problems.push(`line ${line}: jeex:lint-ignore needs a rule and a reason, e.g. "-- jeex:lint-ignore prefer-bigint-over-int counters stay small"`);
        } else result.lintIgnores.push({ rule, reason: reason.join(' '), line });
        break;
      }
      case 'draft':
        break; // generate-down's review marker; the runner refuses drafts (see down.ts)
      default:
        result.problems.push(`line ${line}: unknown directive jeex:${name} (known: lock-timeout, statement-timeout, lint-ignore)`);
    }
  });
  return result;
}

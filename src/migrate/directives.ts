/**
 * Directive comments a migration file may carry, one per line:
 *
 *   -- jeex:lock-timeout 10s          lock_timeout for this migration
 *   -- jeex:statement-timeout 30min   statement_timeout for this migration
 *   -- jeex:lint-ignore RULE reason   accept a squawk finding, with the reason (required)
 */
export interface Directives {
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
  lintIgnores: { rule: string; reason: string; line: number }[];
  problems: string[];
}

const units: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000 };

/** `500ms`, `5s`, `10min`, `1h` -> milliseconds; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)\s*(ms|s|min|h)$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * (units[match[2] ?? 's'] ?? 1000);
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
        const ms = parseDuration(rest);
        if (ms === undefined) result.problems.push(`line ${line}: jeex:${name} needs a duration such as 5s or 10min, got "${rest.trim()}"`);
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

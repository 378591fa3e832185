import { JeexDbError } from '../../core/errors.ts';
import type { BackupRecord } from './repo.ts';

/** How many base backups to keep, and for how long. */
export interface RetentionPolicy {
  /** Keep the newest this many backups (default 7). */
  keepCount: number;
  /** Keep every backup younger than this many days (default 14). */
  keepDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { keepCount: 7, keepDays: 14 };

const DAY_MS = 86_400_000;

/**
 * The retention policy: options (the CLI's flags), then `JEEX_BACKUP_KEEP_COUNT` and
 * `JEEX_BACKUP_KEEP_DAYS`, then the defaults. Every bad value is reported at once as one
 * INVALID_CONFIG error naming the option or variable.
 *
 * @example
 * resolveRetention({ keepDays: 30 }, { JEEX_BACKUP_KEEP_COUNT: '3' }); // { keepCount: 3, keepDays: 30 }
 */
export function resolveRetention(options: Partial<RetentionPolicy> = {}, env: NodeJS.ProcessEnv = process.env): RetentionPolicy {
  const problems: string[] = [];
  const pick = (value: number | undefined, option: string, variable: string, whole: boolean, fallback: number): number => {
    const raw = env[variable]?.trim();
    const [from, candidate] = value !== undefined ? [`option ${option}`, value] : raw ? [variable, Number(raw)] : [undefined, fallback];
    const ok = Number.isFinite(candidate) && candidate >= 0 && (!whole || Number.isInteger(candidate));
    if (ok || from === undefined) return candidate;
    const shown = value !== undefined ? String(value) : JSON.stringify(raw);
    problems.push(`${from} must be ${whole ? 'a whole number' : 'a number'} of 0 or more, got ${shown}`);
    return fallback;
  };
  const keepCount = pick(options.keepCount, 'keepCount', 'JEEX_BACKUP_KEEP_COUNT', true, DEFAULT_RETENTION.keepCount);
  const keepDays = pick(options.keepDays, 'keepDays', 'JEEX_BACKUP_KEEP_DAYS', false, DEFAULT_RETENTION.keepDays);
  if (problems.length > 0) {
    throw new JeexDbError('INVALID_CONFIG', `invalid backup retention:\n  - ${problems.join('\n  - ')}`, {
      hint: `Set JEEX_BACKUP_KEEP_COUNT to how many backups to keep (default ${DEFAULT_RETENTION.keepCount}) and JEEX_BACKUP_KEEP_DAYS to how many days (default ${DEFAULT_RETENTION.keepDays}), or unset them; --keep-count and --keep-days win over both.`,
      context: { problems },
    });
  }
  return { keepCount, keepDays };
}

/** A backup that restores: complete, and not failed by its last verification (unverified counts). */
export const isValidBackup = (record: BackupRecord): boolean => record.verified?.ok !== false;

/** `3 d`, `5 h`, `12 min`: how long ago, for reasons people read. */
export function humanAge(ms: number): string {
  if (!Number.isFinite(ms)) return 'an unknown time';
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} d`;
}

export interface RetentionPlan {
  /** Backup id -> why it stays, or why it goes. Kept and deleted oldest first. */
  keep: Map<string, string>;
  drop: Map<string, string>;
  warnings: string[];
}

/**
 * Decide which complete backups stay: the newest `keepCount`, those younger than `keepDays`
 * (by stop time), and always the newest valid backup, so the last one that restores is never
 * deleted. When every backup failed verification, all of them stay (one of them may still be
 * what a person needs) and a warning says so.
 */
export function planRetention(records: BackupRecord[], policy: RetentionPolicy, now: Date): RetentionPlan {
  const sorted = [...records].sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt) || a.id.localeCompare(b.id));
  const valid = sorted.filter(isValidBackup);
  const newestValid = valid.at(-1);
  const allInvalid = sorted.length > 0 && valid.length === 0;
  const plan: RetentionPlan = { keep: new Map(), drop: new Map(), warnings: [] };
  if (allInvalid) {
    plan.warnings.push(`every backup (${sorted.length}) failed verification: none was deleted. Take a new backup (\`jeex-db backup\`) and verify it (\`jeex-db verify\`).`);
  }
  sorted.forEach((record, index) => {
    const rank = sorted.length - index;
    const age = now.getTime() - Date.parse(record.stoppedAt);
    const reasons: string[] = [];
    if (rank <= policy.keepCount) reasons.push(rank === 1 ? 'the newest backup' : `among the newest ${policy.keepCount} (number ${rank})`);
    if (Number.isNaN(age)) reasons.push(`its stop time ${JSON.stringify(record.stoppedAt)} cannot be read`);
    else if (age < policy.keepDays * DAY_MS) reasons.push(`${humanAge(age)} old, younger than ${policy.keepDays} days`);
    if (record === newestValid) reasons.push(valid.length === 1 ? 'the only valid backup' : 'the newest valid backup');
    if (allInvalid) reasons.push('every backup failed verification, so all are kept');
    if (reasons.length > 0) plan.keep.set(record.id, reasons.join('; '));
    else {
      const failed = isValidBackup(record) ? '' : ', and it failed verification';
      plan.drop.set(record.id, `${humanAge(age)} old: older than ${policy.keepDays} days and not among the newest ${policy.keepCount}${failed}`);
    }
  });
  return plan;
}

import { JeexDbError } from '../../core/errors.ts';
import type { LoginKind } from './names.ts';

/**
 * What `roles apply` (and `up`) may be told, beyond the role names: the idle timeouts of SEC-003,
 * whether reads are logged, and per-role connection limits.
 */
export interface RoleSettings {
  /** `idle_session_timeout` of every login role but the backup role. Default 15 min (SEC-003); 0 turns it off. */
  idleSessionTimeoutMs: number;
  /** `idle_in_transaction_session_timeout` of the same roles. Default 5 min, as in ops/postgresql.conf. */
  idleInTransactionTimeoutMs: number;
  /** `log_statement = 'all'` for the app and read-only roles: their reads reach the server log (the audit of reads). */
  auditReads: boolean;
  /** CONNECTION LIMIT per login role (-1: none). Unset ones are derived (see `roleCatalog`). */
  connectionLimits: Partial<Record<LoginKind, number>>;
}

export const DEFAULT_IDLE_SESSION_TIMEOUT_MS = 15 * 60_000;
export const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS = 5 * 60_000;

export const DEFAULT_ROLE_SETTINGS: RoleSettings = {
  idleSessionTimeoutMs: DEFAULT_IDLE_SESSION_TIMEOUT_MS,
  idleInTransactionTimeoutMs: DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  auditReads: true,
  connectionLimits: {},
};

const UNITS: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `15min`, `900s`, `1h`, `500ms`, or a bare number of seconds (`900`) -> milliseconds;
 * undefined when it is none of those.
 */
export function parseTimeout(text: string): number | undefined {
  const match = /^\s*(\d+)\s*(ms|s|min|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1000);
}

/**
 * Milliseconds as PostgreSQL writes a time setting, in the largest whole unit: `15min`, `30s`,
 * `500ms`, `0`. The same value is always written the same way, so a role setting compares equal.
 */
export function formatTimeout(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function parseSwitch(text: string): boolean | undefined {
  const value = text.trim().toLowerCase();
  if (['1', 'on', 'true', 'yes'].includes(value)) return true;
  if (['0', 'off', 'false', 'no'].includes(value)) return false;
  return undefined;
}

export interface RoleSettingsFlags {
  /** `--idle-timeout` */
  idleTimeout?: string;
  /** `--idle-in-transaction-timeout` */
  idleInTransactionTimeout?: string;
  /** `--audit-reads` / `--no-audit-reads` */
  auditReads?: boolean;
}

/**
 * The role settings from flags, then the environment (`JEEX_IDLE_TIMEOUT`,
 * `JEEX_IDLE_IN_TRANSACTION_TIMEOUT`, `JEEX_AUDIT_READS`), then what was used last time
 * (`previous`, e.g. from state.json), then the defaults. Every problem is reported at once,
 * naming the flag or variable to fix.
 *
 * @example
 * resolveRoleSettings({ idleTimeout: '5min' }, process.env) // { idleSessionTimeoutMs: 300000, ... }
 */
export function resolveRoleSettings(flags: RoleSettingsFlags = {}, env: NodeJS.ProcessEnv = process.env, previous: Partial<RoleSettings> = {}): RoleSettings {
  const problems: string[] = [];
  const timeout = (flag: string | undefined, flagName: string, variable: string): number | undefined => {
    const [text, source] = flag !== undefined ? [flag, flagName] : env[variable] !== undefined && env[variable] !== '' ? [env[variable], variable] : [undefined, ''];
    if (text === undefined) return undefined;
    const ms = parseTimeout(text);
    if (ms === undefined) problems.push(`${source}: "${text}" is not a duration (use e.g. 15min, 900s, 1h or a number of seconds)`);
    return ms;
  };
  const idle = timeout(flags.idleTimeout, '--idle-timeout', 'JEEX_IDLE_TIMEOUT');
  const idleTx = timeout(flags.idleInTransactionTimeout, '--idle-in-transaction-timeout', 'JEEX_IDLE_IN_TRANSACTION_TIMEOUT');
  let auditReads = flags.auditReads;
  if (auditReads === undefined && env.JEEX_AUDIT_READS !== undefined && env.JEEX_AUDIT_READS !== '') {
    auditReads = parseSwitch(env.JEEX_AUDIT_READS);
    if (auditReads === undefined) problems.push(`JEEX_AUDIT_READS: "${env.JEEX_AUDIT_READS}" is not on/off (use on, off, true, false, 1 or 0)`);
  }
  if (problems.length > 0) {
    throw new JeexDbError('INVALID_CONFIG', problems.join('; '), { hint: 'Fix the flag or variable named; nothing was changed.', context: { problems } });
  }
  return {
    idleSessionTimeoutMs: idle ?? previous.idleSessionTimeoutMs ?? DEFAULT_ROLE_SETTINGS.idleSessionTimeoutMs,
    idleInTransactionTimeoutMs: idleTx ?? previous.idleInTransactionTimeoutMs ?? DEFAULT_ROLE_SETTINGS.idleInTransactionTimeoutMs,
    auditReads: auditReads ?? previous.auditReads ?? DEFAULT_ROLE_SETTINGS.auditReads,
    connectionLimits: { ...DEFAULT_ROLE_SETTINGS.connectionLimits, ...previous.connectionLimits },
  };
}

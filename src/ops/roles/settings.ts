import { JeexDbError } from '../../core/errors.ts';
import { invalidBoolean, invalidDuration, parseBoolean, parseDuration } from '../../core/units.ts';
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
    const ms = parseDuration(text, { defaultUnit: 's' });
    if (ms === undefined) problems.push(invalidDuration(source, text, { defaultUnit: 's' }));
    return ms;
  };
  const idle = timeout(flags.idleTimeout, '--idle-timeout', 'JEEX_IDLE_TIMEOUT');
  const idleTx = timeout(flags.idleInTransactionTimeout, '--idle-in-transaction-timeout', 'JEEX_IDLE_IN_TRANSACTION_TIMEOUT');
  let auditReads = flags.auditReads;
  if (auditReads === undefined && env.JEEX_AUDIT_READS !== undefined && env.JEEX_AUDIT_READS !== '') {
    auditReads = parseBoolean(env.JEEX_AUDIT_READS);
    if (auditReads === undefined) problems.push(invalidBoolean('JEEX_AUDIT_READS', env.JEEX_AUDIT_READS));
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

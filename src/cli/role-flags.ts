import type { Command } from 'commander';
import type { RoleSettingsFlags } from '../ops/index.ts';

/** The role settings flags `up` and `roles apply` share (see resolveRoleSettings). */
export function addRoleSettingsOptions(command: Command): Command {
  return command
    .option('--idle-timeout <duration>', 'close sessions of the login roles idle this long, e.g. 15min (default: JEEX_IDLE_TIMEOUT, the last value, else 15min)')
    .option('--idle-in-transaction-timeout <duration>', 'close sessions idle inside a transaction this long (default: JEEX_IDLE_IN_TRANSACTION_TIMEOUT, else 5min)')
    .option('--audit-reads', "log every statement of the app and read-only roles (the audit of reads; default: JEEX_AUDIT_READS, else on)")
    .option('--no-audit-reads', 'do not log their statements (writes are still in the audit table)');
}

export function roleSettingsFlags(flags: { idleTimeout?: string; idleInTransactionTimeout?: string; auditReads?: boolean }): RoleSettingsFlags {
  return {
    ...(flags.idleTimeout !== undefined ? { idleTimeout: flags.idleTimeout } : {}),
    ...(flags.idleInTransactionTimeout !== undefined ? { idleInTransactionTimeout: flags.idleInTransactionTimeout } : {}),
    ...(flags.auditReads !== undefined ? { auditReads: flags.auditReads } : {}),
  };
}

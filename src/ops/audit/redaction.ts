/**
 * The audited tables and, for each, the columns whose values never reach the audit trail.
 * Migration 0004_audit_trail passes these lists to the trigger (`record_change('email', ...)`); a test
 * (test/integration/audit-trail.test.ts) keeps the triggers in the database equal to this list,
 * so change both together, in a new migration that re-creates the trigger.
 *
 * - users: personal data (email, name, the email's blind index once it exists, the profile);
 * - document_versions.content, agent_executions input/output: what users wrote and what the
 *   agents answered, personal data as often as not, and large: the trail says that they
 *   changed, not what they say.
 */
export const AUDIT_REDACTED_COLUMNS = {
  users: ['email', 'name', 'email_hash', 'profile_data'],
  projects: [],
  document_versions: ['content'],
  agent_executions: ['input_data', 'output_data'],
  exports: [],
} as const satisfies Record<string, readonly string[]>;

export type AuditedTable = keyof typeof AUDIT_REDACTED_COLUMNS;

export const AUDITED_TABLES = Object.keys(AUDIT_REDACTED_COLUMNS) as AuditedTable[];

/** What a redacted value looks like in `old_values` / `new_values`. */
export const REDACTED = '[redacted]';

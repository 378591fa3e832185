/**
 * Which columns hold personal data, in one place: the key rotation re-seals the `encrypted` ones,
 * and whatever logs or audits rows (errors, the audit trail) redacts every column listed here.
 */
export interface SensitiveColumn {
  table: string;
  column: string;
  /**
   * `encrypted`: AES-256-GCM envelopes (encryptedText), opened with the data keys.
   * `blind-index`: an HMAC of another column, for lookups and uniqueness; not reversible, but it
   * still identifies a person across rows, so it is redacted too.
   */
  protection: 'encrypted' | 'blind-index';
}

export const sensitiveColumns: readonly SensitiveColumn[] = [
  { table: 'users', column: 'email', protection: 'encrypted' },
  { table: 'users', column: 'name', protection: 'encrypted' },
  { table: 'users', column: 'email_hash', protection: 'blind-index' },
];

/** Whether `table.column` holds personal data (to be redacted wherever rows are shown). */
export function isSensitive(table: string, column: string): boolean {
  return sensitiveColumns.some((c) => c.table === table && c.column === column);
}

/** The encrypted columns of each table: what `keys rotate` re-seals. */
export function encryptedColumns(): Map<string, string[]> {
  const byTable = new Map<string, string[]>();
  for (const c of sensitiveColumns) if (c.protection === 'encrypted') byTable.set(c.table, [...(byTable.get(c.table) ?? []), c.column]);
  return byTable;
}

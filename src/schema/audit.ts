import { sql } from 'drizzle-orm';
import { bigint, check, customType, index, inet, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';

/** The audit trail's schema: owned by the owner role, no privileges for anyone else. */
export const auditSchema = pgSchema('jeex_audit');

/** PostgreSQL's 64-bit transaction id (pg_current_xact_id()), read as text. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

/**
 * One row per data change to an application table (INSERT, UPDATE, DELETE), written by the
 * trigger `jeex_audit.record_change()` (migration 0004_audit_trail) and never changed afterwards: a trigger
 * refuses UPDATE, DELETE and TRUNCATE, and no application role has any privilege on the table.
 * Sensitive columns are redacted (src/ops/audit/redaction.ts lists them); an UPDATE keeps only the
 * columns that changed.
 */
export const auditChanges = auditSchema.table(
  'changes',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    /** When the row changed (clock_timestamp(), not the transaction's start). */
    at: timestamp('at', { withTimezone: true, precision: 3 }).notNull().default(sql`clock_timestamp()`),
    tableName: text('table_name').notNull(),
    operation: text('operation').notNull(),
    /** The changed row's primary key, e.g. `{"id": "0199..."}`. */
    rowKey: jsonb('row_key').$type<Record<string, unknown>>().notNull(),
    /** The row before (UPDATE: only the changed columns; INSERT: null), redacted. */
    oldValues: jsonb('old_values').$type<Record<string, unknown>>(),
    /** The row after (UPDATE: only the changed columns; DELETE: null), redacted. */
    newValues: jsonb('new_values').$type<Record<string, unknown>>(),
    /** The role the statement ran as (SET ROLE included), e.g. jeex_app. */
    dbRole: text('db_role').notNull(),
    /** The role that logged in. */
    sessionRole: text('session_role').notNull(),
    /** The application's user, from `SET LOCAL jeex.app_user = '...'` (null when not set). */
    appUser: text('app_user'),
    /** The client's address (null over a Unix socket). Behind PgBouncer: PgBouncer's address. */
    clientAddr: inet('client_addr'),
    applicationName: text('application_name'),
    transactionId: xid8('transaction_id').notNull(),
  },
  (t) => [
    // Appended in time order: a BRIN index finds a time range for a fraction of a B-tree's upkeep.
    index('changes_at_brin_idx').using('brin', t.at),
    check('changes_operation_known', sql`${t.operation} IN ('INSERT', 'UPDATE', 'DELETE')`),
  ],
);

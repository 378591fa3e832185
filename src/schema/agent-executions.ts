import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { id, timestamps } from './columns.ts';
import { executionStatus } from './enums.ts';
import { projects } from './projects.ts';

export const agentExecutions = pgTable(
  'agent_executions',
  {
    id: id(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    agentType: text('agent_type').notNull(),
    correlationId: uuid('correlation_id').notNull(),
    inputData: jsonb('input_data'),
    outputData: jsonb('output_data'),
    status: executionStatus('status').notNull().default('pending'),
    errorMessage: text('error_message'),
    startedAt: timestamp('started_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true, precision: 3 }),
    durationMs: integer('duration_ms'),
    ...timestamps,
  },
  (t) => [
    index('agent_executions_correlation_id_idx').on(t.correlationId),
    // A project's recent executions; also serves the cascade from projects.
    index('agent_executions_project_id_started_at_idx').on(t.projectId, t.startedAt.desc().nullsFirst()),
    // Executions by status, oldest first (e.g. `running` ones started long ago are stuck).
    index('agent_executions_status_started_at_idx').on(t.status, t.startedAt),
    check('agent_executions_agent_type_format', sql`${t.agentType} ~ '^[a-z][a-z0-9_]{0,63}$'`),
    check('agent_executions_completed_after_started', sql`${t.completedAt} >= ${t.startedAt}`),
    check(
      'agent_executions_completed_at_when_final',
      sql`(${t.status} IN ('completed', 'failed', 'cancelled')) = (${t.completedAt} IS NOT NULL)`,
    ),
    check('agent_executions_duration_non_negative', sql`${t.durationMs} >= 0`),
  ],
);

import { and, asc, desc, eq, lt, sql } from 'drizzle-orm';
import { agentExecutions } from '../../schema/agent-executions.ts';
import type { AgentExecution, ExecutionStatus, NewAgentExecution } from '../../schema/types.ts';
import { insertAgentExecutionSchema } from '../../schema/validation.ts';
import type { Database } from '../create-db.ts';
import { uuidv7 } from '../../core/uuid.ts';
import { cached, insertShape } from './prepared.ts';
import { executionStatus, finalExecutionStatuses } from '../../schema/enums.ts';
import { MAX_AGENT_DATA_BYTES, MAX_ERROR_MESSAGE_BYTES } from '../../schema/input-bounds.ts';
import { params } from './params.ts';
import { one, run, validate } from './run.ts';

export type StartExecutionInput = Pick<NewAgentExecution, 'id' | 'projectId' | 'agentType' | 'correlationId' | 'inputData'>;

// Derived schemas are made once: zod 4 compiles a parser for each schema object on its first use
// (~150 µs), so a `.pick()` per call would pay that on every call.
const startExecutionSchema = insertAgentExecutionSchema.pick({ id: true, projectId: true, agentType: true, correlationId: true, inputData: true });

/** Record that an agent started working on a request (status `running`). */
export async function startAgentExecution(db: Database, input: StartExecutionInput): Promise<AgentExecution> {
  const values = validate(startExecutionSchema, input, 'agent execution');
  const { shape, placeholders, values: params } = insertShape({ ...values, id: values.id ?? uuidv7() });
  return run(async () =>
    one(
      await cached(
        db,
        `startAgentExecution:${shape}`,
        (d) => d.insert(agentExecutions).values({ ...(placeholders as unknown as NewAgentExecution), status: 'running' }).returning(),
        params,
      ),
      'the new execution',
    ),
  );
}

export type FinalExecutionStatus = Extract<ExecutionStatus, 'completed' | 'failed' | 'cancelled'>;

/**
 * Close an execution: sets the final status, `completed_at` and `duration_ms` from the
 * server's clock in one statement. Only an execution that is not final yet can be closed.
 */
export async function finishAgentExecution(
  db: Database,
  id: string,
  result: { status: FinalExecutionStatus; outputData?: unknown; errorMessage?: string | null },
): Promise<AgentExecution> {
  // Sizes before JSON.stringify copies the output.
  params('execution result')
    .uuid('id', id)
    .oneOf('status', result.status, finalExecutionStatuses)
    .json('outputData', result.outputData, MAX_AGENT_DATA_BYTES)
    .bytes('errorMessage', result.errorMessage, MAX_ERROR_MESSAGE_BYTES, true)
    .check();
  // The output goes in as JSON text (what Drizzle's jsonb column sends), SQL NULL when absent.
  const outputData = result.outputData === undefined || result.outputData === null ? null : JSON.stringify(result.outputData);
  return run(async () =>
    one(
      await cached(
        db,
        'finishAgentExecution',
        (d) =>
          d
            .update(agentExecutions)
            .set({
              status: sql`${sql.placeholder('status')}`,
              outputData: sql`${sql.placeholder('outputData')}`,
              errorMessage: sql`${sql.placeholder('errorMessage')}`,
              completedAt: sql`greatest(now(), ${agentExecutions.startedAt})`,
              durationMs: sql`greatest(0, floor(extract(epoch FROM (now() - ${agentExecutions.startedAt})) * 1000))::integer`,
            })
            .where(and(eq(agentExecutions.id, sql.placeholder('id')), sql`${agentExecutions.completedAt} IS NULL`))
            .returning(),
        { id, status: result.status, outputData, errorMessage: result.errorMessage ?? null },
      ),
      `unfinished agent execution ${id}`,
    ),
  );
}

/** Mark an execution as waiting for the user. */
export async function setExecutionNeedsInput(db: Database, id: string): Promise<AgentExecution> {
  params('execution').uuid('id', id).check();
  return run(async () =>
    one(
      await db
        .update(agentExecutions)
        .set({ status: 'needs_input' })
        .where(and(eq(agentExecutions.id, id), sql`${agentExecutions.completedAt} IS NULL`))
        .returning(),
      `unfinished agent execution ${id}`,
    ),
  );
}

/** All executions of one user request, in the order they started. */
export async function listExecutionsByCorrelation(db: Database, correlationId: string): Promise<AgentExecution[]> {
  params('execution list').uuid('correlationId', correlationId).check();
  return run(() =>
    cached(
      db,
      'listExecutionsByCorrelation',
      (d) => d.select().from(agentExecutions).where(eq(agentExecutions.correlationId, sql.placeholder('correlationId'))).orderBy(asc(agentExecutions.startedAt)),
      { correlationId },
    ),
  );
}

/** A project's most recent executions. */
export async function listRecentExecutions(db: Database, projectId: string, limit = 50): Promise<AgentExecution[]> {
  params('execution list').uuid('projectId', projectId).limit('limit', limit).check();
  return run(() =>
    cached(
      db,
      'listRecentExecutions',
      (d) =>
        d
          .select()
          .from(agentExecutions)
          .where(eq(agentExecutions.projectId, sql.placeholder('projectId')))
          .orderBy(desc(agentExecutions.startedAt))
          .limit(sql.placeholder('limit')),
      { projectId, limit },
    ),
  );
}

/** Executions in one status that started before `startedBefore`, oldest first (e.g. stuck `running`). */
export async function listExecutionsByStatus(
  db: Database,
  status: ExecutionStatus,
  options: { startedBefore?: Date; limit?: number } = {},
): Promise<AgentExecution[]> {
  const checks = params('execution list').oneOf('status', status, executionStatus.enumValues).date('startedBefore', options.startedBefore, true);
  if (options.limit !== undefined) checks.limit('limit', options.limit);
  checks.check();
  const before = options.startedBefore ? lt(agentExecutions.startedAt, options.startedBefore) : undefined;
  return run(() =>
    db
      .select()
      .from(agentExecutions)
      .where(and(eq(agentExecutions.status, status), before))
      .orderBy(asc(agentExecutions.startedAt))
      .limit(options.limit ?? 100),
  );
}

import { and, asc, desc, eq, lt, sql } from 'drizzle-orm';
import { agentExecutions } from '../../schema/agent-executions.ts';
import type { AgentExecution, ExecutionStatus, NewAgentExecution } from '../../schema/types.ts';
import { insertAgentExecutionSchema } from '../../schema/validation.ts';
import type { Database } from '../create-db.ts';
import { one, run, validate } from './run.ts';

export type StartExecutionInput = Pick<NewAgentExecution, 'id' | 'projectId' | 'agentType' | 'correlationId' | 'inputData'>;

/** Record that an agent started working on a request (status `running`). */
export async function startAgentExecution(db: Database, input: StartExecutionInput): Promise<AgentExecution> {
  const values = validate(
    insertAgentExecutionSchema.pick({ id: true, projectId: true, agentType: true, correlationId: true, inputData: true }),
    input,
    'agent execution',
  );
  return run(async () =>
    one(await db.insert(agentExecutions).values({ ...values, status: 'running' }).returning(), 'the new execution'),
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
  return run(async () =>
    one(
      await db
        .update(agentExecutions)
        .set({
          status: result.status,
          outputData: result.outputData ?? null,
          errorMessage: result.errorMessage ?? null,
          completedAt: sql`greatest(now(), ${agentExecutions.startedAt})`,
          durationMs: sql`greatest(0, floor(extract(epoch FROM (now() - ${agentExecutions.startedAt})) * 1000))::integer`,
        })
        .where(and(eq(agentExecutions.id, id), sql`${agentExecutions.completedAt} IS NULL`))
        .returning(),
      `unfinished agent execution ${id}`,
    ),
  );
}

/** Mark an execution as waiting for the user. */
export async function setExecutionNeedsInput(db: Database, id: string): Promise<AgentExecution> {
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
  return run(() =>
    db.select().from(agentExecutions).where(eq(agentExecutions.correlationId, correlationId)).orderBy(asc(agentExecutions.startedAt)),
  );
}

/** A project's most recent executions. */
export async function listRecentExecutions(db: Database, projectId: string, limit = 50): Promise<AgentExecution[]> {
  return run(() =>
    db
      .select()
      .from(agentExecutions)
      .where(eq(agentExecutions.projectId, projectId))
      .orderBy(desc(agentExecutions.startedAt))
      .limit(limit),
  );
}

/** Executions in one status that started before `startedBefore`, oldest first (e.g. stuck `running`). */
export async function listExecutionsByStatus(
  db: Database,
  status: ExecutionStatus,
  options: { startedBefore?: Date; limit?: number } = {},
): Promise<AgentExecution[]> {
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

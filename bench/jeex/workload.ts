/**
 * The JEEX workload mix: what one request of the application does, with its weight. Every leg
 * runs these; the Node legs through the package's query functions, pgbench through scripts made
 * from the SQL those functions send (bench/jeex/pgbench-script.ts).
 */
import type { Database } from '../../src/db/create-db.ts';
import { uuidv7 } from '../../src/core/uuid.ts';
import { finishAgentExecution, listExecutionsByCorrelation, startAgentExecution } from '../../src/db/queries/agent-executions.ts';
import { appendDocumentVersion, getProjectWithLatestDocuments } from '../../src/db/queries/document-versions.ts';
import { createExport } from '../../src/db/queries/exports.ts';
import { listUserProjects } from '../../src/db/queries/projects.ts';
import { randomInt } from '../random.ts';
import { AGENT_TYPES, DOCUMENT_TYPES, EXPORT_FORMATS } from './content.ts';
import type { Payloads, SeededKeys } from './seed.ts';

/** The random draws of one request, each a 1-based index (pgbench's `\set x random(1, N)`). */
export interface Draw {
  /** bench.keys: a live project and its owner. */
  p: number;
  /** bench.keys: a user. */
  u: number;
  /** bench.keys: a seeded correlation id. */
  c: number;
  /** bench.payloads: the content, input/output JSON or manifest written. */
  k: number;
  /** Document type, agent type, export format. */
  t: number;
  a: number;
  f: number;
}

export interface Operation {
  name: OperationName;
  /** Percent of requests. */
  weight: number;
  /** The draws it uses (pgbench `\set`s only these). */
  uses: (keyof Draw)[];
  describe: string;
  run: (db: Database, draw: Draw, data: WorkloadData) => Promise<unknown>;
}

export type OperationName = 'read_project' | 'list_projects' | 'execution_history' | 'append_version' | 'agent_run' | 'create_export';

export interface WorkloadData {
  keys: SeededKeys;
  payloads: Payloads;
}

const at = <T>(list: readonly T[], n: number): T => {
  const value = list[n - 1];
  if (value === undefined) throw new RangeError(`draw ${n} is outside 1..${list.length}`);
  return value;
};

/** Reads 70%, writes 30% (of requests; a write request sends one to five statements). */
export const OPERATIONS: readonly Operation[] = [
  {
    name: 'read_project',
    weight: 35,
    uses: ['p'],
    describe: 'open a project: the project and the latest version of each document type (getProjectWithLatestDocuments)',
    run: (db, d, { keys }) => getProjectWithLatestDocuments(db, at(keys.projects, d.p).id),
  },
  {
    name: 'list_projects',
    weight: 20,
    uses: ['u'],
    describe: "a user's project list, newest first, first page of 50 (listUserProjects)",
    run: (db, d, { keys }) => listUserProjects(db, at(keys.users, d.u)),
  },
  {
    name: 'execution_history',
    weight: 15,
    uses: ['c'],
    describe: "one request's agent executions by correlation id (listExecutionsByCorrelation)",
    run: (db, d, { keys }) => listExecutionsByCorrelation(db, at(keys.correlations, d.c)),
  },
  {
    name: 'append_version',
    weight: 15,
    uses: ['p', 't', 'k'],
    describe: 'save an edit: append the next version of a document, 2-50 KiB (appendDocumentVersion)',
    run: (db, d, { keys, payloads }) => {
      const project = at(keys.projects, d.p);
      return appendDocumentVersion(db, { projectId: project.id, documentType: at(DOCUMENT_TYPES, d.t), content: at(payloads.contents, d.k), createdBy: project.owner });
    },
  },
  {
    name: 'agent_run',
    weight: 10,
    uses: ['p', 'a', 'k'],
    describe: 'an agent runs: start an execution, then complete it with its output (startAgentExecution, finishAgentExecution)',
    run: async (db, d, { keys, payloads }) => {
      const started = await startAgentExecution(db, { projectId: at(keys.projects, d.p).id, agentType: at(AGENT_TYPES, d.a), correlationId: uuidv7(), inputData: at(payloads.inputs, d.k) });
      return finishAgentExecution(db, started.id, { status: 'completed', outputData: at(payloads.outputs, d.k) });
    },
  },
  {
    name: 'create_export',
    weight: 5,
    uses: ['p', 'f', 'k'],
    describe: 'queue an export of a project (createExport)',
    run: (db, d, { keys, payloads }) => {
      const project = at(keys.projects, d.p);
      return createExport(db, { projectId: project.id, format: at(EXPORT_FORMATS, d.f), manifest: at(payloads.manifests, d.k), createdBy: project.owner });
    },
  },
];

/** The ranges of the draws: pgbench's `random(1, N)` bounds. */
export function drawRanges(data: WorkloadData): Record<keyof Draw, number> {
  return {
    p: data.keys.projects.length,
    u: data.keys.users.length,
    c: data.keys.correlations.length,
    k: data.payloads.contents.length,
    t: DOCUMENT_TYPES.length,
    a: AGENT_TYPES.length,
    f: EXPORT_FORMATS.length,
  };
}

/** One request: an operation chosen by weight and its draws, uniform over the seeded keys. */
export function nextRequest(random: () => number, ranges: Record<keyof Draw, number>): { operation: Operation; draw: Draw } {
  let roll = random() * 100;
  let operation = OPERATIONS[0] as Operation;
  for (const candidate of OPERATIONS) {
    operation = candidate;
    roll -= candidate.weight;
    if (roll < 0) break;
  }
  const draw = {} as Draw;
  for (const key of Object.keys(ranges) as (keyof Draw)[]) draw[key] = randomInt(random, 1, ranges[key]);
  return { operation, draw };
}

/**
 * pgbench scripts made from the SQL the query functions send. Each operation is run once through
 * a recording client; its statements are kept word for word and each parameter becomes:
 *
 *   a seeded key or payload   a subselect on bench.keys / bench.payloads by the drawn n, inside the
 *                             same statement (one round trip, like the Node legs, which hold the
 *                             keys in memory): `(SELECT project_id FROM bench.keys WHERE n = :p)`
 *   a value an earlier        `\gset` on that statement and the variable (`:s0_id`), e.g. the id of
 *   statement returned        the execution just started
 *   a new client-side id      `uuidv7()` (the application makes it in Node; pgbench cannot)
 *   anything else             the same value as a literal (enum values, limits, lock namespaces)
 *
 * Each script is one JEEX operation; pgbench picks one per transaction by weight (`-f file@w`).
 */
import type { RecordedStatement, RecordedStep } from './record-sql.ts';
import { recordingDb } from './record-sql.ts';
import { AGENT_TYPES, DOCUMENT_TYPES, EXPORT_FORMATS } from './content.ts';
import { OPERATIONS, drawRanges, type Draw, type OperationName, type WorkloadData } from './workload.ts';

export interface PgbenchScript {
  operation: OperationName;
  weight: number;
  /** The script file's text. */
  text: string;
  /** Statements per run, BEGIN and COMMIT included (= round trips for pgbench). */
  statements: number;
}

const key = (column: string, variable: keyof Draw) => `(SELECT ${column} FROM bench.keys WHERE n = :${variable})`;
const payload = (column: string) => `(SELECT ${column} FROM bench.payloads WHERE n = :k)`;
const documentType = '(enum_range(NULL::document_type))[:t]';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A parameter as the driver sends it, for comparison: objects (jsonb) as JSON text. */
function normalise(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

/** The values of the sample request mapped to their pgbench expressions, only for the draws an operation uses. */
function rules(draw: Draw, data: WorkloadData, uses: (keyof Draw)[]): [string, string][] {
  const project = data.keys.projects[draw.p - 1];
  const all: [keyof Draw, string | undefined, string][] = [
    ['p', project?.id, key('project_id', 'p')],
    ['p', project?.owner, key('owner_id', 'p')],
    ['u', data.keys.users[draw.u - 1], key('user_id', 'u')],
    ['c', data.keys.correlations[draw.c - 1], key('correlation_id', 'c')],
    ['k', data.payloads.contents[draw.k - 1], payload('content')],
    ['k', normalise(data.payloads.inputs[draw.k - 1]), payload('input')],
    ['k', normalise(data.payloads.outputs[draw.k - 1]), payload('output')],
    ['k', normalise(data.payloads.manifests[draw.k - 1]), payload('manifest')],
    ['t', `${project?.id ?? ''}:${DOCUMENT_TYPES[draw.t - 1] ?? ''}`, `${key('project_id', 'p')}::text || ':' || ${documentType}::text`],
    ['t', DOCUMENT_TYPES[draw.t - 1], documentType],
    ['a', AGENT_TYPES[draw.a - 1], `(ARRAY[${AGENT_TYPES.map((a) => `'${a}'`).join(', ')}])[:a]`],
    ['f', EXPORT_FORMATS[draw.f - 1], '(enum_range(NULL::export_format))[:f]'],
  ];
  return all.filter(([variable, value]) => value !== undefined && uses.includes(variable)).map(([, value, expression]) => [value ?? '', expression]);
}

function literal(value: unknown): string {
  const text = normalise(value);
  if (text === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return text;
  return `'${text.replaceAll("'", "''")}'`;
}

/** Turn one operation's recorded steps into a pgbench script body. */
export function scriptFor(steps: RecordedStep[], mapping: [string, string][]): { lines: string[]; statements: number } {
  const statements = steps.filter((s): s is RecordedStatement => typeof s !== 'string');
  const gsets = new Set<number>();
  const expressionFor = (value: unknown, index: number): string => {
    const text = normalise(value);
    const rule = mapping.find(([candidate]) => candidate === text);
    if (rule) return rule[1];
    for (let i = 0; i < index; i++) {
      const earlier = statements[i];
      for (const [c, column] of (earlier?.columns ?? []).entries()) {
        const returned = earlier?.row?.[c];
        if (returned === null || returned === undefined) continue;
        if (normalise(returned) === text && typeof returned === 'string') {
          gsets.add(i);
          return `:s${i}_${column}`;
        }
        if (typeof returned === 'number' && typeof value === 'number' && value === returned + 1) {
          gsets.add(i);
          return `(:s${i}_${column} + 1)`;
        }
      }
    }
    if (typeof value === 'string' && UUID.test(value)) return 'uuidv7()';
    return literal(value);
  };
  const bodies = statements.map((statement, index) =>
    statement.text.replace(/\s+/g, ' ').replace(/\$(\d+)/g, (_, n: string) => expressionFor(statement.params[Number(n) - 1], index)),
  );
  const lines: string[] = [];
  let next = 0;
  for (const step of steps) {
    if (step === 'begin') lines.push('BEGIN;');
    else if (step === 'commit') lines.push('COMMIT;');
    else {
      const index = next++;
      lines.push(gsets.has(index) ? `${bodies[index] ?? ''} \\gset s${index}_` : `${bodies[index] ?? ''};`);
    }
  }
  return { lines, statements: steps.length };
}

/**
 * Run each operation once on `directUrl` (it writes a few rows) and make its pgbench script.
 * The sample draws are chosen so that no two mapped values coincide.
 */
export async function buildPgbenchScripts(directUrl: string, data: WorkloadData): Promise<PgbenchScript[]> {
  const ranges = drawRanges(data);
  const owner = data.keys.projects[0]?.owner;
  const u = data.keys.users.findIndex((user) => user !== owner) + 1;
  const draw: Draw = { p: 1, u, c: 1, k: Math.min(2, ranges.k), t: 2, a: 2, f: 2 };
  const recorder = recordingDb(directUrl);
  try {
    const scripts: PgbenchScript[] = [];
    for (const operation of OPERATIONS) {
      await operation.run(recorder.db, draw, data);
      const { lines, statements } = scriptFor(recorder.take(), rules(draw, data, operation.uses));
      const sets = operation.uses.map((v) => `\\set ${v} random(1, ${ranges[v]})`);
      const text = [`-- ${operation.name} (${operation.weight}%): ${operation.describe}`, ...sets, ...lines, ''].join('\n');
      scripts.push({ operation: operation.name, weight: operation.weight, text, statements });
    }
    return scripts;
  } finally {
    await recorder.close();
  }
}

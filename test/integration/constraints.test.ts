import type { Sql } from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode, JeexDbError } from '../../src/core/errors.ts';
import { uuidv7 } from '../../src/core/uuid.ts';
import { constraints } from '../../src/schema/constraints.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { refusal } from '../helpers/rejections.ts';
import { emailHash, rawUser } from '../helpers/users.ts';

// Every data rule of data-model.md, broken with raw SQL as the application role: the database
// refuses the bad row, the translator names the rule, and the matching good row goes in (so
// each case fails if the rule is missing, too strict, or badly translated).

type TableName = 'users' | 'projects' | 'document_versions' | 'agent_executions' | 'exports';
/** Plaintext written around the column cipher (users' email and name are sealed otherwise). */
class Raw {
  constructor(readonly value: string) {}
}
const raw = (value: string) => new Raw(value);
// Timestamps go as ISO strings: PostgreSQL casts them to timestamptz.
type Row = Record<string, string | number | null | Buffer | Raw>;

interface Fixture {
  /** Owns `projectId`; the author of every row below. */
  userId: string;
  projectId: string;
  /** Version 1 of the `about` document of `projectId`. */
  versionId: string;
  executionId: string;
  exportId: string;
  otherUserId: string;
  otherProjectId: string;
}

type Patch = Row | ((f: Fixture) => Row);

interface RuleCase {
  table: TableName;
  rule: string;
  /** insert: the patch goes over a valid new row. update: a valid row is inserted, then patched. */
  op: 'insert' | 'update';
  bad: Patch;
  good: Patch;
  code: ErrorCode;
  /** The constraint the error must name (none for NOT NULL and enum input errors). */
  constraint?: string;
  columns?: string[];
  /** For INVALID_INPUT: the enum type the message names. */
  enumType?: string;
}

let sequence = 0;
const next = () => ++sequence;
const T0 = '2026-01-02T03:04:05.000Z';
const later = (ms: number) => new Date(Date.parse(T0) + ms).toISOString();

// A valid new row of each table; every case patches one of these.
const validRow: Record<TableName, (f: Fixture) => Row> = {
  users: () => ({ email: `user-${next()}@example.com`, name: 'Ada Lovelace', profile_data: '{}' }),
  projects: (f) => ({ name: 'An idea', created_by: f.userId, status: 'draft', current_step: 1, language: 'en', metadata: '{}' }),
  document_versions: (f) => ({
    project_id: f.projectId,
    document_type: 'specs',
    version: 1000 + next(),
    content: '# Specs',
    metadata: '{}',
    created_by: f.userId,
  }),
  agent_executions: (f) => ({
    project_id: f.projectId,
    agent_type: 'product_manager',
    correlation_id: uuidv7(),
    status: 'running',
    started_at: T0,
  }),
  exports: (f) => ({ project_id: f.projectId, format: 'pdf', status: 'pending', manifest: '{}', created_by: f.userId }),
};

interface Variant {
  rule: string;
  op?: 'insert' | 'update';
  bad: Patch;
  good: Patch;
}

function rules(
  table: TableName,
  code: ErrorCode,
  constraint: string | undefined,
  columns: string[] | undefined,
  variants: Variant[],
  enumType?: string,
): RuleCase[] {
  return variants.map((v) => ({
    table,
    code,
    ...(constraint ? { constraint } : {}),
    ...(columns ? { columns } : {}),
    ...(enumType ? { enumType } : {}),
    op: v.op ?? 'insert',
    rule: v.rule,
    bad: v.bad,
    good: v.good,
  }));
}

const pkey = (table: TableName, existing: (f: Fixture) => string): RuleCase[] =>
  rules(table, 'UNIQUE_VIOLATION', `${table}_pkey`, ['id'], [
    { rule: 'an id that is taken', bad: (f) => ({ id: existing(f) }), good: () => ({ id: uuidv7() }) },
  ]);

const jsonObject = (table: TableName, column: string): RuleCase[] =>
  rules(table, 'CHECK_VIOLATION', `${table}_${column}_object`, [column], [
    { rule: `${column} as a JSON array`, bad: { [column]: '[1, 2]' }, good: { [column]: '{"a": [1, 2]}' } },
    { rule: `${column} as a JSON string`, bad: { [column]: '"text"' }, good: { [column]: '{}' } },
    { rule: `${column} as a JSON number`, bad: { [column]: '42' }, good: { [column]: '{"n": 42}' } },
    { rule: `${column} as JSON null`, bad: { [column]: 'null' }, good: { [column]: '{"n": null}' } },
    { rule: `${column} set to an array by UPDATE`, op: 'update', bad: { [column]: '[]' }, good: { [column]: '{"b": true}' } },
  ]);

const nameLength = (table: TableName): RuleCase[] =>
  rules(table, 'CHECK_VIOLATION', `${table}_name_length`, ['name'], [
    { rule: 'an empty name', bad: { name: '' }, good: { name: 'A' } },
    { rule: 'a name of 256 characters', bad: { name: 'x'.repeat(256) }, good: { name: 'x'.repeat(255) } },
    // Characters, not bytes: 255 four-byte characters (1020 bytes) are a valid name.
    { rule: 'a name of 256 multi-byte characters', bad: { name: '🦊'.repeat(256) }, good: { name: '🦊'.repeat(255) } },
    { rule: 'a name of 256 two-byte characters', bad: { name: 'é'.repeat(256) }, good: { name: 'é'.repeat(255) } },
    { rule: 'a name emptied by UPDATE', op: 'update', bad: { name: '' }, good: { name: 'Renamed' } },
  ]);

const foreignKey = (table: TableName, column: string, parent: 'users' | 'projects'): RuleCase[] =>
  rules(table, 'FOREIGN_KEY_VIOLATION', `${table}_${column}_${parent}_id_fk`, [column], [
    {
      rule: `a ${column} that does not exist`,
      bad: () => ({ [column]: uuidv7() }),
      good: (f) => ({ [column]: parent === 'users' ? f.userId : f.projectId }),
    },
    {
      rule: `a ${column} changed by UPDATE to one that does not exist`,
      op: 'update',
      bad: () => ({ [column]: uuidv7() }),
      good: (f) => ({ [column]: parent === 'users' ? f.otherUserId : f.otherProjectId }),
    },
  ]);

const notNull = (table: TableName, columns: string[]): RuleCase[] =>
  columns.map((column) => ({
    table,
    rule: `${column} is NULL`,
    op: 'insert',
    bad: { [column]: null },
    good: {},
    code: 'NOT_NULL_VIOLATION',
    columns: [column],
  }));

const invalidEnum = (table: TableName, column: string, enumType: string, bad: string[], good: string): RuleCase[] =>
  rules(
    table,
    'INVALID_INPUT',
    undefined,
    undefined,
    bad.map((value) => ({ rule: `${column} '${value}'`, bad: { [column]: value }, good: { [column]: good } })),
    enumType,
  );

const completedAt = later(60_000);

const cases: RuleCase[] = [
  // users: email and name are sealed by insertRow/updateRow (as createUser does), so what the
  // database checks is the envelope and the blind index; their format and length rules are the
  // validation schema's (queries.test.ts).
  ...rules('users', 'UNIQUE_VIOLATION', 'users_email_hash_unique', ['email_hash'], [
    { rule: 'an email taken in another case (A@x.io exists, a@x.io inserted)', bad: { email: 'a@x.io' }, good: { email: 'b@x.io' } },
    { rule: 'an email changed by UPDATE to a taken one in upper case', op: 'update', bad: { email: 'A@X.IO' }, good: { email: 'c@x.io' } },
  ]),
  ...pkey('users', (f) => f.userId),
  ...rules('users', 'CHECK_VIOLATION', 'users_email_sealed', ['email'], [
    { rule: 'a plaintext email', bad: { email: raw('ada@example.com') }, good: { email: 'ada@example.com' } },
    { rule: 'an envelope without data', bad: { email: raw('jx1.0123abcd.') }, good: { email: 'ada@example.org' } },
    { rule: 'an email set to plaintext by UPDATE', op: 'update', bad: { email: raw('ada@example.net') }, good: { email: 'ada@example.net' } },
  ]),
  ...rules('users', 'CHECK_VIOLATION', 'users_name_sealed', ['name'], [
    { rule: 'a plaintext name', bad: { name: raw('Ada Lovelace') }, good: { name: 'Ada Lovelace' } },
    { rule: 'an empty name column', bad: { name: raw('') }, good: { name: 'A' } },
    { rule: 'a name set to plaintext by UPDATE', op: 'update', bad: { name: raw('Renamed') }, good: { name: 'Renamed' } },
  ]),
  ...rules('users', 'CHECK_VIOLATION', 'users_email_hash_length', ['email_hash'], [
    { rule: 'a blind index of 32 bytes (no key id)', bad: { email_hash: Buffer.alloc(32, 1) }, good: {} },
    { rule: 'an empty blind index set by UPDATE', op: 'update', bad: { email_hash: Buffer.alloc(0) }, good: { email: 'rehashed@example.com' } },
  ]),
  ...jsonObject('users', 'profile_data'),
  ...notNull('users', ['id', 'email', 'email_hash', 'name', 'profile_data', 'created_at', 'updated_at']),

  // projects
  ...pkey('projects', (f) => f.projectId),
  ...nameLength('projects'),
  ...rules('projects', 'CHECK_VIOLATION', 'projects_current_step_range', ['current_step'], [
    { rule: 'current_step 0', bad: { current_step: 0 }, good: { current_step: 1 } },
    { rule: 'current_step 5', bad: { current_step: 5 }, good: { current_step: 4 } },
    { rule: 'current_step -1', bad: { current_step: -1 }, good: { current_step: 2 } },
    { rule: 'current_step moved to 5 by UPDATE', op: 'update', bad: { current_step: 5 }, good: { current_step: 4 } },
  ]),
  ...rules('projects', 'CHECK_VIOLATION', 'projects_language_tag', ['language'], [
    { rule: "language 'english'", bad: { language: 'english' }, good: { language: 'en' } },
    { rule: "language 'e'", bad: { language: 'e' }, good: { language: 'ru' } },
    { rule: "language 'pt_BR'", bad: { language: 'pt_BR' }, good: { language: 'pt-BR' } },
    { rule: "language ''", bad: { language: '' }, good: { language: 'zh-Hant-TW' } },
    { rule: "language 'pt-'", bad: { language: 'pt-' }, good: { language: 'pt' } },
    { rule: "language changed to 'english' by UPDATE", op: 'update', bad: { language: 'english' }, good: { language: 'de' } },
  ]),
  ...jsonObject('projects', 'metadata'),
  ...foreignKey('projects', 'created_by', 'users'),
  ...invalidEnum('projects', 'status', 'project_status', ['deleted', 'Draft', ''], 'in_progress'),
  ...notNull('projects', ['id', 'name', 'status', 'current_step', 'language', 'metadata', 'created_by']),

  // document_versions
  ...pkey('document_versions', (f) => f.versionId),
  ...rules('document_versions', 'UNIQUE_VIOLATION', 'document_versions_project_type_version_unique', ['project_id', 'document_type', 'version'], [
    { rule: 'a version number that is taken', bad: { document_type: 'about', version: 1 }, good: { document_type: 'about', version: 2 } },
  ]),
  ...rules('document_versions', 'CHECK_VIOLATION', 'document_versions_version_positive', ['version'], [
    { rule: 'version 0', bad: { version: 0 }, good: { document_type: 'architecture', version: 1 } },
    { rule: 'version -1', bad: { version: -1 }, good: { document_type: 'plan', version: 1 } },
  ]),
  ...(['readability_score', 'grammar_score'] as const).flatMap((column) =>
    rules('document_versions', 'CHECK_VIOLATION', `document_versions_${column}_range`, [column], [
      { rule: `${column} -1`, bad: { [column]: -1 }, good: { [column]: 0 } },
      { rule: `${column} 100.5`, bad: { [column]: 100.5 }, good: { [column]: 100 } },
      { rule: `${column} NaN`, bad: { [column]: 'NaN' }, good: { [column]: 99.5 } },
      { rule: `${column} set to 101 by UPDATE`, op: 'update', bad: { [column]: 101 }, good: { [column]: 55 } },
      { rule: `${column} set to -0.01 by UPDATE`, op: 'update', bad: { [column]: -0.01 }, good: { [column]: 0.01 } },
    ]),
  ),
  ...jsonObject('document_versions', 'metadata'),
  ...foreignKey('document_versions', 'project_id', 'projects').filter((c) => c.op === 'insert'), // project_id is append-only
  ...foreignKey('document_versions', 'created_by', 'users').filter((c) => c.op === 'insert'), // so is created_by
  ...invalidEnum('document_versions', 'document_type', 'document_type', ['readme', 'About'], 'plan'),
  ...notNull('document_versions', ['id', 'project_id', 'document_type', 'version', 'content', 'metadata', 'created_by']),

  // agent_executions
  ...pkey('agent_executions', (f) => f.executionId),
  ...rules('agent_executions', 'CHECK_VIOLATION', 'agent_executions_agent_type_format', ['agent_type'], [
    { rule: "agent_type 'ProductManager'", bad: { agent_type: 'ProductManager' }, good: { agent_type: 'product_manager' } },
    { rule: "agent_type '1st_agent'", bad: { agent_type: '1st_agent' }, good: { agent_type: 'agent_1' } },
    { rule: "agent_type 'product-manager'", bad: { agent_type: 'product-manager' }, good: { agent_type: 'reviewer' } },
    { rule: 'agent_type of 65 characters', bad: { agent_type: 'a'.repeat(65) }, good: { agent_type: 'a'.repeat(64) } },
  ]),
  ...rules('agent_executions', 'CHECK_VIOLATION', 'agent_executions_completed_after_started', ['completed_at', 'started_at'], [
    {
      rule: 'completed_at one second before started_at',
      bad: { status: 'completed', started_at: T0, completed_at: later(-1000) },
      good: { status: 'completed', started_at: T0, completed_at: T0 },
    },
    {
      rule: 'completed_at set before started_at by UPDATE',
      op: 'update',
      bad: { status: 'failed', completed_at: later(-1) },
      good: { status: 'failed', completed_at: later(1) },
    },
  ]),
  ...rules('agent_executions', 'CHECK_VIOLATION', 'agent_executions_completed_at_when_final', ['status', 'completed_at'], [
    ...(['completed', 'failed', 'cancelled'] as const).map((status) => ({
      rule: `status ${status} without completed_at`,
      bad: { status, completed_at: null },
      good: { status, completed_at: completedAt },
    })),
    ...(['pending', 'running', 'needs_input'] as const).map((status) => ({
      rule: `status ${status} with completed_at`,
      bad: { status, completed_at: completedAt },
      good: { status, completed_at: null },
    })),
    { rule: 'status set to completed by UPDATE without completed_at', op: 'update', bad: { status: 'completed' }, good: { status: 'completed', completed_at: completedAt } },
    { rule: 'completed_at set by UPDATE while running', op: 'update', bad: { completed_at: completedAt }, good: { status: 'cancelled', completed_at: completedAt } },
  ]),
  ...rules('agent_executions', 'CHECK_VIOLATION', 'agent_executions_duration_non_negative', ['duration_ms'], [
    { rule: 'duration_ms -1', bad: { duration_ms: -1 }, good: { duration_ms: 0 } },
  ]),
  ...foreignKey('agent_executions', 'project_id', 'projects'),
  ...invalidEnum('agent_executions', 'status', 'execution_status', ['done', 'RUNNING'], 'needs_input'),
  ...notNull('agent_executions', ['id', 'project_id', 'agent_type', 'correlation_id', 'status', 'started_at']),

  // exports
  ...pkey('exports', (f) => f.exportId),
  ...rules('exports', 'CHECK_VIOLATION', 'exports_download_count_non_negative', ['download_count'], [
    { rule: 'download_count -1', bad: { download_count: -1 }, good: { download_count: 0 } },
    { rule: 'download_count set to -1 by UPDATE', op: 'update', bad: { download_count: -1 }, good: { download_count: 3 } },
  ]),
  ...rules('exports', 'CHECK_VIOLATION', 'exports_completed_has_file', ['status', 'file_path', 'completed_at'], [
    {
      rule: 'completed without file_path',
      bad: { status: 'completed', file_path: null, completed_at: completedAt },
      good: { status: 'completed', file_path: 'exports/idea.pdf', completed_at: completedAt },
    },
    {
      rule: 'completed without completed_at',
      bad: { status: 'completed', file_path: 'exports/idea.pdf', completed_at: null },
      good: { status: 'failed', file_path: null, completed_at: null },
    },
    {
      rule: 'set to completed by UPDATE without a file',
      op: 'update',
      bad: { status: 'completed', completed_at: completedAt },
      good: { status: 'completed', completed_at: completedAt, file_path: 'exports/idea.zip' },
    },
  ]),
  ...jsonObject('exports', 'manifest'),
  ...foreignKey('exports', 'project_id', 'projects'),
  ...foreignKey('exports', 'created_by', 'users'),
  ...invalidEnum('exports', 'format', 'export_format', ['docx', 'PDF'], 'markdown_zip'),
  ...invalidEnum('exports', 'status', 'export_status', ['ready'], 'expired'),
  ...notNull('exports', ['id', 'project_id', 'format', 'status', 'manifest', 'expires_at', 'download_count', 'created_by']),
];

/**
 * A users row or patch as createUser would write it: email and name sealed for the row id, the
 * email's blind index added (unless the row sets it), Raw values written as they are.
 */
function sealUsers(row: Row, id: string): Row {
  const out: Row = { ...row };
  if (typeof row.email === 'string') {
    out.email = rawUser(row.email, 'x', id).email;
    if (!('email_hash' in row)) out.email_hash = emailHash(row.email);
  } else if (!('email_hash' in row) && 'email' in row) {
    // Plaintext or NULL email: a valid blind index, so that only the email is wrong.
    out.email_hash = emailHash(row.email instanceof Raw ? row.email.value : `no-email-${next()}@example.com`);
  }
  if (typeof row.name === 'string') out.name = rawUser('x@x.io', row.name, id).name;
  for (const [key, value] of Object.entries(out)) if (value instanceof Raw) out[key] = value.value;
  return out;
}

async function insertRow(sql: Sql, table: TableName, row: Row): Promise<string> {
  // Users' values are bound to the row id: choose it first (a NULL id stays NULL).
  const values = table === 'users' ? sealUsers({ id: uuidv7(), ...row }, typeof row.id === 'string' ? row.id : uuidv7()) : row;
  const rows = await sql<{ id: string }[]>`INSERT INTO ${sql(table)} ${sql(values as Record<string, string>)} RETURNING id`;
  expect(rows).toHaveLength(1);
  return rows[0]!.id;
}

async function updateRow(sql: Sql, table: TableName, id: string, patch: Row): Promise<void> {
  const values = table === 'users' ? sealUsers(patch, id) : patch;
  const rows = await sql<{ id: string }[]>`UPDATE ${sql(table)} SET ${sql(values as Record<string, string>)} WHERE id = ${id} RETURNING id`;
  expect(rows).toHaveLength(1);
}

const resolve = (patch: Patch, f: Fixture): Row => (typeof patch === 'function' ? patch(f) : patch);

describe('REQ-002: every data rule is enforced by the database and translated', () => {
  const t = useTestDatabase();
  const f = {} as Fixture;

  beforeAll(async () => {
    const sql = t.client.sql;
    f.userId = await insertRow(sql, 'users', { email: 'A@x.io', name: 'Owner' });
    f.otherUserId = await insertRow(sql, 'users', { email: 'other@x.io', name: 'Other' });
    f.projectId = await insertRow(sql, 'projects', { name: 'Idea', created_by: f.userId });
    f.otherProjectId = await insertRow(sql, 'projects', { name: 'Other idea', created_by: f.otherUserId });
    f.versionId = await insertRow(sql, 'document_versions', {
      project_id: f.projectId,
      document_type: 'about',
      version: 1,
      content: '# About',
      created_by: f.userId,
    });
    f.executionId = await insertRow(sql, 'agent_executions', validRow.agent_executions(f));
    f.exportId = await insertRow(sql, 'exports', validRow.exports(f));
  });

  it('covers every CHECK, UNIQUE and FOREIGN KEY constraint of the catalog', () => {
    const covered = new Set(cases.map((c) => c.constraint));
    const uncovered = Object.keys(constraints).filter((name) => !covered.has(name) && name !== 'document_versions_append_only');
    expect(uncovered).toEqual([]);
  });

  it.each(cases)('$table: $rule is refused with $code', async (c) => {
    const sql = t.client.sql;
    const base = validRow[c.table](f);
    const bad = resolve(c.bad, f);
    let error: JeexDbError;
    let id: string | undefined;
    if (c.op === 'insert') {
      error = await refusal(insertRow(sql, c.table, { ...base, ...bad }));
    } else {
      id = await insertRow(sql, c.table, base);
      error = await refusal(updateRow(sql, c.table, id, bad));
    }

    expect(error.code).toBe(c.code);
    if (c.code === 'NOT_NULL_VIOLATION') {
      expect(error.constraint).toBeUndefined();
      expect(error.table).toBe(c.table);
      expect(error.columns).toEqual(c.columns);
      expect(error.message).toBe(`${c.table}.${c.columns?.[0]} is required but was null`);
    } else if (c.code === 'INVALID_INPUT') {
      expect(error.sqlState).toBe('22P02');
      expect(error.message).toContain(`enum ${c.enumType}`);
    } else {
      const name = c.constraint ?? '';
      expect(error.constraint).toBe(name);
      expect(error.table).toBe(c.table);
      expect(error.columns).toEqual(c.columns);
      expect(error.message.startsWith(`${name}: `), error.message).toBe(true);
      expect(error.message).toContain(constraints[name]?.message ?? `(no catalog sentence for ${name})`);
    }
    // DETAIL (the failing row) and the driver error stay out of serialized errors.
    for (const value of Object.values({ ...base, ...bad })) {
      if (typeof value === 'string' && value.includes('@')) {
        expect(JSON.stringify(error).toLowerCase()).not.toContain(value.toLowerCase());
      }
    }

    // The matching good row is accepted.
    const good = { ...base, ...resolve(c.good, f) };
    if (c.op === 'insert') {
      await insertRow(sql, c.table, good);
    } else {
      await updateRow(sql, c.table, id ?? '', resolve(c.good, f));
    }
  });

  it('compares emails ignoring case (through the blind index) and keeps the email out of the error', async () => {
    const sql = t.client.sql;
    await insertRow(sql, 'users', { email: 'Grace.Hopper@Navy.mil', name: 'Grace' });
    const error = await refusal(insertRow(sql, 'users', { email: 'grace.hopper@navy.mil', name: 'Impostor' }));
    expect(error.code).toBe('UNIQUE_VIOLATION');
    expect(error.message).toBe('users_email_hash_unique: a user with this email already exists');
    expect(error.hint).toContain('ignoring case');
    // PostgreSQL's DETAIL names the blind index, never the email; it is kept, but not enumerable.
    expect(error.detail).toContain(emailHash('grace.hopper@navy.mil').toString('hex'));
    expect(error.detail?.toLowerCase()).not.toContain('grace');
    expect(Object.keys(error)).not.toContain('detail');
    expect(Object.keys(error)).not.toContain('cause');
    const json = JSON.stringify(error).toLowerCase();
    expect(json).toContain('users_email_hash_unique');
    expect(json).not.toContain('grace.hopper@navy.mil');
    const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE email_hash = ${emailHash('GRACE.HOPPER@navy.mil')}`;
    expect(count?.n).toBe(1);
  });

  describe('document_versions are append-only', () => {
    const immutable: [column: string, patch: Patch][] = [
      ['content', { content: '# Rewritten' }],
      ['version', { version: 1_000_000 }],
      ['document_type', { document_type: 'plan' }],
      ['project_id', (fx) => ({ project_id: fx.otherProjectId })],
      ['created_by', (fx) => ({ created_by: fx.otherUserId })],
      ['created_at', { created_at: T0 }],
    ];

    it.each(immutable)('an UPDATE of %s is refused with INTEGRITY_VIOLATION and the row is unchanged', async (column, patch) => {
      const sql = t.client.sql;
      const id = await insertRow(sql, 'document_versions', validRow.document_versions(f));
      const [before] = await sql`SELECT * FROM document_versions WHERE id = ${id}`;

      const error = await refusal(updateRow(sql, 'document_versions', id, resolve(patch, f)));
      expect(error.code).toBe('INTEGRITY_VIOLATION');
      expect(error.constraint).toBe('document_versions_append_only');
      expect(error.table).toBe('document_versions');
      expect(error.columns).toEqual([column]);
      expect(error.message.startsWith('document_versions_append_only: ')).toBe(true);
      expect(error.message).toContain(constraints.document_versions_append_only?.message ?? '(missing)');
      expect(error.hint).toBe('Append a new version instead of editing this one.');

      const [after] = await sql`SELECT * FROM document_versions WHERE id = ${id}`;
      expect(after).toEqual(before);
    });

    it('allows reviewers to fill in scores and metadata, and a no-op write of the content', async () => {
      const sql = t.client.sql;
      const row = validRow.document_versions(f);
      const id = await insertRow(sql, 'document_versions', row);
      await updateRow(sql, 'document_versions', id, {
        readability_score: 71.5,
        grammar_score: 88,
        metadata: '{"reviewer": "lint"}',
        content: row.content ?? '',
      });
      const [after] = await sql<{ readability_score: number; grammar_score: number; metadata: unknown; content: string }[]>`
        SELECT readability_score, grammar_score, metadata, content FROM document_versions WHERE id = ${id}`;
      expect(after).toEqual({ readability_score: 71.5, grammar_score: 88, metadata: { reviewer: 'lint' }, content: row.content });
    });
  });
});

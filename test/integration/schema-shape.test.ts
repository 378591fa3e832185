import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import type { Sql } from 'postgres';
import { describe, expect, it } from 'vitest';
import { agentExecutions, constraints, documentVersions, exports, projects, users } from '../../src/schema/index.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// REQ-002 acceptance: after the initial migration the database has the shape of
// docs data-model.md, every named constraint has a sentence in the catalog (and the catalog
// names nothing that does not exist), the ON DELETE rules are the schema's, every foreign key
// is indexed and no index is redundant.

const tableNames = ['users', 'projects', 'document_versions', 'agent_executions', 'exports'] as const;
type TableName = (typeof tableNames)[number];

const drizzleTables: Record<TableName, PgTable> = {
  users,
  projects,
  document_versions: documentVersions,
  agent_executions: agentExecutions,
  exports,
};

interface ColumnSpec {
  type: string;
  notNull: boolean;
  /** pg_get_expr of the default; only where data-model.md states one. */
  default?: string;
}

// Millisecond precision: what a JS Date holds (src/schema/columns.ts).
const timestamptz = 'timestamp(3) with time zone';
const idColumn: ColumnSpec = { type: 'uuid', notNull: true, default: 'uuidv7()' };
const timestamps: Record<string, ColumnSpec> = {
  created_at: { type: timestamptz, notNull: true, default: 'now()' },
  updated_at: { type: timestamptz, notNull: true, default: 'now()' },
};
const emptyObject = "'{}'::jsonb";

// The tables of data-model.md, column by column.
const expectedColumns: Record<TableName, Record<string, ColumnSpec>> = {
  users: {
    id: idColumn,
    // Encrypted by the application (jx1 envelopes), with the email's blind index (SEC-001).
    email: { type: 'text', notNull: true },
    email_hash: { type: 'bytea', notNull: true },
    name: { type: 'text', notNull: true },
    profile_data: { type: 'jsonb', notNull: true, default: emptyObject },
    last_login_at: { type: timestamptz, notNull: false },
    ...timestamps,
  },
  projects: {
    id: idColumn,
    name: { type: 'text', notNull: true },
    status: { type: 'project_status', notNull: true, default: "'draft'::project_status" },
    current_step: { type: 'integer', notNull: true, default: '1' },
    language: { type: 'text', notNull: true, default: "'en'::text" },
    metadata: { type: 'jsonb', notNull: true, default: emptyObject },
    created_by: { type: 'uuid', notNull: true },
    deleted_at: { type: timestamptz, notNull: false },
    ...timestamps,
  },
  document_versions: {
    id: idColumn,
    project_id: { type: 'uuid', notNull: true },
    document_type: { type: 'document_type', notNull: true },
    version: { type: 'integer', notNull: true },
    content: { type: 'text', notNull: true },
    metadata: { type: 'jsonb', notNull: true, default: emptyObject },
    readability_score: { type: 'real', notNull: false },
    grammar_score: { type: 'real', notNull: false },
    created_by: { type: 'uuid', notNull: true },
    ...timestamps,
  },
  agent_executions: {
    id: idColumn,
    project_id: { type: 'uuid', notNull: true },
    agent_type: { type: 'text', notNull: true },
    correlation_id: { type: 'uuid', notNull: true },
    input_data: { type: 'jsonb', notNull: false },
    output_data: { type: 'jsonb', notNull: false },
    status: { type: 'execution_status', notNull: true },
    error_message: { type: 'text', notNull: false },
    started_at: { type: timestamptz, notNull: true, default: 'now()' },
    completed_at: { type: timestamptz, notNull: false },
    duration_ms: { type: 'integer', notNull: false },
    ...timestamps,
  },
  exports: {
    id: idColumn,
    project_id: { type: 'uuid', notNull: true },
    format: { type: 'export_format', notNull: true },
    status: { type: 'export_status', notNull: true, default: "'pending'::export_status" },
    file_path: { type: 'text', notNull: false },
    manifest: { type: 'jsonb', notNull: true, default: emptyObject },
    expires_at: { type: timestamptz, notNull: true, default: "(now() + '24:00:00'::interval)" },
    download_count: { type: 'integer', notNull: true, default: '0' },
    completed_at: { type: timestamptz, notNull: false },
    created_by: { type: 'uuid', notNull: true },
    ...timestamps,
  },
};

const expectedEnums: Record<string, string[]> = {
  project_status: ['draft', 'in_progress', 'completed', 'archived'],
  document_type: ['about', 'specs', 'architecture', 'plan'],
  execution_status: ['pending', 'running', 'completed', 'failed', 'needs_input', 'cancelled'],
  export_format: ['markdown_zip', 'pdf'],
  export_status: ['pending', 'processing', 'completed', 'failed', 'expired'],
};

// The ON DELETE rules decided in data-model.md (and the schema's comments), one per foreign key.
const expectedOnDelete: Record<string, { table: TableName; column: string; references: TableName; onDelete: string }> = {
  projects_created_by_users_id_fk: { table: 'projects', column: 'created_by', references: 'users', onDelete: 'cascade' },
  document_versions_project_id_projects_id_fk: {
    table: 'document_versions',
    column: 'project_id',
    references: 'projects',
    onDelete: 'cascade',
  },
  document_versions_created_by_users_id_fk: {
    table: 'document_versions',
    column: 'created_by',
    references: 'users',
    onDelete: 'no action',
  },
  agent_executions_project_id_projects_id_fk: {
    table: 'agent_executions',
    column: 'project_id',
    references: 'projects',
    onDelete: 'cascade',
  },
  exports_project_id_projects_id_fk: { table: 'exports', column: 'project_id', references: 'projects', onDelete: 'cascade' },
  exports_created_by_users_id_fk: { table: 'exports', column: 'created_by', references: 'users', onDelete: 'no action' },
};

const confdeltype: Record<string, string> = { a: 'no action', r: 'restrict', c: 'cascade', n: 'set null', d: 'set default' };

interface IndexRow {
  table: string;
  index: string;
  method: string;
  unique: boolean;
  backsConstraint: boolean;
  /** Each key column as pg_get_indexdef prints it: a column name or an expression. */
  keys: string[];
  /** Attribute numbers of the key columns (0 for an expression). */
  keyAttnums: number[];
  /** Operator class and collation of each key column; two indexes agree only if these do. */
  keyClasses: string[];
  /** pg_index.indoption per key column: bit 1 DESC, bit 2 NULLS FIRST. */
  keyOptions: number[];
  includes: string[];
  predicate: string | null;
}

async function indexesIn(sql: Sql, schema: string, tables: readonly string[]): Promise<IndexRow[]> {
  return sql<IndexRow[]>`
    SELECT c.relname AS table,
           ic.relname AS index,
           am.amname AS method,
           i.indisunique AS unique,
           EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid) AS "backsConstraint",
           ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k ORDER BY k) AS keys,
           ARRAY(SELECT i.indkey[k - 1]::int FROM generate_series(1, i.indnkeyatts) k ORDER BY k) AS "keyAttnums",
           ARRAY(SELECT i.indclass[k - 1]::text || '/' || i.indcollation[k - 1]::text
                   FROM generate_series(1, i.indnkeyatts) k ORDER BY k) AS "keyClasses",
           ARRAY(SELECT i.indoption[k - 1]::int FROM generate_series(1, i.indnkeyatts) k ORDER BY k) AS "keyOptions",
           ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(i.indnkeyatts + 1, i.indnatts) k ORDER BY k)
             AS includes,
           pg_get_expr(i.indpred, i.indrelid) AS predicate
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_am am ON am.oid = ic.relam
     WHERE c.relnamespace = ${schema}::regnamespace AND c.relname IN ${sql(tables)}
     ORDER BY 1, 2`;
}

const sameKey = (a: IndexRow, b: IndexRow, n: number) =>
  a.keys.slice(0, n).join('\u0000') === b.keys.slice(0, n).join('\u0000') &&
  a.keyClasses.slice(0, n).join() === b.keyClasses.slice(0, n).join();

// A B-tree is read both ways, so (a ASC) and (a DESC NULLS FIRST) serve the same queries.
const sameOrder = (a: number[], b: number[]) =>
  a.every((option, k) => option === b[k]) || a.every((option, k) => (option ^ 3) === b[k]);

/**
 * Indexes that add nothing: two indexes with the same keys, method, order and predicate; or a
 * non-unique B-tree whose keys are a strict prefix of another B-tree's with the same predicate
 * (the longer one answers every query the shorter one does). A unique index is never called
 * redundant by prefix: it enforces something. Nor is one with INCLUDE columns.
 */
function redundantIndexes(indexes: IndexRow[]): string[] {
  const findings: string[] = [];
  for (const [n, a] of indexes.entries()) {
    for (const b of indexes.slice(n + 1)) {
      if (a.table !== b.table || a.method !== b.method || a.predicate !== b.predicate) continue;
      if (
        a.keys.length === b.keys.length &&
        sameKey(a, b, a.keys.length) &&
        sameOrder(a.keyOptions, b.keyOptions) &&
        a.includes.join() === b.includes.join()
      ) {
        findings.push(`${a.table}: ${a.index} and ${b.index} are duplicates (${a.keys.join(', ')})`);
      }
    }
  }
  for (const a of indexes) {
    if (a.unique || a.method !== 'btree' || a.includes.length > 0) continue;
    for (const b of indexes) {
      if (b === a || b.table !== a.table || b.method !== 'btree' || b.predicate !== a.predicate) continue;
      const n = a.keys.length;
      if (n < b.keys.length && sameKey(a, b, n) && sameOrder(a.keyOptions, b.keyOptions.slice(0, n))) {
        findings.push(`${a.table}: ${a.index} (${a.keys.join(', ')}) is a prefix of ${b.index} (${b.keys.join(', ')})`);
      }
    }
  }
  return findings;
}

interface ForeignKeyRow {
  table: string;
  name: string;
  attnums: number[];
  columns: string[];
}

async function foreignKeysIn(sql: Sql, schema: string, tables: readonly string[]): Promise<ForeignKeyRow[]> {
  return sql<ForeignKeyRow[]>`
    SELECT c.relname AS table, con.conname AS name,
           ARRAY(SELECT k::int FROM unnest(con.conkey) k) AS attnums,
           ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
     WHERE con.contype = 'f' AND c.relnamespace = ${schema}::regnamespace AND c.relname IN ${sql(tables)}
     ORDER BY 1, 2`;
}

/**
 * Foreign keys whose columns do not lead any index. Without one, deleting a parent row scans
 * the child table. A partial index does not count: the referential check has no predicate.
 */
function unindexedForeignKeys(foreignKeys: ForeignKeyRow[], indexes: IndexRow[]): string[] {
  return foreignKeys
    .filter(
      (fk) =>
        !indexes.some(
          (ix) =>
            ix.table === fk.table &&
            ix.predicate === null &&
            ix.keyAttnums.length >= fk.attnums.length &&
            [...ix.keyAttnums.slice(0, fk.attnums.length)].sort().join() === [...fk.attnums].sort().join(),
        ),
    )
    .map((fk) => `${fk.table}.${fk.name} (${fk.columns.join(', ')}) leads no index`);
}

describe('REQ-002: schema shape after the initial migration', () => {
  const t = useTestDatabase();

  it('has exactly the five tables, each with the columns, types, nullability and defaults of data-model.md', async () => {
    const rows = await t.admin<{ table: string; column: string; type: string; notNull: boolean; default: string | null }[]>`
      SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
             a.attnotnull AS "notNull", pg_get_expr(d.adbin, d.adrelid) AS default
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
       WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
       ORDER BY c.relname, a.attnum`;

    const actual: Record<string, Record<string, ColumnSpec>> = {};
    for (const row of rows) {
      const spec: ColumnSpec = { type: row.type, notNull: row.notNull };
      if (row.default !== null) spec.default = row.default;
      (actual[row.table] ??= {})[row.column] = spec;
    }
    // Defaults are compared only where the data model states one; the rest must have none
    // or the one the schema chose (status of agent_executions), so strip unstated ones.
    for (const [table, columns] of Object.entries(expectedColumns)) {
      for (const [column, spec] of Object.entries(columns)) {
        const got = actual[table]?.[column];
        if (got && spec.default === undefined) delete got.default;
      }
    }
    expect(actual).toEqual(expectedColumns);
  });

  it('stores documents as jsonb and times as timestamptz everywhere (no json, no timestamp without time zone)', async () => {
    const wrong = await t.admin<{ column: string; type: string }[]>`
      SELECT c.relname || '.' || a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
         AND a.atttypid IN ('json'::regtype, 'timestamp'::regtype, 'varchar'::regtype, 'char'::regtype)`;
    expect(wrong).toEqual([]);
  });

  it('has the enum types with exactly the listed values, in order, used by the right columns', async () => {
    const rows = await t.admin<{ type: string; values: string[] }[]>`
      SELECT t.typname AS type, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
       WHERE t.typnamespace = 'public'::regnamespace
       GROUP BY t.typname`;
    expect(Object.fromEntries(rows.map((row) => [row.type, row.values]))).toEqual(expectedEnums);

    const enumColumns = await t.admin<{ column: string }[]>`
      SELECT c.relname || '.' || a.attname AS column
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
       WHERE t.typtype = 'e' AND t.typnamespace = 'public'::regnamespace AND c.relkind = 'r'
         AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY 1`;
    expect(enumColumns.map((row) => row.column)).toEqual([
      'agent_executions.status',
      'document_versions.document_type',
      'exports.format',
      'exports.status',
      'projects.status',
    ]);
  });

  it('has a catalog sentence for every named constraint and unique index, and the catalog names nothing else', async () => {
    // NOT NULL constraints (contype 'n', catalogued since PostgreSQL 18) are left out: the
    // server does not report their name in a not-null violation, so the translator words them
    // from the table and column instead (see constraints.test.ts).
    const named = await t.admin<{ name: string; table: string; kind: string; columns: string[] }[]>`
      SELECT con.conname AS name, c.relname AS table, con.contype::text AS kind,
             ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
       WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN ${t.admin(tableNames)} AND con.contype <> 'n'
      UNION ALL
      -- Unique indexes that back no constraint (e.g. on an expression): their name is what a
      -- unique violation reports. Columns are those the index depends on.
      SELECT ic.relname, c.relname, 'unique index',
             ARRAY(SELECT a.attname::text FROM pg_depend d
                     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refobjsubid > 0
                    ORDER BY a.attnum)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
       WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN ${t.admin(tableNames)} AND i.indisunique
         AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
       ORDER BY 1`;
    expect(named.length).toBeGreaterThan(20);

    const missing = named.filter((row) => !(row.name in constraints)).map((row) => `${row.name} (${row.kind} on ${row.table})`);
    expect(missing, `constraints in the database without a sentence in src/schema/constraints.ts`).toEqual([]);

    // The catalog's table and columns are what the translated error reports: they must be the
    // constraint's. Check constraints compare as sets (conkey has no meaningful order there).
    const mismatched = named.flatMap((row) => {
      const info = constraints[row.name];
      if (!info) return [];
      const ordered = row.kind === 'c' || row.kind === 'unique index';
      const want = ordered ? [...info.columns].sort() : info.columns;
      const got = ordered ? [...row.columns].sort() : row.columns;
      return info.table === row.table && want.join() === got.join()
        ? []
        : [`${row.name}: catalog says ${info.table}(${info.columns.join(', ')}), database has ${row.table}(${row.columns.join(', ')})`];
    });
    expect(mismatched, 'catalog entries whose table or columns differ from the database').toEqual([]);

    // Names not in pg_constraint must be raised by a trigger of that table (RAISE ... CONSTRAINT).
    const raisedByTriggers = await t.admin<{ table: string; source: string }[]>`
      SELECT c.relname AS table, p.prosrc AS source
        FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_proc p ON p.oid = tg.tgfoid
       WHERE NOT tg.tgisinternal AND c.relnamespace = 'public'::regnamespace`;
    const inDatabase = new Set(named.map((row) => row.name));
    const stale = Object.entries(constraints)
      .filter(([name, info]) => {
        if (inDatabase.has(name)) return false;
        const raise = new RegExp(`CONSTRAINT\\s*=\\s*'${name}'`);
        return !raisedByTriggers.some((trigger) => trigger.table === info.table && raise.test(trigger.source));
      })
      .map(([name]) => name);
    expect(stale, 'names in src/schema/constraints.ts that no constraint, unique index or trigger in the database has').toEqual([]);
  });

  it('has exactly the constraints and indexes the Drizzle schema declares', async () => {
    const declared = new Set<string>();
    for (const [name, table] of Object.entries(drizzleTables)) {
      const config = getTableConfig(table);
      if (config.columns.some((column) => column.primary)) declared.add(`${name}_pkey`);
      for (const fk of config.foreignKeys) declared.add(fk.getName());
      for (const check of config.checks) declared.add(check.name);
      for (const unique of config.uniqueConstraints) declared.add(unique.getName() ?? '(unnamed unique)');
      for (const index of config.indexes) declared.add(index.config.name ?? '(unnamed index)');
    }
    const rows = await t.admin<{ name: string }[]>`
      SELECT con.conname AS name FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
       WHERE c.relnamespace = 'public'::regnamespace AND con.contype <> 'n'
      UNION
      SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
       WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'`;
    expect(rows.map((row) => row.name).sort()).toEqual([...declared].sort());
  });

  it('applies the ON DELETE rule the schema declares to every foreign key', async () => {
    const rows = await t.admin<{ name: string; table: string; column: string; references: string; rule: string }[]>`
      SELECT con.conname AS name, c.relname AS table, a.attname AS column, rc.relname AS references,
             con.confdeltype::text AS rule
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_class rc ON rc.oid = con.confrelid
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
       WHERE con.contype = 'f' AND c.relnamespace = 'public'::regnamespace
       ORDER BY 1`;
    const inDatabase = Object.fromEntries(
      rows.map((row) => [
        row.name,
        { table: row.table, column: row.column, references: row.references, onDelete: confdeltype[row.rule] ?? row.rule },
      ]),
    );
    // The rules decided in data-model.md...
    expect(inDatabase).toEqual(expectedOnDelete);
    // ...are the ones the Drizzle schema declares (the earlier implementation's ORM and
    // database disagreed here).
    const inSchema: Record<string, string> = {};
    for (const table of Object.values(drizzleTables)) {
      for (const fk of getTableConfig(table).foreignKeys) inSchema[fk.getName()] = fk.onDelete ?? 'no action';
    }
    expect(Object.fromEntries(Object.entries(inDatabase).map(([name, fk]) => [name, fk.onDelete]))).toEqual(inSchema);
  });

  it('has an index led by the columns of every foreign key', async () => {
    const indexes = await indexesIn(t.admin, 'public', tableNames);
    const foreignKeys = await foreignKeysIn(t.admin, 'public', tableNames);
    expect(foreignKeys).toHaveLength(Object.keys(expectedOnDelete).length);
    const findings = unindexedForeignKeys(foreignKeys, indexes);
    expect(findings, `foreign keys without an index:\n${findings.join('\n')}`).toEqual([]);
  });

  it('has no duplicate index and no index that is a prefix of another', async () => {
    const indexes = await indexesIn(t.admin, 'public', tableNames);
    expect(indexes.length).toBeGreaterThanOrEqual(15);
    const findings = redundantIndexes(indexes);
    expect(findings, `redundant indexes:\n${findings.join('\n')}`).toEqual([]);
  });

  it('the index checks flag real redundancy and unindexed foreign keys, and only those', async () => {
    // A probe schema in this test's own database, so the two checks above are known to bite.
    const schema = 'index_probe';
    await t.admin.unsafe(`
      DROP SCHEMA IF EXISTS ${schema} CASCADE;
      CREATE SCHEMA ${schema};
      CREATE TABLE ${schema}.parent (id int PRIMARY KEY);
      CREATE TABLE ${schema}.child (
        id int PRIMARY KEY,
        parent_id int REFERENCES ${schema}.parent (id),
        other_parent_id int REFERENCES ${schema}.parent (id),
        a int, b int, c text, status text
      );
      CREATE INDEX child_a ON ${schema}.child (a);
      CREATE INDEX child_a_again ON ${schema}.child (a);            -- duplicate of child_a
      CREATE INDEX child_a_desc ON ${schema}.child (a DESC NULLS FIRST); -- same, read backwards
      CREATE INDEX child_a_b ON ${schema}.child (a, b);              -- child_a is its prefix
      CREATE UNIQUE INDEX child_b_unique ON ${schema}.child (b);     -- unique: not redundant
      CREATE INDEX child_b_c ON ${schema}.child (b, c);
      CREATE INDEX child_lower_c ON ${schema}.child (lower(c));      -- expression, differs from c
      CREATE INDEX child_c ON ${schema}.child (c);
      CREATE INDEX child_c_partial ON ${schema}.child (c) WHERE status = 'x'; -- other predicate
      CREATE INDEX child_c_b_partial ON ${schema}.child (c, b) WHERE status = 'x'; -- prefix of it
      CREATE INDEX child_parent_partial ON ${schema}.child (other_parent_id) WHERE a > 0;
      CREATE INDEX child_b_parent ON ${schema}.child (b, parent_id); -- parent_id not leading
    `);
    try {
      const indexes = await indexesIn(t.admin, schema, ['parent', 'child']);
      expect(redundantIndexes(indexes).sort()).toEqual(
        [
          'child: child_a and child_a_again are duplicates (a)',
          'child: child_a and child_a_desc are duplicates (a)',
          'child: child_a_again and child_a_desc are duplicates (a)',
          'child: child_a (a) is a prefix of child_a_b (a, b)',
          'child: child_a_again (a) is a prefix of child_a_b (a, b)',
          'child: child_a_desc (a) is a prefix of child_a_b (a, b)',
          'child: child_c_partial (c) is a prefix of child_c_b_partial (c, b)',
        ].sort(),
      );
      const foreignKeys = await foreignKeysIn(t.admin, schema, ['parent', 'child']);
      expect(unindexedForeignKeys(foreignKeys, indexes).sort()).toEqual([
        'child.child_other_parent_id_fkey (other_parent_id) leads no index',
        'child.child_parent_id_fkey (parent_id) leads no index',
      ]);
    } finally {
      await t.admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    }
  });
});

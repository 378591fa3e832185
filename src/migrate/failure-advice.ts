import { isSensitive } from '../schema/sensitive.ts';
import type { Statement } from './statements.ts';
import { stripComments } from './sql-split.ts';

/**
 * What a migration failure caused by the data (not by the SQL) needs: the way an experienced
 * DBA would change the schema without locking out writers, instead of the application's advice
 * ("Provide a value for owner_note"), which makes no sense for a migration.
 */
export interface FailureAdvice {
  hint: string;
  /** Added to the message: what PostgreSQL found (a duplicated key, values hidden where personal). */
  found?: string;
  /** Machine-readable parts for `--json`: which recipe, the SQL of each step, the query to look. */
  context: Record<string, unknown>;
}

/** The PostgreSQL error fields the advice reads (postgres.js names). */
interface PgFields {
  code?: string;
  message?: string;
  detail?: string;
  table_name?: string;
  column_name?: string;
  schema_name?: string;
  constraint_name?: string;
}

const ident = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const qualified = String.raw`${ident}(?:\s*\.\s*${ident})?`;
const alterTable = new RegExp(String.raw`^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(${qualified})`, 'i');
const addColumn = new RegExp(String.raw`\bADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(${ident})\s+([^,;]*?)\s*(?:,|;|$)`, 'i');
const alterType = new RegExp(String.raw`\bALTER\s+(?:COLUMN\s+)?(${ident})\s+(?:SET\s+DATA\s+)?TYPE\s+([^,;]+?)(?:\s+USING\s+([^,;]+?))?\s*(?:,|;|$)`, 'i');
const createIndex = new RegExp(String.raw`^\s*CREATE\s+UNIQUE\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(${ident})?\s*ON\s+(?:ONLY\s+)?(${qualified})`, 'i');

const unquote = (name: string) => (name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name.toLowerCase());
const quote = (name: string) => (/^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`);
/** `schema.table` as written in the statement, or the table PostgreSQL named. */
const tableOf = (written: string | undefined, pg: PgFields) =>
  written ? written.replace(/\s+/g, '') : pg.table_name ? (pg.schema_name && pg.schema_name !== 'public' ? `${quote(pg.schema_name)}.${quote(pg.table_name)}` : quote(pg.table_name)) : 'the_table';
const bareTable = (table: string) => unquote(table.split('.').at(-1) ?? table);

/** Batches outside one long transaction: a DO block that commits runs outside a transaction here. */
const backfillSql = (table: string, set: string, where: string) =>
  `DO $$ DECLARE n bigint; BEGIN LOOP UPDATE ${table} SET ${set} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${table} WHERE ${where} LIMIT 5000)); GET DIAGNOSTICS n = ROW_COUNT; EXIT WHEN n = 0; COMMIT; END LOOP; END $$;`;

function notNullAdvice(pg: PgFields, sql: string): FailureAdvice | undefined {
  // "column x of relation t contains null values": ADD COLUMN ... NOT NULL or SET NOT NULL over existing rows.
  if (!/contains null values/.test(pg.message ?? '')) {
    // A data statement of the migration (INSERT, UPDATE) wrote NULL into a NOT NULL column.
    const column = pg.column_name ?? 'a column';
    return {
      hint: `A statement of the migration writes NULL into ${pg.table_name ?? 'the table'}.${column}, which is NOT NULL: give it a value (COALESCE(<expression>, <default>) in the INSERT ... SELECT or UPDATE), or skip the rows that have none, then run again.`,
      context: { advice: 'not-null-data', ...(pg.table_name ? { table: pg.table_name } : {}), column },
    };
  }
  const table = tableOf(alterTable.exec(sql)?.[1], pg);
  const column = quote(pg.column_name ?? 'the_column');
  const constraint = quote(`${bareTable(table)}_${unquote(column)}_not_null`.slice(0, 63));
  const added = addColumn.exec(sql);
  const adding = Boolean(added && unquote(added[1] ?? '') === unquote(column) && !/\bSET\s+NOT\s+NULL\b/i.test(sql));
  const type = adding ? (added?.[2] ?? '').replace(/\bNOT\s+NULL\b/i, '').replace(/\s+/g, ' ').trim() || '<type>' : undefined;
  const recipe = [
    ...(adding ? [`ALTER TABLE ${table} ADD COLUMN ${column} ${type} DEFAULT <value for new rows>;`] : []),
    backfillSql(table, `${column} = <value>`, `${column} IS NULL`),
    `ALTER TABLE ${table} ADD CONSTRAINT ${constraint} NOT NULL ${column} NOT VALID;`,
    `ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint};`,
    `ALTER TABLE ${table} ALTER COLUMN ${column} SET NOT NULL;`,
  ];
  const steps = [
    ...(adding ? [`add ${column} nullable, with a DEFAULT for new rows (a constant DEFAULT also fills the existing rows without a rewrite: if one constant fits every row, \`ADD COLUMN ${column} ${type} NOT NULL DEFAULT <constant>\` alone is enough)`] : []),
    `deploy code that writes ${column}, then backfill the existing rows in batches outside one long transaction (a DO block that COMMITs every few thousand rows; \`SELECT count(*) FROM ${table} WHERE ${column} IS NULL\` shows what is left)`,
    `\`ADD CONSTRAINT ${constraint} NOT NULL ${column} NOT VALID\` (PostgreSQL 18: a brief lock, no scan; new rows are checked from then on)`,
    `\`VALIDATE CONSTRAINT ${constraint}\` (scans without blocking writes), then \`SET NOT NULL\` (instant once a valid constraint exists)`,
  ];
  return {
    hint:
      `${table} has rows where ${column} is null, so NOT NULL cannot be set in one step. Expand, backfill, contract, each step its own migration: ` +
      `${steps.map((s, i) => `${i + 1}) ${s}`).join('; ')}. Then take the NOT NULL out of this migration (regenerate it once the schema has the steps).`,
    context: { advice: 'not-null-expand-backfill', table, column: unquote(column), recipe },
  };
}

function typeChangeAdvice(pg: PgFields, sql: string): FailureAdvice | undefined {
  const changed = alterType.exec(sql);
  const written = alterTable.exec(sql)?.[1];
  if (!changed || !written) return undefined;
  // A value that does not convert (22xxx: invalid syntax, out of range, too long) or no cast at all (42804).
  if (pg.code !== '42804' && !pg.code?.startsWith('22')) return undefined;
  const table = tableOf(written, pg);
  const column = changed[1] ?? 'the_column';
  const type = (changed[2] ?? '').trim();
  const using = changed[3]?.trim() ?? `${column}::${type}`;
  const next = quote(`${unquote(column)}_new`);
  const sensitive = isSensitive(bareTable(table), unquote(column));
  const findBad = `SELECT ${sensitive ? 'count(*)' : `${column}, count(*)`} FROM ${table} WHERE ${column} IS NOT NULL AND NOT pg_input_is_valid(${column}::text, '${type.replaceAll("'", "''")}')${sensitive ? '' : ` GROUP BY ${column} LIMIT 20`};`;
  const recipe = [
    `ALTER TABLE ${table} ADD COLUMN ${next} ${type};`,
    backfillSql(table, `${next} = ${using}`, `${next} IS DISTINCT FROM (${using})`),
    `-- deploy code that writes both columns, then reads ${next}`,
    `ALTER TABLE ${table} DROP COLUMN ${column};`,
    `ALTER TABLE ${table} RENAME COLUMN ${next} TO ${column};`,
  ];
  const why =
    pg.code === '42804'
      ? `PostgreSQL has no automatic cast from ${column}'s type to ${type}`
      : `a value of ${column} does not convert to ${type}`;
  return {
    hint:
      `${why}; and even when it converts, ALTER COLUMN ... TYPE rewrites ${table} under an ACCESS EXCLUSIVE lock, blocking reads and writes for the whole rewrite. ` +
      `Find the rows that do not convert: ${findBad} Then expand and contract, each step its own migration: 1) add ${next} ${type}; ` +
      `2) backfill it in batches outside one long transaction, converting explicitly (fix or map the values that do not convert); ` +
      `3) deploy code that writes both and reads ${next}; 4) drop ${column} and rename ${next} to ${column}.`,
    context: { advice: 'type-change-expand-contract', table, column: unquote(column), type, findBadRows: findBad, recipe },
  };
}

/**
 * PostgreSQL's DETAIL for a duplicate: `Key (email_hash)=(\x1f...) is duplicated.` (an index
 * build) or `... already exists.` (a row written). Values of columns listed in
 * src/schema/sensitive.ts are hidden: DETAIL never reaches a message otherwise, for that reason.
 */
export function duplicateKey(detail: string | undefined, table: string | undefined): { columns: string; value: string; masked: boolean } | undefined {
  const match = /^Key \((.*)\)=\((.*)\) (?:is duplicated|already exists)\.$/s.exec(detail ?? '');
  if (!match) return undefined;
  const columns = match[1] ?? '';
  const names = columns.split(',').map((c) => unquote(c.trim()));
  const masked = table !== undefined && names.some((name) => isSensitive(table, name));
  const value = masked ? `<hidden: ${names.filter((n) => isSensitive(table, n)).join(', ')} is personal data (src/schema/sensitive.ts)>` : (match[2] ?? '');
  return { columns, value, masked };
}

function uniqueAdvice(pg: PgFields, sql: string): FailureAdvice | undefined {
  if (pg.code !== '23505') return undefined;
  const building = /could not create unique index/.test(pg.message ?? '');
  const table = pg.table_name;
  const key = duplicateKey(pg.detail, table);
  const index = createIndex.exec(sql);
  const target = index?.[2]?.replace(/\s+/g, '') ?? tableOf(alterTable.exec(sql)?.[1], pg);
  const found = key ? `duplicate key (${key.columns})=(${key.value})` : undefined;
  const listQuery = key ? `SELECT ${key.columns}, count(*) FROM ${target} GROUP BY ${key.columns} HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 20;` : undefined;
  const hint = building
    ? `${target} already holds rows that share a key, so the unique index cannot be built. List them${listQuery ? ` with ${listQuery}` : ''}; then, in a migration before this one, merge or delete the duplicates (or make the key wider), and run again. ` +
      'On a live table keep writers from adding new duplicates meanwhile (the application checks first, or a non-unique index plus a trigger), or the build fails again.'
    : `A statement of the migration writes a row whose key already exists${listQuery ? ` (${listQuery} lists keys that repeat)` : ''}: make the data change skip or merge existing rows (INSERT ... ON CONFLICT DO NOTHING / DO UPDATE), and run again.`;
  return {
    hint,
    ...(found ? { found } : {}),
    context: {
      advice: building ? 'unique-duplicates' : 'unique-conflict',
      ...(key ? { duplicateKey: { columns: key.columns, value: key.value, masked: key.masked } } : {}),
      ...(listQuery ? { listDuplicates: listQuery } : {}),
    },
  };
}

/**
 * Expert advice for a migration statement that failed on the data it met: NOT NULL over rows
 * with nulls, a type change whose values do not convert, a unique index over duplicates.
 * Undefined for other failures (their own hints stand).
 *
 * @example
 * adviseOnFailure(pgError, statement)?.hint; // "... Expand, backfill, contract, each step its own migration: 1) ..."
 */
export function adviseOnFailure(error: unknown, statement: Statement | undefined): FailureAdvice | undefined {
  const pg = pgFields(error);
  if (!pg?.code) return undefined;
  const sql = stripComments(statement?.sql ?? '');
  if (pg.code === '23502') return notNullAdvice(pg, sql);
  if (pg.code === '23505') return uniqueAdvice(pg, sql);
  return typeChangeAdvice(pg, sql);
}

/** The driver's error under Drizzle's or our wrapping. */
function pgFields(error: unknown): PgFields | undefined {
  let current = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

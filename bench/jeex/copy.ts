import type { Sql } from 'postgres';

/** One value in COPY's text format: NULL as \N, backslash, tab, newline and CR escaped. */
function copyValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  const text =
    typeof value === 'string' ? value : value instanceof Date ? value.toISOString() : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  return text.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/**
 * Stream rows into `table` with COPY ... FROM STDIN (text format), respecting backpressure:
 * tens of megabytes of documents go in at disk speed instead of one INSERT per row.
 */
export async function copyRows(sql: Sql, table: string, columns: readonly string[], rows: Iterable<readonly unknown[]>): Promise<number> {
  const stream = await sql.unsafe(`COPY ${table} (${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`).writable();
  let count = 0;
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  let batch: string[] = [];
  let size = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const chunk = batch.join('');
    batch = [];
    size = 0;
    if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
  };
  for (const row of rows) {
    const line = `${row.map(copyValue).join('\t')}\n`;
    batch.push(line);
    size += line.length;
    count++;
    if (size >= 1 << 20) await flush();
  }
  await flush();
  stream.end();
  await done;
  return count;
}

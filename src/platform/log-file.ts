import { open, stat } from 'node:fs/promises';

/** Current size of the log, so a later read returns only what this start wrote. */
export async function logOffset(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** The lines written to `file` since `offset` (at most the last 200 KB). */
export async function readLogSince(file: string, offset: number): Promise<string[]> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(offset, size - 200_000);
    const buffer = Buffer.alloc(Math.max(0, size - start));
    await handle.read(buffer, 0, buffer.length, start);
    return buffer.toString('utf8').split('\n').filter((line) => line.trim() !== '');
  } finally {
    await handle.close();
  }
}

/** The lines that explain a failure: FATAL/PANIC/ERROR/LOG-with-hint, else the last few. */
export function relevantLines(lines: string[], max = 12): string[] {
  const important = lines.filter((line) => /\b(FATAL|PANIC|ERROR|DETAIL|HINT|could not|invalid)\b/i.test(line));
  return (important.length > 0 ? important : lines).slice(-max);
}

/** Where a reader of a growing log is: the next byte to read and the unfinished last line. */
export interface LogCursor {
  offset: number;
  partial: string;
}

/**
 * The complete lines appended to `file` since `cursor` (all of them, read in 1 MiB chunks), and
 * the cursor moved past them. A file that shrank (replaced, truncated) is read from its start.
 */
export async function readNewLines(file: string, cursor: LogCursor): Promise<{ lines: string[]; cursor: LogCursor }> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return { lines: [], cursor };
  }
  try {
    const { size } = await handle.stat();
    let { offset, partial } = size < cursor.offset ? { offset: 0, partial: '' } : cursor;
    const lines: string[] = [];
    const buffer = Buffer.alloc(1 << 20);
    while (offset < size) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - offset), offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      const parts = (partial + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts.filter((line) => line.trim() !== ''));
    }
    return { lines, cursor: { offset, partial } };
  } finally {
    await handle.close();
  }
}

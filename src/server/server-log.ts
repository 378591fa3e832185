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

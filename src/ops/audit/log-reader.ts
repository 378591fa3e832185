import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { JeexDbError } from '../../core/errors.ts';
import { classifyLogRecord, type AuditEvent, type AuditKind, type JsonLogRecord } from './events.ts';

export interface LogScan {
  events: AuditEvent[];
  /** The JSON log files read (newest last). */
  files: string[];
  /** Lines that were not JSON (a line cut by a crash, or a file that is not a jsonlog). */
  unreadable: number;
}

/**
 * Read the server's JSON logs (`*.json` in `logDir`, as the logging collector writes them with
 * log_destination = 'jsonlog') and return the audit events between `since` and `until` of the
 * kinds asked for. Files last written before `since` are skipped without being opened.
 *
 * @example
 * const { events } = await readLogEvents('.jeex-db/log', { since: new Date(Date.now() - 3600_000), kinds: ['failure'] });
 */
export async function readLogEvents(logDir: string, options: { since?: Date; until?: Date; kinds: readonly AuditKind[] }): Promise<LogScan> {
  let names: string[];
  try {
    names = (await readdir(logDir)).filter((name) => name.endsWith('.json'));
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `cannot read the log directory ${logDir} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, {
      hint: 'Pass --log-dir with the server\'s log_directory (SHOW log_directory; relative to data_directory), readable by this user.',
    });
  }
  const files = (await Promise.all(names.map(async (name) => ({ file: join(logDir, name), mtime: (await stat(join(logDir, name))).mtimeMs }))))
    .filter((f) => !options.since || f.mtime >= options.since.getTime())
    .sort((a, b) => a.mtime - b.mtime)
    .map((f) => f.file);
  const since = options.since?.toISOString();
  const until = options.until?.toISOString();
  const events: AuditEvent[] = [];
  let unreadable = 0;
  for (const file of files) {
    const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      let record: JsonLogRecord;
      try {
        record = JSON.parse(line) as JsonLogRecord;
      } catch {
        unreadable += 1;
        continue;
      }
      const event = classifyLogRecord(record);
      if (!event || !options.kinds.includes(event.kind)) continue;
      if ((since && event.at < since) || (until && event.at >= until)) continue;
      events.push(event);
    }
  }
  return { events, files, unreadable };
}

import { pino, type Logger } from 'pino';

/** The commands' log lines (alerts, backups, PgBouncer restarts): one JSON object each, on stderr (stdout holds the --json document). */
export function stderrLogger(): Logger {
  return pino({ base: { service: 'jeex-db' } }, pino.destination({ dest: 2, sync: true }));
}

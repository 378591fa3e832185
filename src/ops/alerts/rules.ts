import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { JeexDbError } from '../../core/errors.ts';

export type AlertSeverity = 'critical' | 'warning';
export type ComparisonOp = '>' | '>=' | '<' | '<=' | '==' | '!=';

/**
 * When a rule's condition holds, judged on the entries of its check:
 * - `'fail'`: an entry has status `fail`;
 * - `'warn-or-fail'`: an entry has status `warn` or `fail`;
 * - `{ op, value }`: an entry's `observedValue` compares true with `value` (`>`, `>=`, `<`, `<=`
 *   need numbers on both sides; `==`, `!=` need the same type). A value that cannot be compared
 *   (null, a string, a boolean against a number) never makes the condition hold.
 */
export type AlertCondition = 'fail' | 'warn-or-fail' | { op: ComparisonOp; value: number | boolean };

/**
 * One alert rule: it watches one key of a health document's `checks`.
 *
 * @example
 * const rule: AlertRule = {
 *   name: 'pool-waiting',
 *   description: 'Requests are waiting for a pool connection',
 *   check: 'pool:waiting',
 *   when: { op: '>', value: 0 },
 *   for: 60_000,
 *   severity: 'warning',
 * };
 */
export interface AlertRule {
  /** Unique, kebab-case: the `alert` field of logs, metrics and webhooks. */
  name: string;
  description: string;
  /** The key in `HealthDocument.checks`, `component:measurement`. */
  check: string;
  /** Only entries of the check with this `observedUnit` count (e.g. `%` among counts). */
  unit?: string;
  when: AlertCondition;
  /** Milliseconds the condition must hold before the alert fires; 0 fires at the first evaluation. */
  for: number;
  severity: AlertSeverity;
  /**
   * What a person reads in the log and the webhook. `{value}`, `{unit}`, `{check}`, `{component}`
   * (its componentId: a standby, a slot) and `{output}` are replaced by the observed entry's fields. Default: the description, then the check's output.
   */
  summary?: string;
}

const MINUTE = 60_000;

/** The rules an `AlertEngine` uses when given none (docs/monitoring.md lists them). */
export const defaultAlertRules: readonly AlertRule[] = Object.freeze([
  {
    name: 'database-unreachable',
    description: 'PostgreSQL does not answer',
    check: 'postgresql:reachable',
    when: 'fail',
    for: 0,
    severity: 'critical',
  },
  {
    name: 'connections-high',
    description: 'Connections above 80% of max_connections',
    check: 'postgresql:connectionUsage',
    unit: '%',
    when: { op: '>', value: 80 },
    for: MINUTE,
    severity: 'warning',
    summary: 'Connections at {value}{unit} of max_connections for a minute: {output}',
  },
  {
    name: 'operations-slow',
    description: "The app's p95 operation time is over the SLO",
    check: 'pool:operationP95',
    when: 'warn-or-fail',
    for: 5 * MINUTE,
    severity: 'warning',
    summary: "p95 of the app's operations has been {value} {unit} for 5 minutes, over the SLO (operationP95WarnMs): {output}",
  },
  {
    name: 'pool-waiting',
    description: "Requests of the app's pool (startMonitor's `app`, not serve's readiness client) wait for a connection",
    check: 'pool:waiting',
    when: { op: '>', value: 0 },
    for: MINUTE,
    severity: 'warning',
    summary: '{value} requests waiting for a pool connection for a minute: the pool is too small for the load',
  },
  {
    name: 'slow-statements',
    description: 'Statements slower than the threshold (pg_stat_statements)',
    check: 'postgresql:slowStatements',
    when: 'warn-or-fail',
    for: 5 * MINUTE,
    severity: 'warning',
  },
  {
    name: 'role-password-changed',
    description: "A login role's password is not the one `roles apply` or `roles rotate` set (ALTER ROLE ... PASSWORD by the role itself?)",
    check: 'postgresql:rolePasswords',
    when: 'fail',
    for: 0,
    severity: 'critical',
    summary: 'Clients of the role will be locked out as their connections close: {output}',
  },
  {
    name: 'role-settings-changed',
    description: "A login role's timeouts or other managed settings are not the ones `roles apply` set",
    check: 'postgresql:roleSettings',
    when: 'fail',
    for: 0,
    severity: 'warning',
    summary: '{output}',
  },
  {
    name: 'wal-archive-failing',
    description: 'WAL archiving fails',
    check: 'postgresql:archiveFailures',
    when: 'fail',
    for: 0,
    severity: 'critical',
    summary: 'WAL archiving fails: {output}',
  },
  {
    name: 'wal-archive-behind',
    description: 'WAL waits for the archiver: the oldest .ready segment is older than archiveBacklogWarnSeconds (5 min), or more segments wait than archiveBacklogWarnFiles',
    check: 'postgresql:archiveBacklog',
    when: 'warn-or-fail',
    for: MINUTE,
    severity: 'critical',
    summary: 'WAL archiving is behind ({value} {unit}): {output}',
  },
  {
    name: 'disk-space-low',
    description: 'The filesystem under the data directory has less free space than diskFreeWarnPercent (15%) or diskFreeWarnBytes',
    check: 'disk:dataFree',
    when: 'warn-or-fail',
    for: MINUTE,
    severity: 'critical',
    summary: 'Disk space low under the data directory {component} ({value} {unit} free): {output}',
  },
  {
    name: 'archive-disk-space-low',
    description: 'The filesystem under the WAL archive has less free space than diskFreeWarnPercent (15%) or diskFreeWarnBytes',
    check: 'disk:archiveFree',
    when: 'warn-or-fail',
    for: MINUTE,
    severity: 'critical',
    summary: 'Disk space low under the WAL archive {component} ({value} {unit} free): {output}',
  },
  {
    name: 'pgbouncer-clients-waiting',
    description: "Clients wait in PgBouncer for a server connection (its pools are exhausted)",
    check: 'pgbouncer:clientsWaiting',
    when: 'warn-or-fail',
    for: MINUTE,
    severity: 'warning',
    summary: '{value} client(s) have waited in PgBouncer for a minute: {output}',
  },
  {
    name: 'pgbouncer-max-wait',
    description: 'The oldest client waiting in PgBouncer has waited longer than poolerMaxWaitWarnSeconds (1 s)',
    check: 'pgbouncer:maxWait',
    when: 'warn-or-fail',
    for: 30_000,
    severity: 'warning',
    summary: 'A client has waited {value} s in PgBouncer for a server connection: {output}',
  },
  {
    name: 'backup-too-old',
    description: 'No verified backup within backupAgeWarnSeconds (25 h: a daily backup is overdue), or none at all',
    check: 'backup:age',
    when: 'warn-or-fail',
    for: 0,
    severity: 'critical',
  },
  {
    name: 'backup-failing',
    description: 'Scheduled backups fail (or fail verification) or miss their time',
    check: 'backup:lastRun',
    when: 'warn-or-fail',
    for: 0,
    severity: 'critical',
  },
  {
    name: 'replication-lag',
    description: 'A standby replays more than 5 s behind its primary (reported by the standby, and by the primary for each standby)',
    check: 'postgresql:replicationLag',
    unit: 's',
    when: { op: '>', value: 5 },
    for: MINUTE,
    severity: 'critical',
    summary: 'Replay on {component} has been {value} s behind the primary for a minute: a failover now would lose that much of the acknowledged writes (asynchronous replication): {output}',
  },
  {
    name: 'standby-not-streaming',
    description: 'This standby does not stream from its primary (no WAL receiver, or one that is not streaming)',
    check: 'postgresql:walReceiver',
    when: 'warn-or-fail',
    for: 30_000,
    severity: 'critical',
    summary: 'This standby has not streamed from its primary for 30 s (WAL receiver {value}): {output}',
  },
  {
    name: 'standby-missing',
    description: 'Fewer standbys stream from this primary than expected (replicasMin, or one per physical replication slot)',
    check: 'postgresql:replicas',
    when: 'warn-or-fail',
    for: MINUTE,
    severity: 'warning',
    summary: '{value} standby(s) have streamed for a minute, fewer than expected: {output}',
  },
  {
    name: 'synchronous-standby-missing',
    description: 'synchronous_standby_names is set but not enough synchronous standbys stream: every commit blocks',
    check: 'postgresql:synchronousStandbys',
    when: 'fail',
    for: 0,
    severity: 'critical',
    summary: 'Commits block: {output}',
  },
  {
    name: 'replication-slot-lost',
    description: 'A replication slot lost (or is about to lose) the WAL its standby needs: the standby must be re-seeded',
    check: 'postgresql:replicationSlots',
    when: 'fail',
    for: 0,
    severity: 'critical',
    summary: 'Replication slot {component} is {value}: {output}',
  },
  {
    name: 'wraparound-risk',
    description: 'Transaction ID wraparound is near: VACUUM (FREEZE) the oldest tables',
    check: 'postgresql:wraparound',
    when: 'fail',
    for: 0,
    severity: 'critical',
  },
  {
    name: 'pgbouncer-down',
    description: "PgBouncer does not answer (its admin console: refused, reset or no answer in time); the app's connections through it fail",
    check: 'pgbouncer:reachable',
    // Its observed value, not its status: a PgBouncer outside the app's path only warns in /health, but is down all the same.
    when: { op: '==', value: false },
    for: 0,
    severity: 'critical',
    summary: 'PgBouncer does not answer: {output}',
  },
  {
    name: 'pgbouncer-restarted',
    description: 'PgBouncer died and was restarted (or its restarts keep failing) in the last 15 minutes (JEEX_HEALTH_POOLER_RESTART_WINDOW_SECONDS)',
    check: 'pgbouncer:restarts',
    when: 'warn-or-fail',
    for: 0,
    severity: 'warning',
    summary: 'PgBouncer died {value} time(s): {output}',
  },
  {
    name: 'alert-delivery-failing',
    description: 'Alert notifications do not reach a receiver (Alertmanager or webhook): alerts may go unseen',
    check: 'alerts:delivery',
    when: 'warn-or-fail',
    for: MINUTE,
    severity: 'critical',
    summary: 'Alerts have not reached {component} for a minute (oldest waiting {value} s): {output}',
  },
] satisfies AlertRule[]);

const ruleSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'use lower-case letters, digits, "-", "_" or "."'),
  description: z.string().min(1),
  check: z.string().regex(/^[^:\s]+:[^:\s]+$/, 'use a check key "component:measurement", e.g. "pool:waiting"'),
  unit: z.string().min(1).optional(),
  when: z.union(
    [
      z.literal('fail'),
      z.literal('warn-or-fail'),
      z.strictObject({ op: z.enum(['>', '>=', '<', '<=', '==', '!=']), value: z.union([z.number(), z.boolean()]) }),
    ],
    { error: 'use "fail", "warn-or-fail" or { "op": ">" | ">=" | "<" | "<=" | "==" | "!=", "value": a number or boolean }' },
  ),
  for: z.number().int().nonnegative(),
  severity: z.enum(['critical', 'warning']),
  summary: z.string().min(1).optional(),
});

const fileSchema = z.strictObject({
  /** true: the file's rules replace the defaults of the same name and add to the others. */
  extendsDefaults: z.boolean().optional(),
  rules: z.array(z.unknown()),
});

/**
 * Validate rules read from JSON. Every problem is reported at once, each naming the rule and
 * the field, e.g. `rule "pool-waiting" (rules[2]) for: expected a number`.
 *
 * @example
 * const rules = parseAlertRules({ extendsDefaults: true, rules: [{ ...defaultAlertRules[2], for: 30_000 }] });
 */
export function parseAlertRules(input: unknown, source = 'alert rules'): AlertRule[] {
  const file = fileSchema.safeParse(Array.isArray(input) ? { rules: input } : input);
  if (!file.success) {
    throw invalid(source, file.error.issues.map((issue) => `${pathOf(issue.path) || '(top level)'}: ${issue.message}`));
  }
  const problems: string[] = [];
  const rules: AlertRule[] = [];
  file.data.rules.forEach((raw, index) => {
    const label = ruleLabel(raw, index);
    const parsed = ruleSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${label} ${pathOf(issue.path) || '(the rule)'}: ${issue.message}`);
      return;
    }
    const rule: AlertRule = parsed.data;
    if (typeof rule.when === 'object' && ['>', '>=', '<', '<='].includes(rule.when.op) && typeof rule.when.value !== 'number') {
      problems.push(`${label} when.value: "${rule.when.op}" compares numbers, got ${JSON.stringify(rule.when.value)}`);
    }
    if (rules.some((other) => other.name === rule.name)) problems.push(`${label} name: another rule is named "${rule.name}"; names must be unique`);
    rules.push(rule);
  });
  if (problems.length > 0) throw invalid(source, problems);
  if (!file.data.extendsDefaults) return rules;
  const own = new Set(rules.map((rule) => rule.name));
  return [...defaultAlertRules.filter((rule) => !own.has(rule.name)), ...rules];
}

/**
 * Read and validate a JSON rule file: `{ "extendsDefaults"?: boolean, "rules": [...] }` or a bare
 * array of rules.
 *
 * @example
 * const engine = new AlertEngine({ logger, rules: await loadAlertRules('ops/alerts.json') });
 */
export async function loadAlertRules(path: string): Promise<AlertRule[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `cannot read the alert rule file ${path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'Check the path given for the alert rules.',
      context: { path },
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `the alert rule file ${path} is not valid JSON: ${(error as Error).message}`, { cause: error, context: { path } });
  }
  return parseAlertRules(json, path);
}

function ruleLabel(raw: unknown, index: number): string {
  const name = raw !== null && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string' ? (raw as { name: string }).name : undefined;
  return name === undefined ? `rule rules[${index}]` : `rule "${name}" (rules[${index}])`;
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
}

function invalid(source: string, problems: string[]): JeexDbError {
  return new JeexDbError('INVALID_CONFIG', `${source} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`, {
    hint: 'Fix the fields named above; docs/monitoring.md ("Alerts", "Rule file") describes the rule format.',
    context: { source, problems },
  });
}

/** How bad a finding is. `critical` makes `jeex-db diagnose` exit 1. */
export type Severity = 'info' | 'warn' | 'critical';

export type FindingKind =
  | 'slow-query'
  | 'missing-index'
  | 'unused-index'
  | 'duplicate-index'
  | 'invalid-index'
  | 'table-bloat'
  | 'index-bloat'
  | 'long-running-query'
  | 'idle-in-transaction'
  | 'xid-wraparound'
  | 'sequence-limit'
  | 'cache-hit-ratio'
  | 'check-unavailable';

/**
 * One thing worth acting on. `fix` says concretely what to do: the statement to run or the
 * migration to add.
 */
export interface Finding {
  kind: FindingKind;
  severity: Severity;
  /** What it is about: `public.users`, an index name, `pid 1234`, a query id. */
  subject: string;
  detail: string;
  fix: string;
}

/** Thresholds; every one has a default (see `DEFAULT_THRESHOLDS`). */
export interface DiagnoseThresholds {
  /** How many statements each slow list holds. */
  topStatements: number;
  /** A statement whose mean time is at least this (and ran `slowQueryMinCalls` times) is a finding. */
  slowQueryMeanMs: number;
  slowQueryMinCalls: number;
  /** Sequential scans matter on tables with at least this many live rows. */
  seqScanMinRows: number;
  /** ... that were scanned sequentially at least this many times. */
  seqScanMinScans: number;
  /** Unused indexes smaller than this are not reported (new or cheap to keep). */
  unusedIndexMinBytes: number;
  /** Bloat is reported on relations at least this large, when the estimated waste is at least `bloatMinRatio`. */
  bloatMinBytes: number;
  bloatMinRatio: number;
  /** Sessions running one statement longer than these. */
  longQueryWarnSeconds: number;
  longQueryCriticalSeconds: number;
  /** Sessions idle inside a transaction longer than these. */
  idleInTransactionWarnSeconds: number;
  idleInTransactionCriticalSeconds: number;
  /** Transaction ID age (of 2^31) at which a database is a warning / critical. */
  xidAgeWarn: number;
  xidAgeCritical: number;
  /** Fraction of a sequence's usable range consumed. */
  sequenceWarnRatio: number;
  sequenceCriticalRatio: number;
  /** Cache hit ratio below this is a warning, once at least `cacheMinBlocks` blocks were read. */
  cacheHitRatioWarn: number;
  cacheMinBlocks: number;
}

export const DEFAULT_THRESHOLDS: DiagnoseThresholds = {
  topStatements: 10,
  slowQueryMeanMs: 100,
  slowQueryMinCalls: 10,
  seqScanMinRows: 10_000,
  seqScanMinScans: 50,
  unusedIndexMinBytes: 1024 * 1024,
  bloatMinBytes: 10 * 1024 * 1024,
  bloatMinRatio: 0.5,
  longQueryWarnSeconds: 60,
  longQueryCriticalSeconds: 3600,
  idleInTransactionWarnSeconds: 60,
  idleInTransactionCriticalSeconds: 1800,
  xidAgeWarn: 500_000_000,
  xidAgeCritical: 1_500_000_000,
  sequenceWarnRatio: 0.75,
  sequenceCriticalRatio: 0.9,
  cacheHitRatioWarn: 0.99,
  cacheMinBlocks: 10_000,
};

/** A statement from pg_stat_statements (this database only), with its plan when one could be had. */
export interface SlowStatement {
  queryId: string;
  /** Normalized text: constants replaced by $1, $2, ... */
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  maxMs: number;
  rows: number;
  /** Share of this database's total execution time, 0..1. */
  shareOfTotal: number;
  sharedBlocksHit: number;
  sharedBlocksRead: number;
  plan: StatementPlan;
}

/**
 * `estimated`: EXPLAIN (FORMAT JSON) of a statement without parameters; `generic`: EXPLAIN
 * (GENERIC_PLAN) of one with parameters (the plan without their values, which can differ from
 * the custom plans really used); `not-explained`: why not (e.g. it writes). Nothing is executed:
 * never EXPLAIN ANALYZE. Runs slower than auto_explain.log_min_duration have their real plan in
 * the server log.
 */
export type StatementPlan =
  | { kind: 'estimated' | 'generic'; json: unknown }
  | { kind: 'not-explained'; reason: string };

export interface DatabaseAge {
  database: string;
  /** age(datfrozenxid): transactions since the oldest unfrozen row; wraparound at 2^31. */
  xidAge: number;
  /** mxid_age(datminmxid). */
  multixactAge: number;
}

export interface DiagnoseReport {
  /** False when any finding is critical. */
  ok: boolean;
  database: string;
  serverVersion: string;
  /** When the statistics the findings rest on were last reset (null: never). */
  statsReset: string | null;
  findings: Finding[];
  counts: Record<Severity, number>;
  slowStatements: {
    available: boolean;
    /** Why not, when pg_stat_statements cannot be read. */
    reason?: string;
    byTotalTime: SlowStatement[];
    byMeanTime: SlowStatement[];
  };
  cacheHitRatio: { table: number | null; index: number | null };
  databaseAges: DatabaseAge[];
  /** Where auto_explain writes the plans of slow statements, from the server's settings. */
  autoExplain: { loaded: boolean; logMinDuration: string | null; logFormat: string | null };
}

export interface DiagnoseOptions {
  thresholds?: Partial<DiagnoseThresholds>;
  /** Skip EXPLAIN of the slow statements (default: explain them). */
  explain?: boolean;
}

export const severityRank: Record<Severity, number> = { critical: 0, warn: 1, info: 2 };

/** A double-quoted identifier. */
export const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;
/** schema.name, quoted only when needed. */
export function qualified(schema: string, name: string): string {
  const part = (p: string) => (/^[a-z_][a-z0-9_]*$/.test(p) ? p : ident(p));
  return `${part(schema)}.${part(name)}`;
}
/** A string literal. */
export const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/**
 * `jeex-db/migrate`: the migration runner over drizzle-kit's output (validated, locked, one
 * transaction each, with reviewed .down.sql files), the CI gate, the plan and the round trip.
 *
 * @example
 * import { migrate, assertUpToDate } from 'jeex-db/migrate';
 * await migrate(sql); // the package's drizzle/ folder
 */
export {
  migrate,
  rollback,
  status,
  assertUpToDate,
  markApplied,
  defaultMigrationsDir,
  DEFAULT_TIMEOUTS,
  type RunnerOptions,
  type MigrateOptions,
  type MigrateResult,
  type RollbackOptions,
  type RollbackResult,
  type StatusResult,
  type MigrationStatus,
  type Problem,
  type StepResult,
} from './runner.ts';
export { verifiedStatus, baseline, type BaselineOptions } from './live-drift-verify.ts';
export { referenceSchemas, referenceFor, matchMigration, schemaIdentifier, type ReferenceOptions } from './live-drift-reference.ts';
export { driftProblem, type DriftReport } from './live-drift-status.ts';
export { compareSchemas, type SchemaDifference } from './live-drift.ts';
export { catalogObjects, catalogFingerprint, type CatalogObject, type CatalogFingerprint } from './catalog.ts';
export { plan, type PlanOptions, type PlanResult, type PlannedMigration, type PlannedStatement } from './plan.ts';
export { check, type CheckOptions, type CheckResult } from './check.ts';
export { roundTrip, type RoundTripOptions, type RoundTripResult, type RoundTripStep, type CatalogDifference } from './round-trip.ts';
export { rebase, type RebaseOptions, type RebaseResult, type RebaseChange } from './rebase.ts';
export { lintScripts, type LintFinding, type LintOptions, type LintResult } from './lint.ts';
export { type ScriptEdit, type StatementChange } from './script-changes.ts';
export { generateDown, type GenerateDownOptions, type GeneratedDown } from './down.ts';
export { resolveMigrationTarget, requireUrl, type MigrationTarget, type TargetInput } from './target.ts';
export { durationExpected, formatDuration, parseDuration } from '../core/units.ts';

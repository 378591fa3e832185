/**
 * jeex-db: the PostgreSQL foundation of JEEX Idea.
 *
 * @example
 * import { createDb, createUser, appendDocumentVersion } from 'jeex-db';
 * const { db, close } = createDb(); // DATABASE_URL, or the local cluster of `jeex-db up`
 */
export * from './schema/index.ts';
export { createDb, type CreateDbInput, type Database, type JeexDb } from './db/create-db.ts';
export { connect } from './db/connect.ts';
export { clientTarget, type ClientTarget, type SslMode } from './db/client-tls.ts';
export type { OperationStats } from './db/operation-window.ts';
export { resolveDbConfig, urlFor, type DbConfig, type DbConfigInput } from './db/config.ts';
export { JeexDbError, errorCodes, isJeexDbError, type ErrorCode } from './core/errors.ts';
export { translateDbError } from './db/translate-error.ts';
export { uuidv7, isUuidv7, uuidv7Timestamp } from './core/uuid.ts';
export { maskUrl } from './db/url.ts';
export {
  migrate,
  rollback,
  status,
  assertUpToDate,
  markApplied,
  defaultMigrationsDir,
  type MigrateOptions,
  type MigrateResult,
  type RollbackOptions,
  type RollbackResult,
  type StatusResult,
  type MigrationStatus,
} from './migrate/runner.ts';
export { plan, type PlanOptions, type PlanResult, type PlannedMigration, type PlannedStatement } from './migrate/plan.ts';
export { check, type CheckOptions, type CheckResult } from './migrate/check.ts';
export { lintScripts, type LintFinding, type LintOptions, type LintResult } from './migrate/lint.ts';
export { generateDown, type GenerateDownOptions, type GeneratedDown } from './migrate/down.ts';
export * from './db/queries/users.ts';
export * from './db/queries/projects.ts';
export * from './db/queries/document-versions.ts';
export * from './db/queries/agent-executions.ts';
export * from './db/queries/exports.ts';
export { poolerAdmin } from './ops/pooler/admin.ts';
export {
  collectPoolerMetrics,
  poolerSnapshot,
  type PoolerMetrics,
  type PoolerMetricsOptions,
  type PoolerSnapshot,
  type PoolerPool,
  type PoolerDatabaseStats,
} from './ops/pooler/metrics.ts';
export { supervisePooler, type PoolerSupervisor, type PoolerSupervisorState, type PoolerRestart, type SupervisePoolerOptions } from './ops/pooler/supervise.ts';
export { up, down, DEFAULT_PORT, type UpOptions, type UpResult, type DownResult } from './stack/up.ts';
export { ensureDevTls, type DevTlsOptions, type DevTlsResult } from './ops/tls/dev-tls.ts';
export { resolveTlsPlan, type TlsInput, type TlsPlan } from './ops/tls/config.ts';
export type { UpTls } from './ops/tls/server-tls.ts';
export { deriveSettings, type Machine, type Setting } from './cluster/tuning.ts';
export { diagnose } from './ops/diagnose/diagnose.ts';
export {
  DEFAULT_THRESHOLDS,
  type DiagnoseOptions,
  type DiagnoseReport,
  type DiagnoseThresholds,
  type Finding,
  type FindingKind,
  type Severity,
  type SlowStatement,
  type StatementPlan,
  type DatabaseAge,
} from './ops/diagnose/types.ts';
export { AlertEngine, type AlertEngineOptions, type AlertState, type AlertTransition, type ActiveAlert } from './ops/alerts/engine.ts';
export {
  defaultAlertRules,
  parseAlertRules,
  loadAlertRules,
  type AlertRule,
  type AlertCondition,
  type AlertSeverity,
  type ComparisonOp,
} from './ops/alerts/rules.ts';
export { AlertWebhook, maskWebhookUrl, alertWebhookUrlFromEnv, type AlertWebhookOptions, type AlertPayload } from './ops/alerts/webhook.ts';
export { startAlertLoop, type AlertLoop, type AlertLoopOptions } from './ops/alerts/loop.ts';
export { checkHealth, healthExitCode, healthDocument, DEFAULT_HEALTH_TIMEOUT_MS, type HealthOptions, type HealthScope } from './ops/health/check-health.ts';
export { resolveHealthThresholds, thresholdEnvName, DEFAULT_HEALTH_THRESHOLDS, type HealthThresholds, type ThresholdName } from './ops/health/thresholds.ts';
export { resolveHealthTarget, type HealthTarget } from './ops/health/target.ts';
export { HEALTH_CONTENT_TYPE, worstStatus, type HealthCheck, type HealthDocument, type HealthStatus } from './ops/health/types.ts';
export { startTelemetry, type Telemetry, type TelemetryOptions, type PrometheusEndpoint } from './ops/telemetry/provider.ts';
export { resolveTelemetryConfig, type TelemetryConfig, type TelemetryConfigInput, type OtlpOptions, type ResolvedOtlp } from './ops/telemetry/config.ts';
export { registerServerMetrics, type ServerMetrics, type ServerMetricsOptions } from './ops/telemetry/server-metrics.ts';
export { readServerStats, type ServerStats, type StandbyStats } from './ops/telemetry/server-stats.ts';
export { takeBaseBackup, type BaseBackupOptions, type BaseBackupResult, type BaseBackupProgress } from './ops/backup/base-backup.ts';
export { verifyBackupFiles, type VerifyFilesResult, type FileProblem } from './ops/backup/verify-files.ts';
export { listBackups, type BackupList, type BackupListEntry } from './ops/backup/list.ts';
export { readBackupRecord, recordVerification } from './ops/backup/record.ts';
export { readBackupCatalog, type BackupCatalog, type DamagedBackup } from './ops/backup/catalog.ts';
export { repairBackupRecord, type RepairResult } from './ops/backup/repair.ts';
export { cleanArchiveTemp, type ArchiveTempCleanup, type ArchiveTempFile } from './ops/backup/archive-temp.ts';
export { renderManifest, parseManifest, manifestChecksumValid, type Manifest, type ManifestFile, type ManifestWalRange } from './ops/backup/manifest.ts';
export { backupRepo, defaultRepo, type BackupRepo, type BackupRecord } from './ops/backup/repo.ts';
export { pruneBackups, type PruneOptions, type PruneResult } from './ops/backup/prune.ts';
export { resolveRetention, DEFAULT_RETENTION, type RetentionPolicy } from './ops/backup/retention.ts';
export { EncryptionKey, formatKey, generateKey, keyId, keyVariables, loadKeys, parseKey, type KeyPrefix } from './crypto/keys.ts';
export { Sealed } from './crypto/sealed.ts';
export { ColumnCipher, normalizeEmail, type CipherKeys, type CipherKeySources, type ColumnId } from './crypto/column-cipher.ts';
export { loadColumnCipher, type CipherKeyOptions } from './local/cipher-keys.ts';
export { attachCipher, cipherOf } from './crypto/db-cipher.ts';
export { rotateDataKey, DEFAULT_BATCH_SIZE as DEFAULT_ROTATION_BATCH_SIZE, type RotateOptions, type RotateDataKeyResult, type RotationProgress, type TableRotation } from './ops/keys/rotate-data-key.ts';
export { rotateBlindIndex, type RotateBlindIndexResult, type BlindIndexConflict } from './ops/keys/rotate-blind-index.ts';
export { keyStatus, type KeyStatusResult, type ColumnKeys, type KeyUse } from './ops/keys/key-status.ts';
export { checkKeyMatch, keyMismatchError, matchedCipherOf, type KeyMatch, type KeyPurpose } from './db/key-match.ts';
export { applyRoles, type ApplyRolesOptions, type ApplyRolesResult } from './ops/roles/apply.ts';
export { roleCatalog, type RoleSpec } from './ops/roles/catalog.ts';
export { roleNames, ROLE_KINDS, LOGIN_KINDS, type RoleKind, type LoginKind, type RoleSet } from './ops/roles/names.ts';
export { resolveRoleSettings, DEFAULT_ROLE_SETTINGS, type RoleSettings, type RoleSettingsFlags } from './ops/roles/settings.ts';
export { checkPassword, assertPasswordPolicy, MIN_PASSWORD_LENGTH } from './crypto/password-policy.ts';
export { setRolePassword, rotateLocalPassword, type RotateResult } from './ops/roles/rotate.ts';
export type { RoleChange } from './ops/roles/acl.ts';
export { auditTimeline, parseSince, type AuditOptions, type AuditResult } from './ops/audit/timeline.ts';
export type { AuditEvent, AuditKind } from './ops/audit/events.ts';
export { asAppUser } from './ops/audit/app-user.ts';
export { AUDIT_REDACTED_COLUMNS, AUDITED_TABLES } from './ops/audit/redaction.ts';

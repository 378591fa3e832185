/**
 * `jeex-db/ops`: operating the database: health, metrics (OpenTelemetry), alerts, diagnose,
 * roles and passwords, the audit timeline, backups and restores, PgBouncer, TLS and the
 * rotation of the column keys. Each function takes the `sql` client it should use.
 *
 * Importing it loads no OpenTelemetry SDK or exporter: `startTelemetry` imports those it needs.
 *
 * @example
 * import { checkHealth, takeBaseBackup, startTelemetry } from 'jeex-db/ops';
 * const doc = await checkHealth(monitorSql, { timeoutMs: 2000 });
 */
// Health
export { checkHealth, healthExitCode, healthDocument, DEFAULT_HEALTH_TIMEOUT_MS, type HealthOptions, type HealthScope } from './health/check-health.ts';
export { resolveHealthThresholds, thresholdEnvName, DEFAULT_HEALTH_THRESHOLDS, type HealthThresholds, type ThresholdName } from './health/thresholds.ts';
export { resolveHealthTarget, type HealthTarget } from './health/target.ts';
export { HEALTH_CONTENT_TYPE, worstStatus, type HealthCheck, type HealthDocument, type HealthStatus } from './health/types.ts';

// Telemetry
export { startTelemetry, type Telemetry, type TelemetryOptions, type PrometheusEndpoint } from './telemetry/provider.ts';
export { resolveTelemetryConfig, type TelemetryConfig, type TelemetryConfigInput, type OtlpOptions, type ResolvedOtlp } from './telemetry/config.ts';
export { registerServerMetrics, type ServerMetrics, type ServerMetricsOptions } from './telemetry/server-metrics.ts';
export { readServerStats, type ServerStats, type StandbyStats } from './telemetry/server-stats.ts';
export type { ArchiverStats, IndexStats, ServerObjects, SlotStats, TableStats } from './telemetry/server-objects.ts';
export { instanceIdentity, type InstanceIdentity, type InstanceIdentityOptions } from './telemetry/identity.ts';
export { prometheusName, PROMETHEUS_RENAMES } from './telemetry/prometheus-names.ts';

// Alerts
export { AlertEngine, type AlertEngineOptions, type AlertState, type AlertTransition, type ActiveAlert } from './alerts/engine.ts';
export { defaultAlertRules, parseAlertRules, loadAlertRules, type AlertRule, type AlertCondition, type AlertSeverity, type ComparisonOp } from './alerts/rules.ts';
export { AlertDelivery, DELIVERY_CHECK, type AlertDeliveryOptions } from './alerts/delivery.ts';
export { alertReceivers, type AlertReceiverConfig } from './alerts/receiver.ts';
export { parseAlertLabels, type AlertNotification, type AlertPayload, type PostableAlert } from './alerts/notification.ts';
export { maskWebhookUrl, alertWebhookUrlFromEnv } from './alerts/receiver-url.ts';
export { startAlertLoop, type AlertLoop, type AlertLoopOptions } from './alerts/loop.ts';

// Diagnose
export { diagnose } from './diagnose/diagnose.ts';
export { oneLine } from './diagnose/statements.ts';
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
} from './diagnose/types.ts';

// Roles and passwords
export { applyRoles, type ApplyRolesOptions, type ApplyRolesResult } from './roles/apply.ts';
export { applyRolesAt, type ApplyRolesAtOptions } from './roles/apply-at.ts';
export { roleCatalog, type RoleSpec } from './roles/catalog.ts';
export { roleNames, isLoginKind, DEFAULT_ROLE_PREFIX, ROLE_KINDS, LOGIN_KINDS, type RoleKind, type LoginKind, type RoleSet } from './roles/names.ts';
export { resolveRoleSettings, DEFAULT_ROLE_SETTINGS, type RoleSettings, type RoleSettingsFlags } from './roles/settings.ts';
export { setRolePassword, rotateLocalPassword, type RotateResult } from './roles/rotate.ts';
export { newPasswordInput, passwordsFromEnvironment, passwordVariable, type PasswordInput } from './roles/password-input.ts';
export type { RoleChange } from './roles/acl.ts';
export { checkPassword, assertPasswordPolicy, MIN_PASSWORD_LENGTH } from '../crypto/password-policy.ts';

// Audit
export { auditTimeline, parseSince, type AuditOptions, type AuditResult } from './audit/timeline.ts';
export { resolveAuditSource, type AuditSourceInput } from './audit/source.ts';
export type { AuditEvent, AuditKind } from './audit/events.ts';
export { AUDIT_REDACTED_COLUMNS, AUDITED_TABLES } from './audit/redaction.ts';

// Backups
export { takeBaseBackup, type BaseBackupOptions, type BaseBackupResult, type BaseBackupProgress } from './backup/base-backup.ts';
export { resolveBackupTarget, type BackupTarget, type BackupTargetInput } from './backup/target.ts';
export { verifyBackup, type VerifyResult } from './backup/verify.ts';
export { verifyBackupFiles, type VerifyFilesResult, type FileProblem } from './backup/verify-files.ts';
export { restoreBackup, type RestoreOptions, type RestoreResult, type RestoreTarget } from './backup/restore.ts';
export { listBackups, type BackupList, type BackupListEntry } from './backup/list.ts';
export { readBackupRecord, recordVerification } from './backup/record.ts';
export { readBackupCatalog, type BackupCatalog, type DamagedBackup } from './backup/catalog.ts';
export { repairBackupRecord, type RepairResult } from './backup/repair.ts';
export { cleanArchiveTemp, type ArchiveTempCleanup, type ArchiveTempFile } from './backup/archive-temp.ts';
export { renderManifest, parseManifest, manifestChecksumValid, type Manifest, type ManifestFile, type ManifestWalRange } from './backup/manifest.ts';
export { backupRepo, defaultRepo, type BackupRepo, type BackupRecord } from './backup/repo.ts';
export { pruneBackups, type PruneOptions, type PruneResult } from './backup/prune.ts';
export { resolveRetention, DEFAULT_RETENTION, type RetentionPolicy } from './backup/retention.ts';
export { startBackupSchedule, backupRunner, type BackupSchedule, type BackupScheduleOptions, type BackupRunnerOptions } from './backup/scheduler.ts';

// PgBouncer
export { poolerAdmin } from './pooler/admin.ts';
export {
  collectPoolerMetrics,
  poolerSnapshot,
  type PoolerMetrics,
  type PoolerMetricsOptions,
  type PoolerSnapshot,
  type PoolerPool,
  type PoolerDatabaseStats,
} from './pooler/metrics.ts';
export { supervisePooler, type PoolerSupervisor, type PoolerSupervisorState, type PoolerRestart, type SupervisePoolerOptions } from './pooler/supervise.ts';
export { pgbouncerTemplate, type PgbouncerTemplateInputs } from './pooler/template.ts';

// TLS
export { ensureDevTls, type DevTlsOptions, type DevTlsResult } from './tls/dev-tls.ts';
export { resolveTlsPlan, type TlsInput, type TlsPlan } from './tls/config.ts';
export type { UpTls } from './tls/server-tls.ts';

// Rotation of the column keys
export { rotateDataKey, DEFAULT_BATCH_SIZE as DEFAULT_ROTATION_BATCH_SIZE, type RotateOptions, type RotateDataKeyResult, type RotationProgress, type TableRotation } from './keys/rotate-data-key.ts';
export { rotateBlindIndex, type RotateBlindIndexResult, type BlindIndexConflict } from './keys/rotate-blind-index.ts';
export { keyStatus, type KeyStatusResult, type ColumnKeys, type KeyUse } from './keys/key-status.ts';

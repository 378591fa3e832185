/**
 * OpenTelemetry names to Prometheus names, after the specification's compatibility rules
 * (https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/): invalid
 * characters become `_`, the UCUM unit becomes a suffix (`By` → `_bytes`, `s` → `_seconds`,
 * `1` on a gauge → `_ratio`; annotations such as `{connection}` add none), and monotonic
 * counters end in `_total`.
 */

/** Prometheus names for the metrics whose regular name promtool refuses (a gauge ending `_count`). */
export const PROMETHEUS_RENAMES: Readonly<Record<string, string>> = {
  'postgresql.database.count': 'postgresql_databases',
  'postgresql.table.count': 'postgresql_tables',
  'db.client.connection.count': 'db_client_connections',
};

const UNITS: Readonly<Record<string, string>> = {
  // Time
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  // Bytes
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  // Others
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '%': 'percent',
};
const PER_UNITS: Readonly<Record<string, string>> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/** `[a-zA-Z0-9_:]` only, runs of `_` collapsed, no leading digit. */
export function sanitizeName(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/_{2,}/g, '_');
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned;
}

/** A label name: `[a-zA-Z0-9_]`, no leading digit, not starting with `__` (reserved). */
export function sanitizeLabel(name: string): string {
  let cleaned = name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/_{2,}/g, '_');
  if (/^[0-9]/.test(cleaned)) cleaned = `key_${cleaned}`;
  return cleaned;
}

/** The unit's words for a suffix (`By` → `bytes`, `By/s` → `bytes_per_second`), '' for none. */
export function unitSuffix(unit: string, kind: 'counter' | 'gauge' | 'histogram'): string {
  const bare = unit.replace(/\{[^}]*\}/g, '').trim();
  if (bare === '') return '';
  if (bare === '1') return kind === 'gauge' ? 'ratio' : '';
  const [numerator = '', denominator] = bare.split('/', 2);
  const words = [numerator ? (UNITS[numerator] ?? numerator) : ''];
  if (denominator) words.push(`per_${PER_UNITS[denominator] ?? UNITS[denominator] ?? denominator}`);
  return sanitizeName(words.filter(Boolean).join('_')).replace(/^_+|_+$/g, '');
}

/**
 * The Prometheus name of an OpenTelemetry metric (histograms: the base of `_bucket`, `_sum`,
 * `_count`).
 *
 * @example
 * prometheusName('postgresql.db_size', 'By', 'gauge'); // 'postgresql_db_size_bytes'
 * prometheusName('postgresql.commits', '{commit}', 'counter'); // 'postgresql_commits_total'
 */
export function prometheusName(name: string, unit: string, kind: 'counter' | 'gauge' | 'histogram'): string {
  const renamed = PROMETHEUS_RENAMES[name];
  if (renamed) return renamed;
  let result = sanitizeName(name);
  const suffix = unitSuffix(unit, kind);
  if (suffix && !result.endsWith(`_${suffix}`)) result = `${result}_${suffix}`;
  if (kind === 'counter' && !result.endsWith('_total')) result = `${result}_total`;
  return result;
}

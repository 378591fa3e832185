/**
 * docs/configuration.md from the registry of environment variables (src/core/env-vars.ts).
 * `npx tsx scripts/docs/configuration.ts` writes it; `npm run docs` writes every generated document.
 */
import { ENV_GROUPS, ENV_VARS, type EnvVar } from '../../src/core/env-vars.ts';
import { THRESHOLD_NAMES, thresholdEnvName } from '../../src/ops/health/thresholds.ts';
import { cell, header, runIfMain, type GeneratedDoc } from './generated.ts';

const SCRIPT = 'scripts/docs/configuration.ts';

/** Links in the registry are relative to docs/. */
const more = (entry: EnvVar): string => (entry.doc ? `[${entry.doc.replace(/\.md(#.*)?$/, '')}](${entry.doc})` : '');

const row = (entry: EnvVar): string =>
  `| \`${entry.name}\` | ${cell(entry.sets)} | ${cell(entry.default ?? '')} | ${cell(entry.readBy.join(', '))} | ${more(entry)} |`;

/** The names a family stands for, where the code can list them. */
const FAMILIES: Record<string, () => string[]> = {
  'JEEX_HEALTH_<THRESHOLD>': () => THRESHOLD_NAMES.map(thresholdEnvName),
};

const INTRO = `Everything jeex-db reads from the environment, in one list (\`ENV_VARS\` in \`src/core/env-vars.ts\`; a test fails when the code reads a variable that is not there). Options in code and command-line flags win over the variables; every problem is reported at once, naming the variable to fix.

**Which database.** One resolver (\`resolveDbConfig\`, used by \`createDb()\`) reads, in order: the options passed to \`createDb()\`, then \`DATABASE_URL\`, then libpq's \`PGHOST\`/\`PGPORT\`/\`PGUSER\`/\`PGPASSWORD\`/\`PGDATABASE\` (and \`PGSSLMODE\`/\`PGSSLROOTCERT\` for any URL that does not say, as libpq does), then the local cluster of \`jeex-db up\` (\`JEEX_DB_DATA_DIR\`, default \`.jeex-db\`). The migration commands read \`--url\`, then \`DATABASE_URL\`, then \`dbCredentials.url\` of \`drizzle.config.ts\`, then the local cluster; the monitoring commands \`--url\`, then \`JEEX_DB_MONITOR_URL\`, then \`DATABASE_URL\`, then the local cluster.

Variables of the OpenTelemetry exporter that jeex-db does not read itself (TLS client certificates such as \`OTEL_EXPORTER_OTLP_CERTIFICATE\`, compression, \`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE\`) are read by the exporter, from \`process.env\`.`;

export function renderConfiguration(): string {
  const lines = [header('Configuration: environment variables', SCRIPT, 'the registry in src/core/env-vars.ts'), INTRO, ''];
  for (const { group, title } of ENV_GROUPS) {
    const entries = ENV_VARS.filter((entry) => entry.group === group);
    if (entries.length === 0) continue;
    lines.push(`## ${title}`, '', '| variable | sets | default | read by | more |', '| --- | --- | --- | --- | --- |', ...entries.map(row), '');
    for (const entry of entries) {
      const names = FAMILIES[entry.name]?.();
      if (names) lines.push(`\`${entry.name}\` is one of: ${names.map((name) => `\`${name}\``).join(', ')}.`, '');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

export const configurationDoc: GeneratedDoc = {
  target: 'docs/configuration.md',
  script: SCRIPT,
  render: () => Promise.resolve(renderConfiguration()),
};

await runIfMain(import.meta.url, configurationDoc);

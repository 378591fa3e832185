import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { opsDir } from '../../src/stack/configure.ts';
import { initdbClusterArgs } from '../../src/cluster/initdb.ts';

// The production HA configurations (ops/patroni/, ops/cloudnative-pg/) against the files a local
// cluster and ops/compose.yaml use: what replication, TLS and authentication depend on must not
// drift apart, and no secret may sit in them.

const read = (name: string) => readFileSync(join(opsDir, name), 'utf8');

/** name -> value of every active line of a postgresql.conf (quotes removed). */
function confSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line || line.startsWith('include_if_exists')) continue;
    const match = /^([a-z_.]+)\s*=\s*(.+)$/.exec(line);
    if (!match) throw new Error(`not a setting: ${raw}`);
    settings.set(match[1] ?? '', (match[2] ?? '').replace(/^'(.*)'$/, '$1'));
  }
  return settings;
}

/** pg_hba rules as fields (comments dropped). */
const hbaRules = (lines: string[]) => lines.map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean).map((l) => l.split(/\s+/));

/** pgbouncer.ini's [pgbouncer] section: name -> value. */
function iniSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    const match = /^([a-z_]+)\s*=\s*(.*)$/.exec(line);
    if (section === 'pgbouncer' && match) settings.set(match[1] ?? '', match[2] ?? '');
  }
  return settings;
}

/** PostgreSQL's spellings of one value: on/true, quotes and case do not matter. */
const normal = (value: unknown) => {
  const text = String(value).trim().replace(/^'(.*)'$/, '$1').toLowerCase();
  return text === 'true' ? 'on' : text === 'false' ? 'off' : text;
};

/**
 * The ops/postgresql.conf settings that replication and its security depend on: TLS, SCRAM and
 * the WAL archive. Patroni's parameters must repeat them (they override the included file).
 */
const REPLICATION_SETTINGS = ['ssl', 'ssl_min_protocol_version', 'ssl_cert_file', 'ssl_key_file', 'password_encryption', 'archive_mode', 'archive_library', 'archive_timeout'];

/** What differs between ops/postgresql.conf and a set of parameters: missing required ones, and any value set in both that disagrees. */
function disagreements(conf: Map<string, string>, parameters: Record<string, unknown>, required: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of required) {
    if (!(name in parameters)) problems.push(`${name}: missing (ops/postgresql.conf has ${conf.get(name) ?? 'nothing'})`);
  }
  for (const [name, value] of Object.entries(parameters)) {
    const expected = conf.get(name);
    if (expected !== undefined && normal(expected) !== normal(value)) problems.push(`${name}: ${String(value)}, ops/postgresql.conf has ${expected}`);
  }
  return problems;
}

interface Patroni {
  scope: string;
  name: string;
  etcd3: { hosts: string[]; protocol: string };
  bootstrap: {
    dcs: {
      synchronous_mode: string;
      synchronous_node_count: number;
      synchronous_mode_strict: boolean;
      postgresql: { use_slots: boolean; use_pg_rewind: boolean; parameters: Record<string, string | number>; pg_hba: string[] };
    };
    initdb: (string | Record<string, string>)[];
  };
  postgresql: {
    data_dir: string;
    bin_dir: string;
    custom_conf: string;
    authentication: Record<string, Record<string, string>>;
    callbacks: Record<string, string>;
    recovery_conf: Record<string, string>;
    remove_data_directory_on_diverged_timelines: boolean;
  };
}

const patroniText = read('patroni/patroni.yml');
const patroni = parse(patroniText) as Patroni;
const conf = confSettings(read('postgresql.conf'));
const tuning = confSettings(read('jeex-tuning.conf'));
const opsHba = hbaRules(read('pg_hba.conf').split('\n'));

/** Every key/value under a parsed YAML document, with its path. */
function* entries(node: unknown, path = ''): Generator<[string, unknown]> {
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) yield* entries(item, `${path}[${i}]`);
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      yield [`${path}.${key}`, value];
      yield* entries(value, `${path}.${key}`);
    }
  }
}

/** Keys that would hold a secret when their value is a string (a reference to a Secret is an object). */
const SECRET_KEY = /(password|passwd|token|secret|secretaccesskey|accesskeyid|credentials?)$/i;

/** TCP rules of a pg_hba list: plain TCP refused first (for `all` and `replication`), TLS + SCRAM for what is accepted. */
function expectTlsOnly(rules: string[][], networks: { v4: string; v6?: string }) {
  const tcp = rules.filter((rule) => rule[0] !== 'local');
  const firstAccepting = tcp.findIndex((rule) => rule.at(-1) !== 'reject');
  const nossl = tcp.slice(0, firstAccepting).filter((rule) => rule[0] === 'hostnossl');
  for (const database of ['all', 'replication']) {
    for (const network of [networks.v4, networks.v6].filter(Boolean)) {
      expect(nossl, `hostnossl ${database} all ${network} reject before any accepting rule`).toContainEqual(['hostnossl', database, 'all', network, 'reject']);
    }
  }
  const accepting = tcp.filter((rule) => rule.at(-1) !== 'reject');
  expect(accepting.length).toBeGreaterThan(0);
  for (const rule of accepting) {
    expect(rule[0], rule.join(' ')).toBe('hostssl');
    expect(rule.at(-1), rule.join(' ')).toBe('scram-sha-256');
  }
  return accepting;
}

describe('ops/patroni/patroni.yml', () => {
  const dcs = patroni.bootstrap.dcs;

  it('runs quorum commit (Patroni 4) with one synchronous standby, replication slots and no pg_rewind', () => {
    expect(dcs.synchronous_mode).toBe('quorum');
    expect(dcs.synchronous_node_count).toBe(1);
    // Stated either way on purpose (the comment explains the trade-off); here: not strict.
    expect(typeof dcs.synchronous_mode_strict).toBe('boolean');
    expect(dcs.postgresql.use_slots).toBe(true);
    expect(dcs.postgresql.use_pg_rewind).toBe(false);
    // Without pg_rewind, a diverged former primary is rebuilt, and there is no rewind user.
    expect(patroni.postgresql.remove_data_directory_on_diverged_timelines).toBe(true);
    expect(Object.keys(patroni.postgresql.authentication).sort()).toEqual(['replication', 'superuser']);
  });

  it('is for PostgreSQL 18 server packages (Debian/PGDG paths) with etcd v3 over TLS', () => {
    expect(patroni.postgresql.bin_dir).toBe('/usr/lib/postgresql/18/bin');
    expect(patroni.postgresql.data_dir).toBe('/var/lib/postgresql/18/main');
    expect(patroni.etcd3.hosts).toHaveLength(3);
    expect(patroni.etcd3.protocol).toBe('https');
  });

  it('replicates as jeex_replicator over TLS verify-full, never with a password in the file', () => {
    const { replication, superuser } = patroni.postgresql.authentication;
    expect(replication?.username).toBe('jeex_replicator');
    expect(replication?.sslmode).toBe('verify-full');
    expect(replication?.sslrootcert).toBeTruthy();
    expect(superuser?.username).toBe('postgres');
    for (const user of Object.values(patroni.postgresql.authentication)) expect(user).not.toHaveProperty('password');
    // ... and the header names the environment variables they come from instead.
    expect(patroniText).toContain('PATRONI_SUPERUSER_PASSWORD');
    expect(patroniText).toContain('PATRONI_REPLICATION_PASSWORD');
  });

  it('pg_hba: TLS only (plain TCP refused for every database and replication), SCRAM only, replication for jeex_replicator only', () => {
    const rules = hbaRules(dcs.postgresql.pg_hba);
    const accepting = expectTlsOnly(rules, { v4: '0.0.0.0/0', v6: '::/0' });
    const replication = accepting.filter((rule) => rule[1] === 'replication');
    expect(replication.length).toBeGreaterThan(0);
    expect(new Set(replication.map((rule) => rule[2]))).toEqual(new Set(['jeex_replicator']));
    expect(rules.filter((rule) => rule[0] === 'local').map((rule) => rule.at(-1))).toEqual(['scram-sha-256']);
    expect(rules.at(-1)?.at(-1)).toBe('reject');
  });

  it('pg_hba accepts from the same networks as ops/pg_hba.conf, for the application and for replication', () => {
    const patroniAccepting = hbaRules(dcs.postgresql.pg_hba).filter((rule) => rule[0] === 'hostssl' && rule.at(-1) !== 'reject');
    const networks = (rules: string[][], database: string) => new Set(rules.filter((rule) => rule[0] === 'hostssl' && rule[1] === database && rule.at(-1) !== 'reject').map((rule) => rule[3]));
    expect(networks(patroniAccepting, 'all')).toEqual(networks(opsHba, 'all'));
    // ops/pg_hba.conf's replication lines (when it has them) are all here too.
    for (const network of networks(opsHba, 'replication')) expect(networks(patroniAccepting, 'replication')).toContain(network);
  });

  it('repeats the TLS, SCRAM and archive settings of ops/postgresql.conf, and contradicts none of its settings', () => {
    const parameters = dcs.postgresql.parameters;
    expect(disagreements(conf, parameters, REPLICATION_SETTINGS)).toEqual([]);
    // A dropped or changed setting is caught (the check itself can fail).
    const { ssl: _ssl, ...withoutSsl } = parameters;
    expect(disagreements(conf, withoutSsl, REPLICATION_SETTINGS)).toEqual([expect.stringMatching(/^ssl: missing/)]);
    const tls12 = new Map(conf).set('ssl_min_protocol_version', 'TLSv1.2');
    expect(disagreements(tls12, parameters, REPLICATION_SETTINGS)).toEqual([expect.stringMatching(/^ssl_min_protocol_version: TLSv1.3, ops\/postgresql.conf has TLSv1.2/)]);
  });

  it('adds what a standby needs: a 1 s WAL retry, a cap on slot WAL, the archive for restore_command', () => {
    const parameters = dcs.postgresql.parameters;
    expect(String(parameters.wal_retrieve_retry_interval)).toMatch(/^(1s|1000ms|1000)$/);
    expect(String(parameters.max_slot_wal_keep_size)).toMatch(/^\d+(MB|GB)$/);
    const archive = String(parameters['basic_archive.archive_directory']);
    expect(archive).toMatch(/^\/.+\/wal$/);
    expect(patroni.postgresql.recovery_conf.restore_command).toBe(`cp ${archive}/%f %p`);
  });

  it('sets the settings Patroni takes only from the DCS as ops/jeex-tuning.conf derives them', () => {
    for (const name of ['max_connections', 'max_worker_processes']) {
      expect(String(dcs.postgresql.parameters[name]), name).toBe(tuning.get(name));
    }
    expect(dcs.postgresql.parameters.wal_level).toBe('replica');
  });

  it('initdb runs with the same options as a local cluster', () => {
    const options = patroni.bootstrap.initdb.map((option) =>
      typeof option === 'string' ? `--${option}` : Object.entries(option).map(([key, value]) => `--${key}=${value}`)[0],
    );
    expect(options).toEqual(initdbClusterArgs());
  });

  it('calls ops/patroni/on-role-change.sh on role changes and starts: it exists, is executable and parses', () => {
    const { on_role_change: onRoleChange, on_start: onStart } = patroni.postgresql.callbacks;
    expect(onRoleChange).toBe(onStart);
    const script = join(opsDir, 'patroni', basename(onRoleChange ?? ''));
    expect(basename(script)).toBe('on-role-change.sh');
    const mode = statSync(script).mode;
    expect(mode & 0o111, 'executable').toBe(0o111);
    expect(readFileSync(script, 'utf8').split('\n')[0]).toBe('#!/bin/sh');
    const syntax = spawnSync('sh', ['-n', script], { encoding: 'utf8' });
    expect(syntax.status, syntax.stderr).toBe(0);
  });

  it('the custom_conf it includes is ops/postgresql.conf deployed (its header says where)', () => {
    expect(patroni.postgresql.custom_conf).toMatch(/\/postgresql\.conf$/);
  });
});

/** A Kubernetes resource's spec, as much of it as the checks read. */
interface Spec {
  [key: string]: unknown;
  backup?: { barmanObjectStore?: unknown };
  bootstrap?: { initdb?: Record<string, unknown> };
  pgbouncer?: { parameters?: Record<string, string> };
}

describe('ops/cloudnative-pg/cluster.yaml', () => {
  const documents = parseAllDocuments(read('cloudnative-pg/cluster.yaml')).map((document) => document.toJS() as { kind: string; metadata: { name: string }; spec: Spec });
  const byKind = (kind: string) => documents.filter((document) => document.kind === kind);
  const cluster = byKind('Cluster')[0];
  const postgresql = cluster?.spec.postgresql as { synchronous: Record<string, unknown>; pg_hba: string[]; parameters: Record<string, unknown> };

  /** ops/postgresql.conf settings the operator owns (fixed parameters, its TLS, the archiving plugin, its JSON logs). */
  const OPERATOR_OWNED = ['listen_addresses', 'port', 'ssl', 'ssl_cert_file', 'ssl_key_file', 'archive_mode', 'archive_library', 'shared_preload_libraries', 'logging_collector', 'log_destination', 'log_directory', 'log_filename', 'log_rotation_age', 'log_rotation_size', 'log_file_mode'];

  it('is one ObjectStore, Cluster, ScheduledBackup, Pooler and the roles Job, and no Secret', () => {
    expect(documents.map((document) => document.kind)).toEqual(['ObjectStore', 'Cluster', 'ScheduledBackup', 'Pooler', 'Job']);
  });

  it('runs three PostgreSQL 18 instances with quorum commit (ANY 1) and says what happens without a standby', () => {
    expect(cluster?.spec.instances).toBe(3);
    expect(cluster?.spec.imageName).toMatch(/\/postgresql:18[.-]/);
    expect(postgresql.synchronous).toMatchObject({ method: 'any', number: 1 });
    expect(['required', 'preferred']).toContain(postgresql.synchronous.dataDurability);
  });

  it('pg_hba: plain TCP refused (replication too), TLS + SCRAM for everything accepted', () => {
    expectTlsOnly(hbaRules(postgresql.pg_hba), { v4: 'all' });
  });

  it("archives WAL and takes base backups with the Barman Cloud plugin into the file's ObjectStore (not the deprecated barmanObjectStore)", () => {
    const store = byKind('ObjectStore')[0];
    const plugin = (cluster?.spec.plugins as { name: string; isWALArchiver: boolean; parameters: { barmanObjectName: string } }[])[0];
    expect(plugin).toEqual({ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: { barmanObjectName: store?.metadata.name } });
    expect(cluster?.spec.backup?.barmanObjectStore).toBeUndefined();
    const scheduled = byKind('ScheduledBackup')[0];
    expect(scheduled?.spec).toMatchObject({ method: 'plugin', cluster: { name: cluster?.metadata.name }, pluginConfiguration: { name: plugin?.name } });
  });

  it('sets every setting of ops/postgresql.conf and ops/jeex-tuning.conf it may set, to the same value, as strings', () => {
    const parameters = postgresql.parameters;
    for (const value of Object.values(parameters)) expect(typeof value).toBe('string');
    const expected = new Map([...conf].filter(([name]) => !OPERATOR_OWNED.includes(name)).concat([...tuning]));
    const missing = [...expected.keys()].filter((name) => !(name in parameters));
    expect(missing).toEqual([]);
    expect(disagreements(new Map([...conf, ...tuning]), parameters, [])).toEqual([]);
    // The TLS minimum is repeated although the operator defaults to it.
    expect(parameters.ssl_min_protocol_version).toBe(conf.get('ssl_min_protocol_version'));
  });

  it('initdb: the same options as a local cluster', () => {
    const initdb = cluster?.spec.bootstrap?.initdb ?? {};
    const args = [
      '--auth=scram-sha-256', // the operator's default for PostgreSQL 14+
      `--encoding=${String(initdb.encoding)}`,
      ...(initdb.dataChecksums === true ? ['--data-checksums'] : []),
      `--lc-messages=${String(postgresql.parameters.lc_messages)}`,
      `--locale-provider=${String(initdb.localeProvider)}`,
      `--builtin-locale=${String(initdb.builtinLocale)}`,
      `--locale=${String(initdb.locale)}`,
    ];
    expect(args).toEqual(initdbClusterArgs());
  });

  it('a Pooler in transaction mode in front of the primary, with ops/pgbouncer.ini\'s pool settings', () => {
    const pooler = byKind('Pooler')[0];
    expect(pooler?.spec).toMatchObject({ cluster: { name: cluster?.metadata.name }, type: 'rw', pgbouncer: { poolMode: 'transaction' } });
    const parameters = pooler?.spec.pgbouncer?.parameters ?? {};
    const ini = iniSettings(read('pgbouncer.ini'));
    const shared = Object.keys(parameters).filter((name) => ini.has(name));
    expect(shared).toEqual(expect.arrayContaining(['default_pool_size', 'max_db_connections', 'query_wait_timeout', 'server_login_retry', 'client_idle_timeout', 'idle_transaction_timeout']));
    for (const name of shared) expect(normal(parameters[name]), name).toBe(normal(ini.get(name)));
    expect(parameters.client_tls_sslmode).toBe('require');
  });
});

describe('no secret in the HA files', () => {
  it('no key that would hold a password, token or key has a literal value, and no Secret resource is defined', () => {
    const found: string[] = [];
    const trees = [patroni, ...parseAllDocuments(read('cloudnative-pg/cluster.yaml')).map((document) => document.toJS() as unknown)];
    for (const tree of trees) {
      for (const [path, value] of entries(tree)) {
        const key = path.split('.').at(-1) ?? '';
        if (SECRET_KEY.test(key) && typeof value === 'string') found.push(`${path}: ${value}`);
        if (key === 'kind' && value === 'Secret') found.push(path);
        if (key === 'stringData') found.push(path);
      }
    }
    expect(found).toEqual([]);
  });

  it('the callback sets no password of its own: PGPASSWORD only from the environment or a file', () => {
    const script = read('patroni/on-role-change.sh');
    const assignments = [...script.matchAll(/PASSWORD=([^\s;]*)/g)].map((match) => match[1] ?? '');
    expect(assignments.length).toBeGreaterThan(0);
    for (const value of assignments) expect(value).toMatch(/^\$/);
  });
});

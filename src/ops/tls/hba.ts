/**
 * A cluster's pg_hba.conf from the template (ops/pg_hba.conf, TLS only). With `tls: false`
 * (`up --no-tls`) the `hostnossl ... reject` lines go and `hostssl` becomes `host`, so plain TCP
 * is accepted with the same SCRAM rules; a header says so.
 *
 * @example
 * renderPgHba(readFileSync('ops/pg_hba.conf', 'utf8'), { tls: true });
 */
export function renderPgHba(template: string, options: { tls: boolean }): string {
  if (options.tls) return `# Written by \`jeex-db up\` on every start from ops/pg_hba.conf; do not edit.\n${template}`;
  const lines = template
    .split('\n')
    .filter((line) => !/^hostnossl\s/.test(line))
    .map((line) => line.replace(/^hostssl(\s+)/, (_m, space: string) => `host${' '.repeat(3)}${space}`));
  return [
    '# Written by `jeex-db up --no-tls` from ops/pg_hba.conf: TLS IS OFF. Passwords are still',
    '# SCRAM, but queries and rows cross TCP unencrypted. Run `jeex-db up` without --no-tls to',
    '# turn TLS back on.',
    ...lines,
  ].join('\n');
}

/**
 * The TLS lines of jeex-local.conf: the certificate and key, TLS 1.3 at least, or `ssl = off`.
 *
 * @example
 * sslSettings({ certFile: '/d/tls/server.crt', keyFile: '/d/tls/server.key' });
 * // ["ssl = on", "ssl_cert_file = '/d/tls/server.crt'", ...]
 */
export function sslSettings(tls: { certFile: string; keyFile: string } | undefined): string[] {
  const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
  if (!tls) {
    return ['# TLS is OFF (`jeex-db up --no-tls`): pg_hba.conf accepts plain TCP.', 'ssl = off'];
  }
  return [
    '# TLS: every TCP connection is encrypted (pg_hba.conf rejects the others), TLS 1.3 only.',
    'ssl = on',
    `ssl_cert_file = ${quote(tls.certFile)}`,
    `ssl_key_file = ${quote(tls.keyFile)}`,
    "ssl_min_protocol_version = 'TLSv1.3'",
  ];
}

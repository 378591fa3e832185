import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isExcluded } from '../../src/ops/backup/exclude.ts';
import { manifestChecksumValid, manifestTime, parseManifest, renderManifest } from '../../src/ops/backup/manifest.ts';

describe('backup_manifest', () => {
  const input = {
    systemIdentifier: '7412345678901234567',
    files: [
      { path: 'PG_VERSION', size: 3, mtime: new Date('2026-11-25T17:45:01.123Z'), sha256: 'a'.repeat(64) },
      { path: 'backup_label', size: 10, mtime: new Date('2026-11-25T17:45:09Z'), sha256: 'b'.repeat(64) },
    ],
    walRanges: [{ timeline: 1, startLsn: '0/2000028', endLsn: '0/2000120' }],
  };

  it('is laid out as PostgreSQL writes it, with the checksum over everything before its line', () => {
    const { text, checksum } = renderManifest(input);
    const body = text.slice(0, text.indexOf('"Manifest-Checksum"'));
    expect(body).toBe(
      '{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": 7412345678901234567,\n"Files": [\n' +
        `{ "Path": "PG_VERSION", "Size": 3, "Last-Modified": "2026-11-25 17:45:01 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "${'a'.repeat(64)}" },\n` +
        `{ "Path": "backup_label", "Size": 10, "Last-Modified": "2026-11-25 17:45:09 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "${'b'.repeat(64)}" }\n` +
        '],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000120" }\n],\n',
    );
    expect(checksum).toBe(createHash('sha256').update(body).digest('hex'));
    expect(text.endsWith(`"Manifest-Checksum": "${checksum}"}\n`)).toBe(true);
    expect(manifestChecksumValid(text).ok).toBe(true);
    expect(manifestChecksumValid(text.replace('"Size": 3', '"Size": 4')).ok).toBe(false);
  });

  it('parses back, keeping the 64-bit system identifier exact', () => {
    const parsed = parseManifest(renderManifest(input).text);
    expect(parsed.systemIdentifier).toBe('7412345678901234567');
    expect(parsed.files.map((f) => [f.path, f.size, f.sha256])).toEqual(input.files.map((f) => [f.path, f.size, f.sha256]));
    expect(parsed.walRanges).toEqual(input.walRanges);
    expect(manifestTime(new Date('2026-01-02T03:04:05.999Z'))).toBe('2026-01-02 03:04:05 GMT');
  });
});

describe('base backup exclusions', () => {
  it.each([
    ['postmaster.pid', true],
    ['postmaster.opts', true],
    ['backup_label', true],
    ['pg_wal/000000010000000000000001', true],
    ['pg_replslot/slot/state', true],
    ['pg_stat_tmp/global.stat', true],
    ['base/5/pgsql_tmp', true],
    ['base/pgsql_tmp/pgsql_tmp123.0', true],
    ['global/pg_internal.init', true],
    ['pg_wal', false],
    ['pg_replslot', false],
    ['global/pg_control', false],
    ['base/5/1259', false],
    ['postgresql.auto.conf', false],
    ['base/5/backup_label', false],
  ])('%s excluded: %s', (path, excluded) => expect(isExcluded(path)).toBe(excluded));
});

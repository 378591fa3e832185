import { z } from 'zod';
import { JeexDbError } from '../core/errors.ts';

/**
 * The shapes of `state.json` and `secrets.json`, checked on every read: a truncated, edited or
 * bit-flipped file is refused as LOCAL_STATE_DAMAGED naming the file, what is wrong (a field's
 * path, never its value) and how to repair it, instead of surfacing later as a connection to
 * `undefined:NaN` (QUERY_FAILED) or as JSON.parse's SyntaxError, whose message quotes the text
 * around the fault: a password fragment, for secrets.json.
 */

const port = z.number().int().min(1).max(65535);
const name = z.string().min(1);
/** Generated passwords are base64url; given ones passed the policy (no control characters). */
const password = z
  .string()
  .min(1)
  .refine((value) => !/[\p{Cc}\ufffd]/u.test(value), 'contains control or replacement characters (a damaged byte?)');
const roleSecret = z.object({ user: name, password });

export const localStateSchema = z.looseObject({
  version: z.literal(1),
  pgMajor: z.number().int().positive(),
  host: name,
  port,
  database: name,
  roles: z.looseObject({
    superuser: name,
    migrator: name,
    app: name,
    owner: name.optional(),
    readonly: name.optional(),
    backup: name.optional(),
    monitor: name.optional(),
    replicator: name.optional(),
  }),
  roleSettings: z
    .object({
      idleSessionTimeoutMs: z.number().int().min(0),
      idleInTransactionTimeoutMs: z.number().int().min(0),
      auditReads: z.boolean(),
    })
    .optional(),
  pooler: z.object({ port, version: z.string(), preparedStatements: z.boolean() }).optional(),
  tls: z.object({ rootCert: name, verifyHost: name.optional() }).optional(),
});

/** As stored: only the superuser is required (`up` gives any other role without an entry a new password). */
export const storedSecretsSchema = z.looseObject({
  version: z.literal(1),
  superuser: roleSecret,
  migrator: roleSecret.optional(),
  app: roleSecret.optional(),
  readonly: roleSecret.optional(),
  backup: roleSecret.optional(),
  monitor: roleSecret.optional(),
  replicator: roleSecret.optional(),
  pooler: roleSecret.optional(),
});

export type LocalFileKind = 'state' | 'secrets' | 'replication';

/**
 * Parse a local file's bytes: UTF-8, then JSON, then the schema. Throws LOCAL_STATE_DAMAGED;
 * nothing of the file's text reaches the error (JSON.parse's own message is dropped).
 */
export function parseLocalFile<T>(file: string, kind: LocalFileKind, bytes: Buffer, schema: z.ZodType<T>): T {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw localFileDamaged(file, kind, `it is not valid UTF-8 (${bytes.length} bytes): a byte was changed`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    const problem =
      text.trim() === ''
        ? 'it is empty'
        : !/^\s*[{[]/.test(text)
          ? 'it is not JSON'
          : /[}\]]\s*$/.test(text)
            ? 'it is not valid JSON (a changed character?)'
            : 'it is not valid JSON (it ends early: truncated?)';
    throw localFileDamaged(file, kind, `${problem}, ${bytes.length} bytes`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw localFileDamaged(file, kind, describeIssues(parsed.error.issues));
  return parsed.data;
}

/** `roles.app: expected string`, ... without the values (they may be passwords). */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const described = issues.slice(0, 5).map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : 'the file';
    const what =
      issue.code === 'invalid_type'
        ? `expected ${issue.expected}`
        : issue.code === 'too_small' || issue.code === 'too_big'
          ? 'out of range'
          : issue.code === 'invalid_value'
            ? `expected ${issue.values.map((value) => JSON.stringify(value)).join(' or ')}`
            : issue.code === 'custom'
              ? issue.message
              : issue.code.replaceAll('_', ' ');
    return `${path}: ${what}`;
  });
  return `it does not hold what jeex-db wrote (${described.join('; ')}${issues.length > 5 ? `; ${issues.length - 5} more` : ''})`;
}

/**
 * LOCAL_STATE_DAMAGED for `file`. state.json holds no secrets and `up` rewrites it; secrets.json
 * holds the role passwords, of which only the superuser's cannot be replaced.
 */
export function localFileDamaged(file: string, kind: LocalFileKind, problem: string): JeexDbError {
  const hint =
    kind === 'replication'
      ? 'replication.json says whether this cluster is a standby and of which primary: fix the field named, or delete the file and make the cluster a standby again with `jeex-db standby --reseed` (a primary without the file starts as a primary).'
      : kind === 'state'
      ? `state.json holds no secrets: run \`jeex-db up\` (with the same --data-dir) and it rewrites it from the cluster, keeping the damaged copy as state.json.damaged.`
      : 'secrets.json holds the role passwords and cannot be rebuilt from the cluster: restore it from a copy of the file. ' +
        'If only the entry of a role other than the superuser is damaged, delete that entry and run `jeex-db up`: it gives that role a new password. ' +
        'If the superuser entry is lost too, see "Recovering secrets.json" in docs/local-cluster.md (reset the superuser password in single-user mode, or a fresh cluster restored from a backup).';
  return new JeexDbError('LOCAL_STATE_DAMAGED', `${file} is damaged: ${problem}`, { hint, context: { file, kind } });
}

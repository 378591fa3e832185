/**
 * Seed the JEEX data model at a realistic scale with a fixed seed (the same rows on every run),
 * through COPY, plus the bench-only tables pgbench draws its keys and payloads from.
 */
import type { Sql } from 'postgres';
import type { ColumnCipher } from '../../src/crypto/column-cipher.ts';
import { randomInt, randomLogNormal, seededRandom, seededUuidv7 } from '../random.ts';
import { copyRows } from './copy.ts';
import { AGENT_TYPES, DOCUMENT_TYPES, EXPORT_FORMATS, TextSource, agentInput, agentOutput, documentBytes, exportManifest } from './content.ts';
import type { JeexScale } from './scale.ts';
import { seedUsers } from './seed-users.ts';

/** Keys of the seeded rows, indexed from 0; bench.keys holds the same with n = index + 1. */
export interface SeededKeys {
  users: string[];
  /** Live (not soft-deleted) projects and their owners. */
  projects: { id: string; owner: string }[];
  correlations: string[];
}

/** What the write operations send: the same samples are in bench.payloads for pgbench. */
export interface Payloads {
  contents: string[];
  inputs: Record<string, unknown>[];
  outputs: Record<string, unknown>[];
  manifests: Record<string, unknown>[];
}

export interface SeedFigures {
  users: number;
  projects: number;
  liveProjects: number;
  documentVersions: number;
  /** Characters of markdown in the seeded versions. */
  documentBytes: number;
  agentExecutions: number;
  correlations: number;
  exports: number;
  payloads: number;
  /** pg_database_size after seeding and VACUUM ANALYZE. */
  databaseBytes: number;
  durationMs: number;
}

export interface Seeded {
  keys: SeededKeys;
  payloads: Payloads;
  figures: SeedFigures;
}

/** The fixed seed of the data and of the request streams. */
export const SEED = 20261108;
const DAY = 86_400_000;
const EPOCH = Date.UTC(2026, 0, 1);
const LANGUAGES = ['en', 'en', 'en', 'en', 'ru', 'pt-BR', 'de', 'es'];

function projectStatus(roll: number): string {
  return roll < 0.25 ? 'draft' : roll < 0.75 ? 'in_progress' : roll < 0.95 ? 'completed' : 'archived';
}

/**
 * Seed as a superuser on the JEEX database (`sql`), then create `bench.keys` and
 * `bench.payloads`, readable by `appRole`. `log` gets progress lines.
 */
export async function seedJeex(sql: Sql, scale: JeexScale, appRole: string, log: (line: string) => void, cipher: ColumnCipher): Promise<Seeded> {
  const started = performance.now();
  const random = seededRandom(SEED);
  const text = new TextSource(seededRandom(SEED + 1));
  let clock = EPOCH;
  const nextId = () => seededUuidv7(clock++, random);
  const now = Date.now();
  const ago = (maxDays: number) => new Date(now - random() * maxDays * DAY);

  const users = Array.from({ length: scale.users }, nextId);
  await seedUsers(sql, users, cipher);

  const projects: { id: string; owner: string; deleted: boolean }[] = [];
  for (const owner of users) {
    for (let i = randomInt(random, 1, 3); i > 0; i--) projects.push({ id: nextId(), owner, deleted: random() < 0.02 });
  }
  await copyRows(
    sql,
    'projects',
    ['id', 'name', 'status', 'current_step', 'language', 'created_by', 'deleted_at', 'created_at', 'updated_at'],
    projects.map((p, i) => {
      const updated = ago(90);
      return [p.id, `Project ${i + 1}: ${text.text(randomInt(random, 10, 40)).trim()}`, projectStatus(random()), randomInt(random, 1, 4), LANGUAGES[randomInt(random, 0, LANGUAGES.length - 1)], p.owner, p.deleted ? updated : null, new Date(updated.getTime() - random() * 30 * DAY), updated];
    }),
  );
  log(`seeded ${users.length} users, ${projects.length} projects`);

  let versionBytes = 0;
  function* versions(): Generator<unknown[]> {
    for (const p of projects) {
      for (const type of DOCUMENT_TYPES) {
        const size = documentBytes(random);
        const count = randomInt(random, 1, 4);
        for (let v = 1; v <= count; v++) {
          const content = text.markdown(Math.min(50 * 1024, Math.round(size * (1 + 0.15 * (v - 1)))), `${type} v${v}`);
          versionBytes += content.length;
          yield [nextId(), p.id, type, v, content, p.owner, ago(60)];
        }
      }
    }
  }
  const documentVersions = await copyRows(sql, 'document_versions', ['id', 'project_id', 'document_type', 'version', 'content', 'created_by', 'created_at'], versions());
  log(`seeded ${documentVersions} document versions (${(versionBytes / 2 ** 20).toFixed(0)} MiB of markdown)`);

  const correlations: string[] = [];
  function* executions(): Generator<unknown[]> {
    for (const p of projects) {
      for (let r = randomInt(random, 1, 4); r > 0; r--) {
        const correlation = nextId();
        if (!p.deleted) correlations.push(correlation);
        let at = ago(60).getTime();
        const steps = randomInt(random, 2, 4);
        for (let s = 0; s < steps; s++) {
          const roll = random();
          const status = roll < 0.9 ? 'completed' : roll < 0.96 ? 'failed' : 'running';
          const duration = Math.round(randomLogNormal(random, 20_000, 0.8, 500, 300_000));
          const final = status !== 'running';
          yield [
            nextId(), p.id, AGENT_TYPES[s % AGENT_TYPES.length], correlation, agentInput(text, random, s + 1),
            status === 'completed' ? agentOutput(text, random) : null, status, status === 'failed' ? 'the model did not answer within 120 s' : null,
            new Date(at), final ? new Date(at + duration) : null, final ? duration : null,
          ];
          at += duration + 1000;
        }
      }
    }
  }
  const agentExecutions = await copyRows(
    sql,
    'agent_executions',
    ['id', 'project_id', 'agent_type', 'correlation_id', 'input_data', 'output_data', 'status', 'error_message', 'started_at', 'completed_at', 'duration_ms'],
    executions(),
  );
  log(`seeded ${agentExecutions} agent executions (${correlations.length} live correlation ids)`);

  function* exportRows(): Generator<unknown[]> {
    for (const p of projects) {
      for (let e = randomInt(random, 0, 2); e > 0; e--) {
        const created = ago(30);
        const done = random() < 0.85;
        const format = EXPORT_FORMATS[randomInt(random, 0, 1)];
        const id = nextId();
        yield [id, p.id, format, done ? 'completed' : 'pending', done ? `exports/${id}.${format === 'pdf' ? 'pdf' : 'zip'}` : null, exportManifest(random), new Date(created.getTime() + DAY), done ? created : null, p.owner, created];
      }
    }
  }
  const exportCount = await copyRows(sql, 'exports', ['id', 'project_id', 'format', 'status', 'file_path', 'manifest', 'expires_at', 'completed_at', 'created_by', 'created_at'], exportRows());

  const payloads: Payloads = { contents: [], inputs: [], outputs: [], manifests: [] };
  for (let i = 0; i < scale.payloads; i++) {
    payloads.contents.push(text.markdown(documentBytes(random), `edit ${i + 1}`));
    payloads.inputs.push(agentInput(text, random, 1 + (i % 4)));
    payloads.outputs.push(agentOutput(text, random));
    payloads.manifests.push(exportManifest(random));
  }
  const live = projects.filter((p) => !p.deleted).map(({ id, owner }) => ({ id, owner }));
  await createBenchTables(sql, { users, projects: live, correlations }, payloads, appRole);

  log('VACUUM ANALYZE');
  await sql`VACUUM ANALYZE`;
  const [size] = await sql<{ bytes: string }[]>`SELECT pg_database_size(current_database())::text AS bytes`;
  return {
    keys: { users, projects: live, correlations },
    payloads,
    figures: {
      users: users.length,
      projects: projects.length,
      liveProjects: live.length,
      documentVersions,
      documentBytes: versionBytes,
      agentExecutions,
      correlations: correlations.length,
      exports: exportCount,
      payloads: scale.payloads,
      databaseBytes: Number(size?.bytes ?? 0),
      durationMs: performance.now() - started,
    },
  };
}

/**
 * `bench.keys(n, user_id, project_id, owner_id, correlation_id)` and `bench.payloads(n, content,
 * input, output, manifest)`: pgbench draws `n` with random() and finds the seeded key or payload
 * by primary key inside the statement that uses it (no extra round trip).
 */
async function createBenchTables(sql: Sql, keys: SeededKeys, payloads: Payloads, appRole: string): Promise<void> {
  await sql`DROP SCHEMA IF EXISTS bench CASCADE`;
  await sql`CREATE SCHEMA bench`;
  await sql`CREATE TABLE bench.keys (n integer PRIMARY KEY, user_id uuid, project_id uuid, owner_id uuid, correlation_id uuid)`;
  await sql`CREATE TABLE bench.payloads (n integer PRIMARY KEY, content text NOT NULL, input jsonb NOT NULL, output jsonb NOT NULL, manifest jsonb NOT NULL)`;
  const rows = Math.max(keys.users.length, keys.projects.length, keys.correlations.length);
  await copyRows(
    sql,
    'bench.keys',
    ['n', 'user_id', 'project_id', 'owner_id', 'correlation_id'],
    Array.from({ length: rows }, (_, i) => [i + 1, keys.users[i] ?? null, keys.projects[i]?.id ?? null, keys.projects[i]?.owner ?? null, keys.correlations[i] ?? null]),
  );
  await copyRows(
    sql,
    'bench.payloads',
    ['n', 'content', 'input', 'output', 'manifest'],
    payloads.contents.map((content, i) => [i + 1, content, payloads.inputs[i], payloads.outputs[i], payloads.manifests[i]]),
  );
  await sql.unsafe(`GRANT USAGE ON SCHEMA bench TO "${appRole}"`);
  await sql.unsafe(`GRANT SELECT ON ALL TABLES IN SCHEMA bench TO "${appRole}"`);
}

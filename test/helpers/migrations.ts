import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The package's drizzle-kit output folder. */
export const PACKAGE_MIGRATIONS = resolve(import.meta.dirname, '..', '..', 'drizzle');

/** The package's migrations in journal order, so a test does not change when one is added. */
export const PACKAGE_TAGS: readonly string[] = (JSON.parse(readFileSync(join(PACKAGE_MIGRATIONS, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] }).entries.map((e) => e.tag);

/** `0003_snapshot.json` for the migration at journal index 3. */
export const snapshotName = (idx: number): string => `${String(idx).padStart(4, '0')}_snapshot.json`;

interface Journal {
  version: string;
  dialect: string;
  entries: { idx: number; version: string; when: number; tag: string; breakpoints: boolean }[];
}

/** A scratch copy of the package's migrations that a test may change freely. */
export class ScratchMigrations {
  private constructor(readonly dir: string) {}

  static async create(): Promise<ScratchMigrations> {
    const dir = await mkdtemp(join(tmpdir(), 'jeex-migrations-'));
    await cp(PACKAGE_MIGRATIONS, dir, { recursive: true });
    return new ScratchMigrations(dir);
  }

  get journalFile(): string {
    return join(this.dir, 'meta', '_journal.json');
  }

  async journal(): Promise<Journal> {
    return JSON.parse(await readFile(this.journalFile, 'utf8')) as Journal;
  }

  async writeJournal(journal: Journal): Promise<void> {
    await writeFile(this.journalFile, `${JSON.stringify(journal, null, 2)}\n`);
  }

  /**
   * Append a migration (as `drizzle-kit generate --custom` would, without a snapshot). `when`
   * defaults to one second after the newest entry; statements are joined with breakpoints.
   */
  async add(name: string, statements: string[], options: { when?: number; down?: string[]; snapshot?: boolean } = {}): Promise<string> {
    const journal = await this.journal();
    const idx = journal.entries.length;
    const tag = `${String(idx).padStart(4, '0')}_${name}`;
    const newest = Math.max(...journal.entries.map((e) => e.when));
    journal.entries.push({ idx, version: '7', when: options.when ?? newest + 1000, tag, breakpoints: true });
    await writeFile(join(this.dir, `${tag}.sql`), statements.join('--> statement-breakpoint\n'));
    if (options.down) await writeFile(join(this.dir, `${tag}.down.sql`), options.down.join('--> statement-breakpoint\n'));
    // As `drizzle-kit generate --custom` does: the newest snapshot again, chained to it.
    if (options.snapshot) {
      const meta = join(this.dir, 'meta');
      const newest = (await readdir(meta)).filter((n) => n.endsWith('_snapshot.json')).sort().at(-1) ?? '';
      const parent = JSON.parse(await readFile(join(meta, newest), 'utf8')) as { id: string; prevId: string };
      await writeFile(join(meta, `${tag.slice(0, 4)}_snapshot.json`), JSON.stringify({ ...parent, prevId: parent.id, id: randomUUID() }, null, 2));
    }
    await this.writeJournal(journal);
    return tag;
  }

  file(tag: string, suffix = '.sql'): string {
    return join(this.dir, `${tag}${suffix}`);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

import { it } from 'vitest';
import { useTestDatabase } from '../helpers/test-db.ts';
import { translateDbError } from '../../src/db/translate-error.ts';

const t = useTestDatabase();
it('explore', async () => {
  const s = t.client.sql;
  console.log(await t.admin`SELECT conrelid::regclass::text AS tbl, conname, contype, conkey FROM pg_constraint WHERE conrelid IN ('users'::regclass,'projects'::regclass) ORDER BY 1,2`);
  console.log(await t.admin`SELECT tgname, tgrelid::regclass::text, tgfoid::regproc::text FROM pg_trigger WHERE tgrelid = 'users'::regclass ORDER BY tgname`);
  try { await s`INSERT INTO users (email, name) VALUES (NULL, 'x')`; } catch (e) { console.log({...(e as object)}, (e as Error).message); console.log(translateDbError(e)); }
  const [u] = await s<{id:string}[]>`INSERT INTO users (email, name) VALUES ('a@x.io', 'A') RETURNING id`;
  const [p] = await s<{id:string}[]>`INSERT INTO projects (name, created_by) VALUES ('p', ${u!.id}) RETURNING id`;
  await s`INSERT INTO document_versions (project_id, document_type, version, content, created_by) VALUES (${p!.id}, 'about', 1, 'c', ${u!.id})`;
  await s`INSERT INTO exports (project_id, format, created_by) VALUES (${p!.id}, 'pdf', ${u!.id})`;
  try { await s`UPDATE document_versions SET content = 'z'`; } catch (e) { console.log({...(e as object)}); console.log(translateDbError(e), translateDbError(e).columns); }
  try { await s`DELETE FROM users WHERE id = ${u!.id}`; console.log('deleted ok', await s`SELECT count(*) FROM document_versions`); } catch (e) { console.log({...(e as object)}); console.log(translateDbError(e)); }
  try { await s`INSERT INTO projects (name, created_by, status) VALUES ('p', ${u!.id}, 'bogus')`; } catch (e) { console.log({...(e as object)}); console.log(translateDbError(e)); }
});

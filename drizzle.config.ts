import { defineConfig } from 'drizzle-kit';
import { localLayout, resolveDataDir } from './src/local/layout.ts';
import { localUrl } from './src/local/state.ts';
import { JeexDbError } from './src/core/errors.ts';

// DATABASE_URL wins; otherwise the local cluster that `jeex-db up` started (as the migrator
// role, which owns the schema), so `npx drizzle-kit migrate` and `npm run studio` just work.
const url = process.env.DATABASE_URL ?? localMigratorUrl();

/** drizzle-kit prints only an error's message: a damaged state.json or secrets.json says its fix there too. */
function localMigratorUrl(): string | undefined {
  try {
    return localUrl(localLayout(resolveDataDir()), 'migrator');
  } catch (error) {
    if (error instanceof JeexDbError && error.hint) throw new Error(`[${error.code}] ${error.message}\nfix: ${error.hint}`);
    throw error;
  }
}

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema/index.ts',
  out: './drizzle',
  strict: true,
  verbose: true,
  ...(url ? { dbCredentials: { url } } : {}),
});

import { defineConfig } from 'drizzle-kit';
import { localLayout } from './src/local/layout.ts';
import { localUrl } from './src/local/state.ts';

// DATABASE_URL wins; otherwise the local cluster that `jeex-db up` started (as the migrator
// role, which owns the schema), so `npx drizzle-kit migrate` and `npm run studio` just work.
const url = process.env.DATABASE_URL ?? localUrl(localLayout(process.env.JEEX_DB_DATA_DIR), 'migrator');

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema/index.ts',
  out: './drizzle',
  strict: true,
  verbose: true,
  ...(url ? { dbCredentials: { url } } : {}),
});

// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'drizzle/', '.jeex-db/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    // Every client goes through connect() (src/db/connect.ts): it reads sslmode/sslrootcert the
    // way libpq does; postgres() alone would send sslrootcert to the server and verify nothing.
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/db/connect.ts', 'src/db/create-db.ts', 'src/db/guarded-socket.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'postgres',
              importNames: ['default'],
              allowTypeImports: true,
              message: 'Open clients with connect() from src/db/connect.ts (it understands sslmode and sslrootcert).',
            },
          ],
        },
      ],
    },
  },
  {
    // Library code never prints or exits: only the CLI edge does (STYLE.md, "Shape").
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Return a result or throw a JeexDbError; only src/cli sets the exit code.' },
        { object: 'process', property: 'stdout', message: 'Library code does not print; return data to the CLI.' },
      ],
    },
  },
  {
    files: ['eslint.config.js', '.dependency-cruiser.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
    // CommonJS config files load with require() (.dependency-cruiser.cjs reads package.json).
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);

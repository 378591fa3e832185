// The layers of src/, bottom first (docs/ARCHITECTURE.md draws them, and a unit test holds the
// two together). A module may import its own layer and the layers below it, never one above.
const LAYERS = [
  'core',
  'platform',
  'crypto',
  'local',
  'schema',
  'db',
  'migrate',
  'cluster',
  'ops/tls',
  'ops/pooler',
  'ops/roles',
  'ops/audit',
  'ops/keys',
  'ops/backup',
  'ops/ha',
  'ops/diagnose',
  'ops/telemetry',
  'ops/health',
  'ops/alerts',
  'ops/index.ts',
  'stack',
  'serve',
  'index.ts',
  'cli',
];

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const pathOf = (layer) => (layer.endsWith('.ts') ? `^src/${escapeRegExp(layer)}$` : `^src/${escapeRegExp(layer)}/`);

// The public entry points: the sources of package.json `exports` (./dist/ops/index.js is
// src/ops/index.ts). The CLI imports only these (and itself), as a service would.
const ENTRY_POINTS = Object.values(require('./package.json').exports).map((target) => target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'));
const ENTRY_PATHS = ENTRY_POINTS.map((file) => `^${escapeRegExp(file)}$`);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `upward-from-${layer.replace(/[/.]/g, '-')}`,
      comment: `src/${layer} may import only the layers below it (docs/ARCHITECTURE.md): ${LAYERS.slice(i + 1).join(', ')} are above`,
      severity: 'error',
      from: { path: pathOf(layer) },
      to: { path: LAYERS.slice(i + 1).map(pathOf) },
    })),
    {
      name: 'cli-imports-entry-points',
      comment: `src/cli is an edge over the public entry points (${ENTRY_POINTS.join(', ')}): import what a command needs from one of them (export it there if it is missing), not from a module behind it.`,
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: ['^src/cli/', ...ENTRY_PATHS] },
    },
    {
      name: 'cli-commands-independent',
      comment: 'A command file does not import another: what two commands share is library code (behind an entry point) or a helper of src/cli (flags, output).',
      severity: 'error',
      from: { path: '^src/cli/commands/' },
      to: { path: '^src/cli/commands/' },
    },
    {
      name: 'entry-points-are-for-users',
      comment:
        'Inside the library, import the module itself, not an entry point: entry points re-export for services and the CLI, and an import of one loads all it re-exports. (src/schema/index.ts is also the Drizzle schema object createDb and drizzle-kit take whole.)',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/cli/', ...ENTRY_PATHS] },
      to: { path: ENTRY_PATHS, pathNot: '^src/schema/index\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'Modules that import each other (directly or through others) are one module split badly.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-in-a-layer',
      comment: `Every file of src/ belongs to a layer (${LAYERS.join(', ')}): add new folders to LAYERS and to docs/ARCHITECTURE.md.`,
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map(pathOf) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};

// For the test that holds docs/ARCHITECTURE.md to these layers (not a dependency-cruiser option).
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });

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
  'ops/diagnose',
  'ops/telemetry',
  'ops/health',
  'ops/alerts',
  'stack',
  'serve',
  'index.ts',
  'cli',
];

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const pathOf = (layer) => (layer.endsWith('.ts') ? `^src/${escapeRegExp(layer)}$` : `^src/${escapeRegExp(layer)}/`);

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

import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// docs/ARCHITECTURE.md's table of layers and .dependency-cruiser.cjs (which `npm run lint` runs)
// must name the same layers in the same order, and every folder of src/ must be one of them.
const root = join(import.meta.dirname, '..', '..');
const { LAYERS } = createRequire(import.meta.url)(join(root, '.dependency-cruiser.cjs')) as { LAYERS: string[] };

describe('docs/ARCHITECTURE.md and the lint rule agree on the layers', () => {
  it('the numbered table lists the layers of .dependency-cruiser.cjs, bottom first', async () => {
    const doc = await readFile(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| (\d+) \| `src\/([^`]+?)\/?` \|/gm)].map((m) => ({ n: Number(m[1]), layer: m[2] }));
    expect(rows.map((r) => r.layer)).toEqual(LAYERS);
    expect(rows.map((r) => r.n)).toEqual(LAYERS.map((_, i) => i + 1));
  });

  it('every folder and file directly under src/ and src/ops/ is a layer', async () => {
    const entries = async (dir: string, prefix: string) =>
      (await readdir(join(root, dir), { withFileTypes: true })).filter((e) => e.isDirectory() || e.name.endsWith('.ts')).map((e) => `${prefix}${e.name}`);
    const found = [...(await entries('src', '')).filter((name) => name !== 'ops'), ...(await entries('src/ops', 'ops/'))];
    for (const name of found) expect(LAYERS, `src/${name} is in no layer: add it to LAYERS in .dependency-cruiser.cjs and to docs/ARCHITECTURE.md`).toContain(name);
  });
});

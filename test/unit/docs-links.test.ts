import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The README, CONTRIBUTING.md and docs/ link to each other by file and heading; a heading that
// was renamed or a file that moved leaves a link to nowhere. This follows every relative link.
const root = fileURLToPath(new URL('../../', import.meta.url));
const documents = ['README.md', 'CONTRIBUTING.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

/** The text outside fenced code blocks. */
const prose = (text: string): string => text.replace(/^```[\s\S]*?^```/gm, '');

/** GitHub's anchors for a document's headings (lower case, punctuation dropped, spaces to hyphens, repeats numbered). */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const match of prose(text).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = (match[1] as string).trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

describe('links between the documents', () => {
  it('every relative link names a file that exists, and a heading in it', () => {
    const broken: string[] = [];
    for (const document of documents) {
      const text = readFileSync(join(root, document), 'utf8');
      for (const match of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        const [file = '', anchor] = target.split('#');
        const path = file === '' ? join(root, document) : join(dirname(join(root, document)), file);
        if (!existsSync(path)) {
          broken.push(`${document}: ${target} (no file ${relative(root, path)})`);
          continue;
        }
        if (anchor !== undefined && path.endsWith('.md') && !anchors(readFileSync(path, 'utf8')).has(anchor)) {
          broken.push(`${document}: ${target} (no heading #${anchor} in ${relative(root, path)})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("the README's documentation index lists every document in docs/", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const index = readme.slice(readme.indexOf('\n## Documentation\n'));
    const missing = documents.filter((document) => document.startsWith('docs/') && !index.includes(`](${document})`));
    expect(missing, 'add them to the README, "## Documentation"').toEqual([]);
  });
});

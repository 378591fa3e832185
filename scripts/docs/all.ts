/**
 * `npm run docs`: write every generated document (docs/cli.md, docs/configuration.md, ...).
 * test/unit/generated-docs.test.ts fails when one of them differs from what this writes.
 */
import { GENERATED_DOCS } from './list.ts';
import { write } from './generated.ts';

for (const doc of GENERATED_DOCS) {
  const changed = await write(doc);
  process.stdout.write(`${doc.target}: ${changed ? 'written' : 'up to date'}\n`);
}

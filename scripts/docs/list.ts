import { cliDoc } from './cli.ts';
import { configurationDoc } from './configuration.ts';
import { renderErrorsDoc } from './errors.ts';
import type { GeneratedDoc } from './generated.ts';

/** Every document generated from the code; `npm run docs` writes them all, a test checks them. */
const errorsDoc: GeneratedDoc = { target: 'docs/errors.md', script: 'scripts/docs/errors.ts', render: () => Promise.resolve(renderErrorsDoc()) };

export const GENERATED_DOCS: readonly GeneratedDoc[] = [cliDoc, configurationDoc, errorsDoc];

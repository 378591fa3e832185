import { cliDoc } from './cli.ts';
import { configurationDoc } from './configuration.ts';
import type { GeneratedDoc } from './generated.ts';

/** Every document generated from the code; `npm run docs` writes them all, a test checks them. */
export const GENERATED_DOCS: readonly GeneratedDoc[] = [cliDoc, configurationDoc];

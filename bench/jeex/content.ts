/**
 * Realistic JEEX payloads from a seeded generator: markdown documents (2-50 KiB, log-normal),
 * agent input/output JSON of a few KiB, export manifests. Text is made of paragraphs drawn from a
 * pool, so it compresses like prose (pglz gets about 2:1), not like `repeat('x', n)`.
 */
import { randomInt, randomLogNormal } from '../random.ts';

const WORDS = (
  'the a of to and in for is on that with as by this be are from it at an or will can user users project projects ' +
  'document documents specification architecture plan service services data database request response agent agents ' +
  'step steps wizard export exports version versions review score scores model models api apis endpoint endpoints ' +
  'latency throughput cache queue worker workers schema table tables index indexes query queries migration backup ' +
  'restore pool connection connections transaction transactions event events message messages payload payloads ' +
  'feature features requirement requirements acceptance criteria risk risks milestone milestones team teams release ' +
  'deploy deployment monitor monitoring alert alerts metric metrics log logs trace traces error errors retry retries ' +
  'timeout timeouts limit limits budget performance security privacy encryption key keys token tokens session ' +
  'sessions login account accounts billing invoice invoices report reports dashboard dashboards search filter sort ' +
  'page pages mobile web desktop browser server client clients storage file files upload download markdown pdf ' +
  'must should may never always each every when then after before while until unless because so however therefore'
).split(' ');

/** Paragraph and heading pools for one seed; documents are assembled from them. */
export class TextSource {
  private readonly paragraphs: string[] = [];
  private readonly headings: string[] = [];

  constructor(private readonly random: () => number) {
    for (let i = 0; i < 2000; i++) this.paragraphs.push(this.sentenceRun(randomInt(random, 200, 900)));
    for (let i = 0; i < 300; i++) this.headings.push(this.words(randomInt(random, 2, 6)));
  }

  private words(count: number): string {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(WORDS[Math.floor(this.random() * WORDS.length)] ?? 'x');
    const text = out.join(' ');
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  private sentenceRun(chars: number): string {
    let text = '';
    while (text.length < chars) text += `${this.words(randomInt(this.random, 6, 18))}. `;
    return text.trimEnd();
  }

  /** Plain text of about `chars` characters (for JSON fields). */
  text(chars: number): string {
    let text = '';
    while (text.length < chars) text += `${this.paragraphs[Math.floor(this.random() * this.paragraphs.length)] ?? ''} `;
    return text.slice(0, chars);
  }

  /** A markdown document of exactly `bytes` characters (ASCII): headings, paragraphs, lists. */
  markdown(bytes: number, title: string): string {
    const parts = [`# ${title}\n`];
    let length = parts[0]?.length ?? 0;
    while (length < bytes) {
      const roll = this.random();
      const part =
        roll < 0.15
          ? `\n## ${this.headings[Math.floor(this.random() * this.headings.length)] ?? ''}\n`
          : roll < 0.3
            ? `\n${Array.from({ length: randomInt(this.random, 2, 6) }, () => `- ${this.words(randomInt(this.random, 3, 12))}`).join('\n')}\n`
            : `\n${this.paragraphs[Math.floor(this.random() * this.paragraphs.length)] ?? ''}\n`;
      parts.push(part);
      length += part.length;
    }
    return parts.join('').slice(0, bytes);
  }
}

const KiB = 1024;

/** A document size: log-normal around 6 KiB, 2 to 50 KiB. */
export function documentBytes(random: () => number): number {
  return Math.round(randomLogNormal(random, 6 * KiB, 0.8, 2 * KiB, 50 * KiB));
}

export const DOCUMENT_TYPES = ['about', 'specs', 'architecture', 'plan'] as const;
export const AGENT_TYPES = ['product_manager', 'architect', 'planner', 'reviewer'] as const;
export const EXPORT_FORMATS = ['markdown_zip', 'pdf'] as const;

/** What an agent was asked: the user's request and excerpts of the documents (~1-3 KiB). */
export function agentInput(text: TextSource, random: () => number, step: number): Record<string, unknown> {
  return {
    step,
    language: 'en',
    prompt: text.text(Math.round(randomLogNormal(random, 700, 0.5, 200, 2500))),
    context: DOCUMENT_TYPES.slice(0, 1 + Math.floor(random() * 4)).map((type) => ({
      type,
      version: randomInt(random, 1, 4),
      excerpt: text.text(randomInt(random, 100, 400)),
    })),
    options: { temperature: 0.2, maxTokens: 4096, stream: false },
  };
}

/** What an agent answered: a summary, sections and token counts (~2-5 KiB). */
export function agentOutput(text: TextSource, random: () => number): Record<string, unknown> {
  return {
    summary: text.text(randomInt(random, 200, 600)),
    sections: Array.from({ length: randomInt(random, 2, 5) }, (_, i) => ({
      title: `Section ${i + 1}`,
      body: text.text(Math.round(randomLogNormal(random, 500, 0.5, 150, 1500))),
    })),
    usage: { promptTokens: randomInt(random, 500, 4000), completionTokens: randomInt(random, 200, 2500) },
    model: 'jeex-agent-2026-01',
  };
}

/** An export's manifest: the files it bundles (~0.5 KiB). */
export function exportManifest(random: () => number): Record<string, unknown> {
  return {
    files: DOCUMENT_TYPES.map((type) => ({
      path: `${type}.md`,
      version: randomInt(random, 1, 4),
      bytes: documentBytes(random),
      sha256: Array.from({ length: 4 }, () => Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0')).join('').padEnd(64, '0'),
    })),
    generator: 'jeex-export/1',
  };
}

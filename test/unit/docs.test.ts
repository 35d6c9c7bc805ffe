// The project's documentation stands on its own: a clone has no ../shared/, so every link in
// README.md and docs/ must reach a file of the checkout, and the command line has its own page.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../tools/harness/env.js';

const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => join('docs', f))].filter((p) => p.endsWith('.md'));

describe('documentation', () => {
  it('links only to files of the checkout', () => {
    const broken: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(ROOT, page), 'utf8');
      // [text](target) and `path` mentions of other pages; anchors and web addresses aside.
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        if (!existsSync(resolve(ROOT, dirname(page), target!))) broken.push(`${page} -> ${target}`);
      }
      if (text.includes('../shared/')) broken.push(`${page} -> ../shared/ (not in a clone)`);
    }
    expect(broken).toEqual([]);
  });

  it('has a page for the command line that names every command the CLI registers, linked from the README', async () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('docs/cli.md');
    const page = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');
    const { COMMANDS } = await import('../../src/cli/full.js');
    const missing = COMMANDS.map((c) => c.name).filter((name) => !page.includes(`pitr ${name}`));
    expect(missing).toEqual([]);
  });
});

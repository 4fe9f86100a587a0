// The tables of an eval run directory, rebuilt from its prediction lines exactly as `pcomp merge`
// and `pcomp report` rebuild them, so a table never depends on which command wrote it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Benchmark } from '../../datasets/registry.js';
import { rebuildScoreTables } from '../../results/score-run.js';
import { officialScorer, longbenchCategories } from '../../results/official-scorer.js';

export interface WrittenTables {
  files: string[];
  markdown: string;
}

export function writeTables(dir: string, benchmark: Benchmark): WrittenTables {
  const categories = benchmark === 'infinitebench' ? undefined : longbenchCategories();
  rebuildScoreTables(dir, officialScorer, { categories });
  const files = ['scores.md', 'scores.csv', 'scores.arrow'].map((f) => join(dir, f));
  return { files, markdown: readFileSync(files[0]!, 'utf8') };
}

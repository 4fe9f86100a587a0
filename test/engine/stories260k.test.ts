// A real pretrained Llama (Karpathy's stories260K): `pcomp generate` from BOS reproduces upstream
// llama2.c's greedy 200-token output byte for byte.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { hasStories, repoRoot, SKIP_SHARED, stories260K } from './helpers.js';

describe('stories260K', () => {
  if (!hasStories) {
    it.skip(SKIP_SHARED, () => {});
    console.warn(SKIP_SHARED);
    return;
  }
  it('pcomp generate --prompt "" --max-new-tokens 200 prints golden_greedy_200.txt exactly', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/pcomp.js'), 'generate', '--model', stories260K, '--prompt', '', '--max-new-tokens', '200'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const golden = readFileSync(path.join(stories260K, '../golden_greedy_200.txt'), 'utf8');
    expect(r.stdout).toBe(golden);
  });
});

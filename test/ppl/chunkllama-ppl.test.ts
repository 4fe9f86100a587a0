// `pcomp ppl -c chunkllama` on stories260K (trained on 512 tokens; DCA's defaults give chunks of
// 384 - 32 = 352 tokens) and the bundled stories text: within one chunk ChunkLlama is full attention
// (the same perplexity), and at 2K tokens, 4x the trained window, its perplexity stays below full
// attention's plain extrapolation (measured 7.29 vs 12.16, 2026-12-04, this command, dev machine).
// Skips when ../shared (the real model) is absent.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv, hasStories, pcomp, readPplCsv, stories260K, tempRoot } from './helpers.js';

describe.skipIf(!hasStories)('pcomp ppl -c chunkllama on stories260K', () => {
  it('equals full attention within one chunk and extrapolates to 2K tokens', async () => {
    if (!hasStories) return;
    const root = tempRoot('pcomp-ppl-dca-');
    const out = path.join(root, 'run');
    const run = await pcomp(['ppl', '--model', stories260K, '--data', 'stories', '--len', '256,2k', '--config', 'full,chunkllama',
      '--samples', '1', '--out', out, '--offline', '--quiet'], cliEnv(path.join(root, 'cache')));
    expect(run.code, run.stderr).toBe(0);
    const csv = readPplCsv(out);
    const [f256, d256, f2k, d2k] = ['full/256', 'chunkllama/256', 'full/2048', 'chunkllama/2048'].map((k) => csv.get(k)!);
    expect(Math.abs(d256!.ppl - f256!.ppl) / f256!.ppl).toBeLessThan(1e-3);
    expect(d2k!.tokens).toBe(f2k!.tokens);
    expect(d2k!.ppl).toBeLessThan(f2k!.ppl);
    expect(d2k!.ppl).toBeLessThan(2 * d256!.ppl);
  }, 300_000);
});

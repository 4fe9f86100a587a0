// On the real stories260K (trained on 512 tokens), a ~4K-token document: ParallelComp's perplexity
// on the final tokens is lower than full attention's over all 4K positions (the paper's Table 3
// comparison, "base" row). Skips when ../shared is absent.
import { describe, expect, it } from 'vitest';
import { hasStories, SKIP_SHARED, stories260K } from '../engine/helpers.js';
import { measure, sampleStories } from './stories-ppl.js';

if (!hasStories) console.warn(`SKIPPED stories260K perplexity test: ${SKIP_SHARED}`);

describe.skipIf(!hasStories)('stories260K perplexity at 4K tokens', () => {
  it('parallelcomp < full attention on the last 128 tokens', async () => {
    const doc = sampleStories(stories260K, 4096);
    const r = await measure(stories260K, doc, { evalLength: 128, questionLength: 32 }, {
      parallelcomp: ['parallelcomp', []],
      full: ['full', ['full.maxTokens=100000']],
    });
    console.log(`stories260K ppl, last 128 of 4096 tokens: parallelcomp ${r.parallelcomp!.ppl.toFixed(3)}, full ${r.full!.ppl.toFixed(3)}`);
    expect(r.parallelcomp!.ppl).toBeLessThan(r.full!.ppl);
    expect(r.parallelcomp!.ppl).toBeLessThan(20); // in the range of the model's in-window perplexity, not a degenerate value
  }, 300_000);
});

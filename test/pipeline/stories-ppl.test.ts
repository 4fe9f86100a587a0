// On the real stories260K (trained on 512 tokens), a ~4K-token document: ParallelComp's perplexity
// on the final tokens is lower than full attention's over all 4K positions (the paper's Table 3
// comparison, "base" row). Skips when ../shared is absent.
import { describe, expect, it } from 'vitest';
import { EngineModel } from '../../engine/index.js';
import { referencePipeline } from '../oracle/policies/pipeline.js';
import { hasStories, SKIP_SHARED, stories260K } from '../engine/helpers.js';
import { config, engineRun } from './helpers.js';
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

  it('the engine makes the reference pipeline\'s decisions on the real weights', async () => {
    const doc = sampleStories(stories260K, 4096);
    const chunks = [0, 1, 2, 3, 4].map((i) => [1, ...doc.slice(1 + i * 90, 1 + (i + 1) * 90)]);
    const sample = { chunks, question: doc.slice(500, 516), maxNew: 8, stopIds: [], evaluate: doc.slice(516, 540) };
    const model = await EngineModel.load(stories260K);
    try {
      for (const [preset, sets] of [
        ['parallelcomp', []],
        ['parallelcomp-kv', ['kvEvict.capacity=40']],
        ['parallelcomp-calib', ['calib.rules=middle:1-2,recent:3-4,sink:5-5', 'calib.sinkSize=20', 'calib.recentSize=20', 'calib.threshold=0.05']],
      ] as [string, string[]][]) {
        const cfg = config(preset, sets);
        const ref = referencePipeline(stories260K, sample, cfg);
        const got = await engineRun(model, sample, cfg, sample.evaluate);
        got.trace.chunkScores.forEach((v, i) => expect(Math.abs(v - ref.chunkScores[i]!) / ref.chunkScores[i]!).toBeLessThan(1e-5));
        expect(got.trace.keptChunks).toEqual(ref.keptChunks);
        expect(got.trace.kvKept).toEqual(ref.kvKept);
        expect(got.trace.finalCache).toEqual(ref.finalCache);
        expect(Array.from(got.tokens)).toEqual(ref.generated);
        got.nll.forEach((v, i) => expect(Math.abs(v - ref.evaluateNll[i]!)).toBeLessThan(1e-4));
      }
    } finally {
      model.free();
    }
  }, 300_000);
});

// The engine's pipeline against the float64 reference pipeline (test/oracle/policies/pipeline.ts) on
// seeded random tiny models: for each stage and each knob that changes a decision, the same chunk
// scores (1e-5 relative), the same kept chunks, the same kept token sets per layer and cache set
// after KV eviction and after calibration, the same positions, the same greedy tokens, and final
// logits within f32 tolerance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineModel } from '../../engine/index.js';
import { referencePipeline, type PipelineSample } from '../oracle/policies/pipeline.js';
import { tempDir } from '../engine/helpers.js';
import { config, engineRun, makeSample, tinyModel, topLogitError } from './helpers.js';

const tmp = tempDir('pcomp-pipeline-ref-');
const dirs: Record<string, string> = {};
const models: Record<string, EngineModel> = {};
const sample = makeSample([20, 24, 18, 22]);
const one: PipelineSample = { ...sample, chunks: [sample.chunks[1]!] };

beforeAll(async () => {
  dirs.gqa = tinyModel(tmp.dir, 'gqa');
  dirs.mha = tinyModel(tmp.dir, 'mha', { numKvHeads: 4, seed: 9 });
  // Issue 19's families: Qwen3 (q/k norms, head_dim 16 with hidden 32 and 4 heads) with yarn.
  dirs.qwen3yarn = tinyModel(tmp.dir, 'qwen3yarn', {
    architecture: 'Qwen3ForCausalLM', headDim: 16, seed: 10,
    ropeScaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32, mscale: 1, mscale_all_dim: 0.5 },
  });
  // Phi-3: fused projections, 12 of 16 dims rotated, LongRoPE with a 32-token original window.
  dirs.phi3 = tinyModel(tmp.dir, 'phi3', {
    architecture: 'Phi3ForCausalLM', numHeads: 2, numKvHeads: 1, seed: 12, partialRotaryFactor: 0.75, originalMaxPositionEmbeddings: 32,
    ropeScaling: { rope_type: 'longrope', short_factor: [1, 1.1, 1.2, 1.3, 1.4, 1.5], long_factor: [1, 2, 3, 4, 5, 6] },
  });
  for (const [k, d] of Object.entries(dirs)) models[k] = await EngineModel.load(d);
});
afterAll(() => {
  for (const m of Object.values(models)) m.free();
  tmp.cleanup();
});

function relClose(a: number[], b: number[], tol: number) {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i]!) / Math.max(Math.abs(b[i]!), 1e-12)).toBeLessThanOrEqual(tol));
}

async function compare(preset: string, sets: string[] = [], s: PipelineSample = sample, model = 'gqa') {
  const cfg = config(preset, sets);
  const ref = referencePipeline(dirs[model]!, s, cfg);
  const got = await engineRun(models[model]!, s, cfg, s.evaluate);
  const t = got.trace;
  relClose(t.chunkScores, ref.chunkScores, 1e-5);
  expect(t.keptChunks).toEqual(ref.keptChunks);
  if (cfg['chunk.enabled']) expect(t.kvKept).toEqual(ref.kvKept);
  expect(t.globalCache).toEqual(ref.globalCache);
  expect(t.finalCache).toEqual(ref.finalCache);
  expect(t.questionStart).toBe(ref.questionStart);
  expect(t.questionPositions).toEqual(ref.questionPositions);
  expect(topLogitError(got, ref)).toBeLessThan(1e-4);
  expect(Array.from(got.tokens)).toEqual(ref.generated);
  expect(t.generatedPositions).toEqual(ref.generatedPositions);
  expect(got.nll.length).toBe(ref.evaluateNll.length);
  got.nll.forEach((v, i) => expect(Math.abs(v - ref.evaluateNll[i]!)).toBeLessThan(1e-4));
  return { ref, got };
}

// Calibration settings that find outliers on 3-layer models with ~90-entry caches.
const calib = ['calib.rules=middle:1-1,recent:2-2,sink:3-3', 'calib.sinkSize=6', 'calib.recentSize=6', 'calib.threshold=0.04'];

describe('chunk prefill and chunk eviction match the reference', () => {
  it('parallelcomp: scores, top 3 in document order', async () => {
    const { ref } = await compare('parallelcomp');
    expect(ref.keptChunks.length).toBe(3);
  });
  it('retrieval keeps kRetrieval chunks', () => compare('parallelcomp', [], { ...sample, retrieval: true }));
  it('reference-sum score over the last 3 tokens, lowest-score-first order', () =>
    compare('parallelcomp', ['chunkEvict.score=reference-sum', 'chunkEvict.scoreTokens=3', 'chunkEvict.keepOrder=false', 'chunkEvict.k=2']));
  it('waves of 1 and of 3 chunks make the same decisions', async () => {
    await compare('parallelcomp', ['chunk.parallel=1']);
    await compare('parallelcomp', ['chunk.parallel=3', 'chunkEvict.k=2']);
  });
  it('pcw keeps every chunk', () => compare('pcw'));
});

describe('model families (issue 19) match the reference pipeline', () => {
  it('qwen3 + yarn: parallelcomp', () => compare('parallelcomp', [], sample, 'qwen3yarn'));
  it('qwen3 + yarn: calibration and KV eviction, expanded cache (reference)', () =>
    compare('parallelcomp-calib-kv-reference', [...calib, 'kvEvict.capacity=8'], sample, 'qwen3yarn'));
  it('qwen3 + yarn: full attention', () => compare('full', [], one, 'qwen3yarn'));
  it('phi3 partial rotary + longrope: parallelcomp, calibration and KV eviction, full', async () => {
    await compare('parallelcomp', [], sample, 'phi3');
    await compare('parallelcomp-calib-kv', [...calib, 'kvEvict.capacity=8'], sample, 'phi3');
    await compare('full', [], one, 'phi3');
  });
});

describe('perplexity mode matches the reference', () => {
  const evaluate = makeSample([9], 5).chunks[0]!.slice(1);
  it('eval tokens scored after the question, decoding unchanged', async () => {
    const { got } = await compare('parallelcomp-calib-kv', [...calib, 'kvEvict.capacity=8'], { ...sample, evaluate });
    expect(got.nll.length).toBe(8);
    await compare('full', [], { ...one, evaluate });
  });
});

describe('global stage matches the reference', () => {
  it('question after the longest of all chunks', () => compare('parallelcomp', ['global.questionStart=longest-all', 'chunkEvict.k=2']));
  it('BOS rules and keeping the chunk questions', async () => {
    await compare('parallelcomp', ['global.bos=drop-index0']);
    await compare('parallelcomp', ['global.bos=keep-all', 'global.dropChunkQuestion=false']);
  });
  it('question with its own BOS', () => compare('parallelcomp', ['global.questionBos=true']));
});

describe('KV eviction matches the reference', () => {
  it('group-sum, max pool 7', () => compare('parallelcomp-kv', ['kvEvict.capacity=7']));
  it('avg pooling, kernel 3, window 3', () => compare('parallelcomp-kv', ['kvEvict.capacity=9', 'kvEvict.pooling=avg', 'kvEvict.kernel=3', 'kvEvict.window=3']));
  it('expanded heads, reference BOS, sample-min capacity', () =>
    compare('parallelcomp-kv', ['kvEvict.capacity=30', 'kvEvict.gqa=expanded-heads', 'kvEvict.bos=reference', 'kvEvict.capacityRule=sample-min']));
  it('on a model without GQA', () => compare('parallelcomp-kv', ['kvEvict.capacity=6'], sample, 'mha'));
});

describe('calibration matches the reference', () => {
  it('paper mix scaled to 3 layers, group-mean', async () => {
    const { ref } = await compare('parallelcomp-calib', calib);
    const before = ref.globalCache.flat(2).length;
    const after = ref.finalCache.flat(2).filter(([c]) => c >= 0).length;
    expect(after).toBeLessThan(before); // the settings really evict
  });
  it('group-max, all rows, strict edges, no equalising', () =>
    compare('parallelcomp-calib', [...calib, 'calib.gqa=group-max', 'calib.queryRows=0', 'calib.strictEdges=true', 'calib.rules=middle:1-2,sink:3-3']));
  it('expanded heads', () => compare('parallelcomp-calib', [...calib, 'calib.gqa=expanded-heads']));
  it('regions over context and question, by position and bottom-right', async () => {
    await compare('parallelcomp-calib', [...calib, 'calib.regionOver=context-and-question', 'calib.rules=recent:1-3']);
    await compare('parallelcomp-calib', [...calib, 'calib.regionOver=context-and-question', 'calib.rules=recent:1-3', 'calib.reencodeMask=bottom-right']);
  });
  it('with KV eviction', () => compare('parallelcomp-calib-kv', [...calib, 'kvEvict.capacity=8']));
  it('inside each chunk\'s prefill (prefill_1), by position and bottom-right', async () => {
    const { ref } = await compare('parallelcomp-calib', [...calib, 'calib.stage=chunk']);
    // the chunks really lost entries in their own prefill
    const lost = ref.keptChunks.some((c, k) => ref.kvKept[k]!.flat().some((set) => set.length < sample.chunks[c]!.length + sample.question.length));
    expect(lost).toBe(true);
    await compare('parallelcomp-calib', [...calib, 'calib.stage=chunk', 'calib.reencodeMask=bottom-right']);
    await compare('parallelcomp-calib-reference', [...calib, 'calib.stage=chunk', 'calib.rules=sink:1-3']);
  });
});

describe('reference presets match the reference', () => {
  it('parallelcomp-reference and its kv / calib variants', async () => {
    await compare('parallelcomp-reference');
    await compare('parallelcomp-kv-reference', ['kvEvict.capacity=10']);
    await compare('parallelcomp-calib-reference', [...calib, 'calib.rules=sink:1-3']);
    await compare('parallelcomp-calib-kv-reference', [...calib, 'kvEvict.capacity=10', 'calib.rules=middle:2-3']);
  });
});

describe('unchunked baselines match the reference', () => {
  it('full, middle-truncated full', async () => {
    await compare('full', [], one);
    await compare('full', ['full.maxTokens=21'], one);
  });
  it('snapkv', () => compare('snapkv', ['snapkv.capacity=12'], one));
  it('ntk, pi, dynamic-ntk', async () => {
    await compare('ntk', ['rope.factor=3'], one);
    await compare('pi', ['rope.factor=2'], one);
    await compare('dynamic-ntk', ['rope.factor=2'], { ...one, chunks: [makeSample([300]).chunks[0]!] });
  });
  it('yarn: auto factor past the window, an explicit factor with other betas, and under chunks', async () => {
    await compare('yarn', [], { ...one, chunks: [makeSample([300]).chunks[0]!] });
    await compare('yarn', ['rope.factor=3', 'rope.betaFast=8', 'rope.betaSlow=2'], one);
    await compare('parallelcomp', ['rope.scaling=yarn', 'rope.factor=2']);
  });
});

describe('ChunkLlama (attn-dca) matches the reference', () => {
  const dca = ['dca.chunkSize=10', 'dca.localWindow=3']; // chunks of 7 tokens: 28 prompt tokens span 4
  const withEval: PipelineSample = { ...one, evaluate: randomEval(12) };
  it('intra-, successive- and inter-chunk parts over prompt, eval tokens and decoding', async () => {
    await compare('chunkllama', dca, withEval);
    await compare('chunkllama', ['dca.chunkSize=9', 'dca.localWindow=4'], withEval, 'mha');
  });
  it('the successive query position capped at the chunk size (w > 1) and a long prompt', () =>
    compare('chunkllama', ['dca.chunkSize=12', 'dca.localWindow=6'], { ...one, chunks: [makeSample([90]).chunks[0]!] }));
  it('degenerate: one chunk is full attention exactly', async () => {
    const big = ['dca.chunkSize=200', 'dca.localWindow=8'];
    const { got } = await compare('chunkllama', big, withEval);
    const full = await engineRun(models.gqa!, withEval, config('full'), withEval.evaluate);
    expect(Array.from(got.tokens)).toEqual(Array.from(full.tokens));
    got.trace.finalTopLogits.forEach(([id, v], i) => {
      expect(full.trace.finalTopLogits[i]![0]).toBe(id);
      expect(Math.abs(v - full.trace.finalTopLogits[i]![1])).toBeLessThan(1e-4);
    });
    got.nll.forEach((v, i) => expect(Math.abs(v - full.nll[i]!)).toBeLessThan(1e-4));
    const refFull = referencePipeline(dirs.gqa!, withEval, config('full'));
    const refDca = referencePipeline(dirs.gqa!, withEval, config('chunkllama', big));
    refDca.finalLogits.forEach((v, i) => expect(Math.abs(v - refFull.finalLogits[i]!)).toBeLessThan(1e-9));
  });
});

function randomEval(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 3 + ((i * 37 + 11) % 290));
}

// The engine against the float64 oracle (test/oracle/forward.ts, written from transformers'
// modeling_qwen3.py and modeling_rope_utils.py, sharing nothing with the engine) for the families and
// RoPE scalings of issue 19: Qwen3 (per-head q_norm / k_norm before RoPE, head_dim from config and
// different from hidden / heads, attention_bias, tied and untied) and YaRN (default and explicit
// betas, mscale / mscale_all_dim, attention_factor, truncate false) on Llama and Qwen3. Every
// family runs with f32 and bf16 files, one file and sharded, contiguous positions, jumping positions,
// and chunks that reuse positions 0.. in one batch (ParallelComp's prefill) against the oracle run
// on each chunk alone; Qwen3 also decodes greedily through the cache against the oracle.
//
// Bound: 1e-4 of the logit scale (f32 compute against f64), as forward-vs-oracle.test.ts. A bf16
// file's values widen to f32 exactly, and the oracle reads the same values, so the bound holds there.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineModel } from '../../engine/index.js';
import { writeTinyModel, type TinyModelSpec } from '../oracle/model-writer.js';
import { referenceGreedy, referenceLogits } from '../oracle/forward.js';
import { inverseFrequencies } from '../oracle/rope.js';
import { maxRelError, seededTokens, tempDir } from './helpers.js';

const tmp = tempDir('pcomp-families-');
afterAll(() => tmp.cleanup());
const F32_BOUND = 1e-4;

const qwen3: TinyModelSpec = { architecture: 'Qwen3ForCausalLM', numHeads: 4, numKvHeads: 2, headDim: 16 };
const yarn = { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64 } as const;

// Phi-3: head_dim 16 (hidden 32, 2 heads), 12 of 16 dims rotated (partial_rotary_factor 0.75), LongRoPE
// with an original window of 64 in a 256 window: contiguous positions stay below it (short factors),
// jumping ones pass it (long factors).
const phi3: TinyModelSpec = { architecture: 'Phi3ForCausalLM', numHeads: 2, numKvHeads: 1 };
const longrope = (pairs: number, extra: Record<string, unknown> = {}) => ({
  rope_type: 'longrope' as const,
  short_factor: Array.from({ length: pairs }, (_, i) => 1 + 0.1 * i),
  long_factor: Array.from({ length: pairs }, (_, i) => 1 + 1.5 * i),
  ...extra,
});
const phi3Long: TinyModelSpec = { ...phi3, partialRotaryFactor: 0.75, originalMaxPositionEmbeddings: 64, ropeScaling: longrope(6) };

const cases: [string, TinyModelSpec][] = [
  ['phi3-f32', { ...phi3, seed: 42, numHeads: 4, numKvHeads: 2 }],
  ['phi3-partial-longrope-f32', { ...phi3Long, seed: 43 }],
  ['phi3-partial-longrope-bf16-sharded', { ...phi3Long, seed: 44, dtype: 'bf16', shards: 3, numLayers: 3 }],
  ['phi3-su-attention-factor-tied-half-rotary', {
    ...phi3, seed: 45, tieWordEmbeddings: true, partialRotaryFactor: 0.5, originalMaxPositionEmbeddings: 64,
    ropeScaling: { ...longrope(4), rope_type: 'su', attention_factor: 1.2 },
  }],
  ['qwen3-f32', { ...qwen3, seed: 31 }],
  ['qwen3-bf16-file', { ...qwen3, seed: 32, dtype: 'bf16' }],
  ['qwen3-sharded', { ...qwen3, seed: 33, shards: 3, numLayers: 3 }],
  ['qwen3-tied-mha-headdim-8', { ...qwen3, seed: 34, tieWordEmbeddings: true, numKvHeads: 4, headDim: 8 }],
  ['qwen3-attention-bias-bf16-sharded', { ...qwen3, seed: 35, attentionBias: true, dtype: 'bf16', shards: 2 }],
  ['llama-yarn-defaults', { seed: 36, maxPositionEmbeddings: 256, ropeScaling: { ...yarn } }],
  ['llama-yarn-bf16-sharded', { seed: 37, dtype: 'bf16', shards: 2, ropeScaling: { ...yarn, factor: 8 } }],
  ['qwen3-yarn-betas-mscale', {
    ...qwen3, seed: 38,
    ropeScaling: { ...yarn, beta_fast: 16, beta_slow: 2, mscale: 0.707, mscale_all_dim: 1 },
  }],
  ['qwen3-yarn-attention-factor-untruncated', {
    ...qwen3, seed: 39, ropeScaling: { ...yarn, attention_factor: 1.3, truncate: false },
  }],
];

async function withModel<T>(dir: string, f: (m: EngineModel) => Promise<T>): Promise<T> {
  const model = await EngineModel.load(dir);
  try {
    return await f(model);
  } finally {
    model.free();
  }
}

describe('model families vs float64 oracle', () => {
  for (const [name, spec] of cases) {
    it(`${name}: contiguous, jumping and reused positions within ${F32_BOUND}`, async () => {
      const { dir } = writeTinyModel(`${tmp.dir}/${name}`, spec);
      await withModel(dir, async (model) => {
        const V = model.info.vocab_size;
        const tokens = seededTokens(60, V, spec.seed ?? 1);
        const got = await model.logits([{ tokens }], 'all');
        const ref = referenceLogits(dir, Array.from(tokens));
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, maxRelError(got[i]!, ref[i]!));
        expect(worst).toBeLessThan(F32_BOUND);

        // Jumping positions, past the original window where yarn's interpolation matters.
        const positions = Int32Array.from({ length: 24 }, (_, i) => 50 + 7 * i);
        const jumped = await model.logits([{ tokens: tokens.subarray(0, 24), positions }], 'all');
        const refJ = referenceLogits(dir, Array.from(tokens.subarray(0, 24)), Array.from(positions));
        for (let i = 0; i < refJ.length; i++) expect(maxRelError(jumped[i]!, refJ[i]!)).toBeLessThan(F32_BOUND);

        // Chunks reusing positions 0.. in one batch, each against the oracle run on it alone.
        const chunks = [seededTokens(17, V, 3), seededTokens(9, V, 4), seededTokens(25, V, 5)];
        const batch = await model.logits(chunks.map((t) => ({ tokens: t, positions: Int32Array.from(t, (_, i) => i) })), 'all');
        let row = 0;
        for (const c of chunks) {
          const r = referenceLogits(dir, Array.from(c));
          for (let i = 0; i < r.length; i++, row++) expect(maxRelError(batch[row]!, r[i]!)).toBeLessThan(F32_BOUND);
        }
      });
    });
  }

  it('phi3 longrope: greedy decoding crosses the original window (short, then long factors) as the oracle does', async () => {
    const { dir } = writeTinyModel(`${tmp.dir}/phi3-greedy`, { ...phi3Long, seed: 46, weightStd: 0.3 });
    await withModel(dir, async (model) => {
      const prompt = seededTokens(50, model.info.vocab_size, 8);
      const ref = referenceGreedy(dir, Array.from(prompt), 30, { stopIds: [] });
      const got = await model.generate(prompt, { maxNewTokens: 30, stopIds: [] });
      expect(Array.from(got.tokens)).toEqual(ref);
    });
  });

  it('transformers 5 spelling: rope_parameters (rope_theta inside) instead of rope_scaling', async () => {
    const { dir } = writeTinyModel(`${tmp.dir}/rope-parameters`, { ...qwen3, seed: 41 });
    const file = `${dir}/config.json`;
    const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    delete c.rope_scaling;
    delete c.rope_theta;
    c.rope_parameters = { ...yarn, rope_theta: 5000, beta_fast: 8 };
    writeFileSync(file, JSON.stringify(c));
    await withModel(dir, async (model) => {
      const tokens = seededTokens(40, model.info.vocab_size, 7);
      const positions = Int32Array.from(tokens, (_, i) => 3 * i);
      const got = await model.logits([{ tokens, positions }], 'all');
      const ref = referenceLogits(dir, Array.from(tokens), Array.from(positions));
      for (let i = 0; i < ref.length; i++) expect(maxRelError(got[i]!, ref[i]!)).toBeLessThan(F32_BOUND);
    });
  });

  it('qwen3 with yarn: greedy decoding through the cache equals the oracle', async () => {
    const spec: TinyModelSpec = { ...qwen3, seed: 40, weightStd: 0.3, ropeScaling: { ...yarn, mscale: 1, mscale_all_dim: 0.5 } };
    const { dir } = writeTinyModel(`${tmp.dir}/qwen3-greedy`, spec);
    await withModel(dir, async (model) => {
      const prompt = seededTokens(6, model.info.vocab_size, 6);
      const ref = referenceGreedy(dir, Array.from(prompt), 24, { stopIds: [] });
      const got = await model.generate(prompt, { maxNewTokens: 24, stopIds: [] });
      expect(Array.from(got.tokens)).toEqual(ref);
    });
  });

  it('the oracle yarn frequencies: pairs below the ramp keep theirs, pairs above are divided by factor', () => {
    // head_dim 16, theta 10000, window 64, betas 32 / 1: correction dims 16 ln(64 / (r 2pi)) / (2 ln 10^4)
    // = 0.2018... (r = 32) and 2.0121... (r = 1), truncated to low 0, high 3.
    const rope = { theta: 10000, headDim: 16, maxPositionEmbeddings: 256,
      scaling: { type: 'yarn' as const, factor: 4, originalMaxPositionEmbeddings: 64, betaFast: 32, betaSlow: 1, truncate: true, attentionFactor: 1 } };
    const inv = inverseFrequencies(rope, 1);
    const base = (i: number) => 1 / 10000 ** ((2 * i) / 16);
    expect(inv[0]).toBeCloseTo(base(0), 12);
    expect(inv[1]).toBeCloseTo(base(1) * (2 / 3) + (base(1) / 4) * (1 / 3), 12);
    expect(inv[2]).toBeCloseTo(base(2) * (1 / 3) + (base(2) / 4) * (2 / 3), 12);
    for (let i = 3; i < 8; i++) expect(inv[i]).toBeCloseTo(base(i) / 4, 12);
  });
});

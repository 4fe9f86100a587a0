// bf16 weight storage (PCOMP_WEIGHTS, engine/src/model.h) against f32 storage and the float64
// oracle, on seeded random models whose shapes reach the SIMD kernels' tails (rows past the packed
// threshold, head_dim 8 and 16, GQA).
//
// Tolerances, and why:
// - A bf16 file holds the same values whichever way it is stored (bf16 widens to f32 exactly), so
//   bf16 and f32 storage differ only in summation order: the f32 bound, 1e-4 relative to the logit
//   scale, as in test/engine/forward-vs-oracle.test.ts.
// - An f32 file stored as bf16 rounds every matrix weight to 8 mantissa bits (relative error at most
//   2^-9 per weight). Through 2-3 layers that moved logits by 0.6-1.5% of their scale on these models
//   (measured 2026-11-26); the bound is 5%, and the first greedy tokens must survive.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EngineModel } from '../../engine/index.js';
import { referenceLogits } from '../oracle/forward.js';
import { writeTinyModel, type TinyModelSpec } from '../oracle/model-writer.js';
import { maxRelError, seededTokens, tempDir } from '../engine/helpers.js';

const F32_BOUND = 1e-4;
const BF16_STORAGE_BOUND = 5e-2;

const tmp = tempDir('pcomp-bf16-');
afterAll(() => tmp.cleanup());
const savedEnv = process.env.PCOMP_WEIGHTS;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.PCOMP_WEIGHTS;
  else process.env.PCOMP_WEIGHTS = savedEnv;
});

async function loadWith(dir: string, storage: 'f32' | 'bf16' | 'auto'): Promise<EngineModel> {
  process.env.PCOMP_WEIGHTS = storage;
  return EngineModel.load(dir);
}

async function logitsOf(model: EngineModel, tokens: Int32Array): Promise<Float32Array[]> {
  try {
    return await model.logits([{ tokens }], 'all');
  } finally {
    model.free();
  }
}

function worstRow(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, maxRelError(a[i]!, b[i]!));
  return worst;
}

const shapes: [string, TinyModelSpec][] = [
  ['gqa-hd8', { seed: 31, hiddenSize: 32, intermediateSize: 64, numHeads: 4, numKvHeads: 2 }],
  ['gqa-hd16-wide', { seed: 32, hiddenSize: 96, intermediateSize: 200, numHeads: 6, numKvHeads: 2, numLayers: 3, vocabSize: 500 }],
  ['tied-mha', { seed: 33, hiddenSize: 48, intermediateSize: 72, numHeads: 3, numKvHeads: 3, tieWordEmbeddings: true }],
  // Llama attention_bias + mlp_bias on the bf16 kernels (wide enough for the packed path).
  ['llama-biases-wide', { seed: 34, hiddenSize: 96, intermediateSize: 200, numHeads: 6, numKvHeads: 2, vocabSize: 400, attentionBias: true, mlpBias: true }],
];

describe('bf16 weight storage', () => {
  for (const [name, spec] of shapes) {
    it(`${name}: a bf16 file stored bf16 (the default) equals f32 storage and the oracle within ${F32_BOUND}`, async () => {
      const { dir } = writeTinyModel(`${tmp.dir}/${name}-bf16file`, { ...spec, dtype: 'bf16' });
      const tokens = seededTokens(75, spec.vocabSize ?? 300, 7);
      const asBf16 = await loadWith(dir, 'auto');
      const bf16Bytes = asBf16.info.weight_bytes;
      const got16 = await logitsOf(asBf16, tokens);
      const asF32 = await loadWith(dir, 'f32');
      const f32Bytes = asF32.info.weight_bytes;
      const got32 = await logitsOf(asF32, tokens);
      // The matrices take half the bytes; norms and the f32 embedding table do not shrink.
      expect(bf16Bytes).toBeLessThan(f32Bytes * 0.8);
      expect(worstRow(got16, got32)).toBeLessThan(F32_BOUND);
      expect(worstRow(got16, referenceLogits(dir, Array.from(tokens)))).toBeLessThan(F32_BOUND);
    });

    it(`${name}: an f32 file stored bf16 stays within ${BF16_STORAGE_BOUND} of the oracle`, async () => {
      const { dir } = writeTinyModel(`${tmp.dir}/${name}-f32file`, { ...spec, dtype: 'f32' });
      const tokens = seededTokens(75, spec.vocabSize ?? 300, 8);
      const ref = referenceLogits(dir, Array.from(tokens));
      const got32 = await logitsOf(await loadWith(dir, 'f32'), tokens);
      const got16 = await logitsOf(await loadWith(dir, 'bf16'), tokens);
      const err32 = worstRow(got32, ref);
      const err16 = worstRow(got16, ref);
      expect(err32).toBeLessThan(F32_BOUND);
      expect(err16).toBeLessThan(BF16_STORAGE_BOUND);
      // Rounding really happened: bf16 storage is measurably further from the oracle than f32.
      expect(err16).toBeGreaterThan(err32 * 10);
    });
  }

  it('greedy decoding from bf16 storage mostly agrees with f32 storage', async () => {
    const { dir } = writeTinyModel(`${tmp.dir}/greedy`, { seed: 41, hiddenSize: 64, intermediateSize: 128, numHeads: 4, numKvHeads: 2, weightStd: 0.3 });
    const prompt = seededTokens(30, 300, 9);
    const run = async (storage: 'f32' | 'bf16') => {
      const m = await loadWith(dir, storage);
      try {
        return Array.from((await m.generate(prompt, { maxNewTokens: 24, stopIds: [] })).tokens);
      } finally {
        m.free();
      }
    };
    const a = await run('f32');
    const b = await run('bf16');
    expect(a.length).toBe(24);
    // Greedy paths may part after a near-tie; the first tokens must agree.
    expect(b.slice(0, 4)).toEqual(a.slice(0, 4));
  });

  it('rejects an unknown PCOMP_WEIGHTS value with a message naming the variable', async () => {
    const { dir } = writeTinyModel(`${tmp.dir}/badenv`, { seed: 42 });
    process.env.PCOMP_WEIGHTS = 'fp8';
    await expect(EngineModel.load(dir)).rejects.toThrow(/PCOMP_WEIGHTS=fp8: expected f32, bf16 or auto/);
  });
});

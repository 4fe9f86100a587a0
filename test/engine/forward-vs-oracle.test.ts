// The engine's logits against the float64 oracle on seeded random tiny models of every supported
// shape: Llama with GQA, Llama-3.1 rope scaling, linear and dynamic scaling, Qwen2 with biases,
// Llama with attention_bias / mlp_bias, Mistral, tied and untied embeddings, f32/bf16/f16 files,
// sharded index.
import { afterAll, describe, expect, it } from 'vitest';
import { EngineModel } from '../../engine/index.js';
import { writeTinyModel, type TinyModelSpec } from '../oracle/model-writer.js';
import { referenceLogits } from '../oracle/forward.js';
import { maxRelError, seededTokens, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

// f32 compute against a float64 oracle: max relative logit error.
const F32_BOUND = 1e-4;

const cases: [string, TinyModelSpec][] = [
  ['llama-gqa-untied-f32', { seed: 11, numHeads: 4, numKvHeads: 2, tieWordEmbeddings: false }],
  ['llama-mha-tied-f32', { seed: 12, numHeads: 4, numKvHeads: 4, tieWordEmbeddings: true }],
  ['llama31-rope-scaling', {
    seed: 13, maxPositionEmbeddings: 64,
    ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
  }],
  ['llama-linear-scaling', { seed: 14, ropeScaling: { rope_type: 'linear', factor: 4 } }],
  ['llama-dynamic-ntk', { seed: 15, maxPositionEmbeddings: 32, ropeScaling: { rope_type: 'dynamic', factor: 2 } }],
  ['qwen2-biases', { seed: 16, architecture: 'Qwen2ForCausalLM', numHeads: 4, numKvHeads: 1 }],
  ['mistral', { seed: 17, architecture: 'MistralForCausalLM' }],
  ['llama-bf16-file', { seed: 18, dtype: 'bf16' }],
  ['llama-f16-file', { seed: 19, dtype: 'f16' }],
  ['llama-sharded', { seed: 20, shards: 3, numLayers: 3 }],
  // Llama attention_bias (q/k/v/o) and mlp_bias (gate/up/down), as transformers' LlamaAttention /
  // LlamaMLP build them; the bf16 file is held bf16 (the default), so both weight paths are covered.
  ['llama-attention-bias', { seed: 25, attentionBias: true }],
  ['llama-mlp-bias', { seed: 26, mlpBias: true, numKvHeads: 1 }],
  ['llama-both-biases-bf16-file', { seed: 27, attentionBias: true, mlpBias: true, dtype: 'bf16' }],
  ['llama-both-biases-sharded-tied', { seed: 28, attentionBias: true, mlpBias: true, shards: 2, tieWordEmbeddings: true }],
];

describe('engine forward pass vs float64 oracle', () => {
  for (const [name, spec] of cases) {
    it(`${name}: every position's logits within ${F32_BOUND} relative`, async () => {
      const { dir } = writeTinyModel(`${tmp.dir}/${name}`, spec);
      const model = await EngineModel.load(dir);
      try {
        const tokens = seededTokens(70, model.info.vocab_size, spec.seed ?? 1);
        const [all] = [await model.logits([{ tokens }], 'all')];
        const ref = referenceLogits(dir, Array.from(tokens));
        expect(all.length).toBe(ref.length);
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, maxRelError(all[i]!, ref[i]!));
        expect(worst).toBeLessThan(F32_BOUND);
      } finally {
        model.free();
      }
    });
  }

  it('explicit, reused and shifted position ids match the oracle', async () => {
    const { dir } = writeTinyModel(`${tmp.dir}/positions`, { seed: 21 });
    const model = await EngineModel.load(dir);
    const tokens = seededTokens(20, model.info.vocab_size, 5);
    const positions = Int32Array.from({ length: 20 }, (_, i) => 100 + 3 * i);
    const got = await model.logits([{ tokens, positions }], 'all');
    const ref = referenceLogits(dir, Array.from(tokens), Array.from(positions));
    for (let i = 0; i < ref.length; i++) expect(maxRelError(got[i]!, ref[i]!)).toBeLessThan(F32_BOUND);
    model.free();
  });
});

describe('batched prefill of several sequences', () => {
  it('gives the same logits as each sequence prefilled alone, including reused positions', async () => {
    const { dir } = writeTinyModel(`${tmp.dir}/batch`, { seed: 22, numLayers: 3 });
    const model = await EngineModel.load(dir);
    const V = model.info.vocab_size;
    // Three chunks that all start at position 0 (ParallelComp's reuse), of different lengths.
    const seqs = [seededTokens(33, V, 1), seededTokens(7, V, 2), seededTokens(50, V, 3)].map((tokens) => ({
      tokens,
      positions: Int32Array.from(tokens, (_, i) => i),
    }));
    const together = await model.logits(seqs, 'all');
    let row = 0;
    for (const s of seqs) {
      const alone = await model.logits([s], 'all');
      for (let i = 0; i < alone.length; i++, row++) {
        expect(maxRelError(together[row]!, alone[i]!)).toBeLessThan(1e-6);
      }
    }
    const lastRows = await model.logits(seqs, 'last');
    expect(lastRows.length).toBe(3);
    expect(maxRelError(lastRows[1]!, together[33 + 6]!)).toBeLessThan(1e-6);
    model.free();
  });
});

describe('log-probabilities and greedy decoding', () => {
  it('nll of every next token equals the oracle log-softmax', async () => {
    const { dir } = writeTinyModel(`${tmp.dir}/nll`, { seed: 23 });
    const model = await EngineModel.load(dir);
    const tokens = seededTokens(40, model.info.vocab_size, 9);
    const nll = await model.nll(tokens);
    const ref = referenceLogits(dir, Array.from(tokens));
    expect(nll.length).toBe(39);
    for (let i = 0; i < 39; i++) {
      const row = ref[i]!;
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
      expect(Math.abs(nll[i]! - (lse - row[tokens[i + 1]!]!))).toBeLessThan(1e-4);
    }
    model.free();
  });

  it('greedy tokens equal the oracle greedy continuation and stop at a stop id', async () => {
    const { dir } = writeTinyModel(`${tmp.dir}/greedy`, { seed: 24, weightStd: 0.3 });
    const model = await EngineModel.load(dir);
    const prompt = seededTokens(5, model.info.vocab_size, 4);
    const { referenceGreedy } = await import('../oracle/forward.js');
    const ref = referenceGreedy(dir, Array.from(prompt), 30, { stopIds: [] });
    const got = await model.generate(prompt, { maxNewTokens: 30, stopIds: [] });
    expect(Array.from(got.tokens)).toEqual(ref);
    // Stopping: use the 10th generated token as a stop id; output ends just before its first use.
    const stop = ref[9]!;
    const cut = ref.indexOf(stop);
    const stopped = await model.generate(prompt, { maxNewTokens: 30, stopIds: [stop] });
    expect(Array.from(stopped.tokens)).toEqual(ref.slice(0, cut));
    model.free();
  });
});

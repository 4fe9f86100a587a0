// Strict loading (engine/src/model.cpp, engine/src/safetensors.cpp): a checkpoint the engine does not
// fully understand is refused with a UserError naming the file and the tensor or config field,
// instead of computing some other model's output. And what is accepted on purpose stays accepted.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EngineModel } from '../../engine/index.js';
import { UserError } from '../../util/errors.js';
import { writeTinyModel, type TinyModelSpec } from '../oracle/model-writer.js';
import { referenceLogits } from '../oracle/forward.js';
import * as corrupt from '../oracle/corrupt-files.js';
import { maxRelError, seededTokens, tempDir } from './helpers.js';

const tmp = tempDir('pcomp-strict-');
afterAll(() => tmp.cleanup());
let n = 0;
const fresh = (spec: TinyModelSpec = {}) => writeTinyModel(path.join(tmp.dir, `m${n++}`), { seed: 7, ...spec }).dir;

async function loadError(dir: string): Promise<string> {
  let model: EngineModel | undefined;
  try {
    model = await EngineModel.load(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  model.free();
  throw new Error(`expected loading ${dir} to fail`);
}

function expectNames(message: string, ...parts: string[]): void {
  for (const p of parts) expect(message).toContain(p);
}

const cfg = (dir: string) => path.join(dir, 'config.json');
const st = (dir: string) => path.join(dir, 'model.safetensors');

describe('every tensor in the checkpoint is used, or the load fails naming it', () => {
  it('an unknown tensor foo.bar', async () => {
    const dir = fresh();
    const b = corrupt.addTensor(dir, 'foo.bar', [4]);
    const msg = await loadError(dir);
    expectNames(msg, b.file, "'foo.bar'", 'unknown tensors');
  });

  it('o_proj.bias while config.json says attention_bias: false', async () => {
    const dir = fresh();
    const b = corrupt.addTensor(dir, 'model.layers.1.self_attn.o_proj.bias', [32]);
    const msg = await loadError(dir);
    expectNames(msg, b.file, 'model.layers.1.self_attn.o_proj.bias', 'attention_bias');
  });

  it('an MLP bias while config.json says mlp_bias: false', async () => {
    const dir = fresh();
    const b = corrupt.addTensor(dir, 'model.layers.0.mlp.down_proj.bias', [32]);
    const msg = await loadError(dir);
    expectNames(msg, b.file, 'model.layers.0.mlp.down_proj.bias', 'mlp_bias');
  });

  it('an o_proj.bias on Qwen2 (whose o_proj has none)', async () => {
    const dir = fresh({ architecture: 'Qwen2ForCausalLM' });
    const b = corrupt.addTensor(dir, 'model.layers.0.self_attn.o_proj.bias', [32]);
    const msg = await loadError(dir);
    expectNames(msg, b.file, 'model.layers.0.self_attn.o_proj.bias', 'Qwen2ForCausalLM');
  });

  it('a missing bias when attention_bias: true', async () => {
    const dir = fresh({ attentionBias: true });
    const b = corrupt.removeTensor(dir, 'model.layers.1.self_attn.o_proj.bias');
    const msg = await loadError(dir);
    expectNames(msg, b.file, 'model.layers.1.self_attn.o_proj.bias', 'missing');
  });

  it('a missing MLP bias when mlp_bias: true (sharded: names the index)', async () => {
    const dir = fresh({ mlpBias: true, shards: 3 });
    const b = corrupt.removeTensor(dir, 'model.layers.0.mlp.up_proj.bias');
    expect(b.file).toContain('model.safetensors.index.json');
    const msg = await loadError(dir);
    expectNames(msg, b.file, 'model.layers.0.mlp.up_proj.bias');
  });

  it('more layers in the file than num_hidden_layers', async () => {
    const dir = fresh({ numLayers: 2 });
    corrupt.editConfig(dir, 'num_hidden_layers', 1);
    const msg = await loadError(dir);
    expectNames(msg, st(dir), cfg(dir), 'num_hidden_layers = 1', "'model.layers.1.", 'more layers');
  });

  it('fewer layers in the file than num_hidden_layers', async () => {
    const dir = fresh({ numLayers: 2 });
    corrupt.editConfig(dir, 'num_hidden_layers', 3);
    const msg = await loadError(dir);
    expectNames(msg, st(dir), cfg(dir), 'num_hidden_layers = 3', 'model.layers.2.', 'has 2 layers');
  });

  it('fewer layers, sharded', async () => {
    const dir = fresh({ numLayers: 3, shards: 2 });
    corrupt.editConfig(dir, 'num_hidden_layers', 4);
    const msg = await loadError(dir);
    expectNames(msg, path.join(dir, 'model.safetensors.index.json'), cfg(dir), 'num_hidden_layers = 4', 'model.layers.3.');
  });

  it('a tied model whose file also stores a different lm_head.weight', async () => {
    const dir = fresh({ tieWordEmbeddings: true });
    const b = corrupt.addTensor(dir, 'lm_head.weight', [300, 32], { fill: 0.5 });
    const msg = await loadError(dir);
    expectNames(msg, b.file, "'lm_head.weight'", 'tie_word_embeddings');
  });
});

describe('the data section follows the safetensors rules', () => {
  it('overlapping data_offsets', async () => {
    const dir = fresh();
    const b = corrupt.overlapOffsets(dir, 'model.layers.0.self_attn.v_proj.weight');
    const msg = await loadError(dir);
    expectNames(msg, b.file, b.name!, 'overlap', 'model.layers.0.self_attn.k_proj.weight');
  });

  it('trailing data after the last tensor', async () => {
    const dir = fresh();
    const b = corrupt.trailingData(dir, 16);
    const msg = await loadError(dir);
    expectNames(msg, b.file, b.name!, '16 bytes of trailing data');
  });

  it('a gap between two tensors', async () => {
    const dir = fresh();
    const b = corrupt.gapAfter(dir, 'model.layers.0.mlp.up_proj.weight', 8);
    const msg = await loadError(dir);
    expectNames(msg, b.file, b.name!, 'gap of 8 bytes');
  });

  it('a tensor named twice in the header', async () => {
    const dir = fresh();
    const file = st(dir);
    const bytes = readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
    // JSON.stringify cannot write a duplicate key: splice a second copy of one entry into the text.
    const entry = JSON.stringify(header['model.norm.weight']);
    let json = JSON.stringify(header).replace(/}$/, `,"model.norm.weight":${entry}}`);
    json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeFileSync(file, Buffer.concat([prefix, Buffer.from(json), bytes.subarray(8 + headerLength)]));
    const msg = await loadError(dir);
    expectNames(msg, file, "'model.norm.weight'", 'named twice');
  });

  it('trailing data in one shard of a sharded checkpoint', async () => {
    const dir = fresh({ shards: 2 });
    const b = corrupt.trailingData(dir, 4, 'lm_head.weight');
    expect(b.file).toContain('model-00002-of-00002.safetensors');
    const msg = await loadError(dir);
    expectNames(msg, b.file, 'trailing data');
  });
});

describe('a sharded index agrees with its shards', () => {
  const indexOf = (dir: string) => path.join(dir, 'model.safetensors.index.json');
  const editIndex = (dir: string, edit: (wm: Record<string, string>) => void) => {
    const j = JSON.parse(readFileSync(indexOf(dir), 'utf8')) as { weight_map: Record<string, string> };
    edit(j.weight_map);
    writeFileSync(indexOf(dir), JSON.stringify(j));
  };

  it('a tensor a shard holds but the index does not list', async () => {
    const dir = fresh({ shards: 2 });
    const shard = corrupt.fileHolding(dir, 'model.norm.weight');
    editIndex(dir, (wm) => delete wm['model.norm.weight']);
    const msg = await loadError(dir);
    expectNames(msg, shard, "'model.norm.weight'", indexOf(dir), 'not listed');
  });

  it('a tensor listed for the wrong shard', async () => {
    const dir = fresh({ shards: 2 });
    const shard = corrupt.fileHolding(dir, 'model.norm.weight');
    editIndex(dir, (wm) => (wm['model.norm.weight'] = 'model-00001-of-00002.safetensors'));
    const msg = await loadError(dir);
    expectNames(msg, shard, "'model.norm.weight'", 'model-00001-of-00002.safetensors');
  });

  it('a listed tensor that its shard does not hold (even one the model would not need)', async () => {
    const dir = fresh({ shards: 2 });
    editIndex(dir, (wm) => (wm['foo.bar'] = 'model-00001-of-00002.safetensors'));
    const msg = await loadError(dir);
    expectNames(msg, path.join(dir, 'model-00001-of-00002.safetensors'), "'foo.bar'", 'missing from this shard');
  });
});

describe('config fields that change the forward pass and are not implemented are refused by name', () => {
  const cases: [string, TinyModelSpec, string, unknown, RegExp?][] = [
    ['attention_bias on Mistral (transformers does not read it)', { architecture: 'MistralForCausalLM' }, 'attention_bias', true],
    ['mlp_bias on Qwen2', { architecture: 'Qwen2ForCausalLM' }, 'mlp_bias', true],
    ['attention_bias that is not a boolean', {}, 'attention_bias', 'yes'],
    ['pretraining_tp > 1 together with biases', { attentionBias: true }, 'pretraining_tp', 2],
    ['partial_rotary_factor < 1', {}, 'partial_rotary_factor', 0.5],
    ['quantization_config', {}, 'quantization_config', { quant_method: 'gptq', bits: 4 }],
    ['hidden_act other than silu', {}, 'hidden_act', 'gelu'],
    ['rope_scaling yarn with a field it does not implement', {}, 'rope_scaling',
      { rope_type: 'yarn', factor: 4, low_freq_factor: 1 }, /"low_freq_factor" is not implemented for yarn/],
    ['rope_scaling yarn without factor', {}, 'rope_scaling', { rope_type: 'yarn' }, /"factor"/],
    ['rope_parameters beside rope_scaling', { ropeScaling: { rope_type: 'linear', factor: 2 } }, 'rope_parameters',
      { rope_type: 'default', rope_theta: 10000 }, /both set/],
    ['Phi3 longrope with short_factor of the wrong length', { architecture: 'Phi3ForCausalLM', originalMaxPositionEmbeddings: 64 },
      'rope_scaling', { rope_type: 'longrope', short_factor: [1, 1], long_factor: [1, 1, 1, 1] }, /"short_factor" must list 4/],
    ['Phi3 longrope with a factor (transformers versions disagree on it)', { architecture: 'Phi3ForCausalLM', originalMaxPositionEmbeddings: 64 },
      'rope_scaling', { rope_type: 'longrope', factor: 4, short_factor: [1, 1, 1, 1], long_factor: [1, 1, 1, 1] }, /"factor" is not implemented for longrope/],
    ['Phi3 longrope without original_max_position_embeddings', { architecture: 'Phi3ForCausalLM' },
      'rope_scaling', { rope_type: 'longrope', short_factor: [1, 1, 1, 1], long_factor: [1, 1, 1, 1] }, /original_max_position_embeddings/],
    ['Phi3 partial_rotary_factor leaving an odd number of rotated dims', { architecture: 'Phi3ForCausalLM' },
      'partial_rotary_factor', 0.4, /must be even/],
    ['mlp_bias on Qwen3 (Qwen3MLP has none)', { architecture: 'Qwen3ForCausalLM' }, 'mlp_bias', true],
    ['Qwen3 without head_dim (Qwen3Config defaults it to 128)', { architecture: 'Qwen3ForCausalLM' }, 'head_dim', null, /128/],
    ['rope_scaling longrope', {}, 'rope_scaling', { rope_type: 'longrope', factor: 4 }, /rope_type.*longrope/],
    ['layer_types mixing full and sliding layers', { architecture: 'MistralForCausalLM', numLayers: 2 }, 'layer_types',
      ['full_attention', 'sliding_attention'], /sliding_window is not set|1 of 2 layers/],
    ['tie_word_embeddings that is not a boolean', {}, 'tie_word_embeddings', 1],
  ];
  for (const [name, spec, field, value, pattern] of cases) {
    it(name, async () => {
      const dir = fresh(spec);
      corrupt.editConfig(dir, field, value);
      const msg = await loadError(dir);
      expectNames(msg, cfg(dir), field);
      if (pattern) expect(msg).toMatch(pattern);
    });
  }

  for (const arch of ['Gemma2ForCausalLM', 'Gemma3ForCausalLM']) {
    it(`${arch} (not implemented yet) is refused by name`, async () => {
      const dir = fresh();
      corrupt.editConfig(dir, 'architectures', [arch]);
      const msg = await loadError(dir);
      expectNames(msg, cfg(dir), 'architectures', arch, 'Qwen3ForCausalLM, Phi3ForCausalLM');
    });
  }

  it('Phi3 with unfused q_proj instead of qkv_proj names the missing fused tensor', async () => {
    const dir = fresh();
    corrupt.editConfig(dir, 'architectures', ['Phi3ForCausalLM']);
    const msg = await loadError(dir);
    expectNames(msg, 'qkv_proj.weight', 'Phi3ForCausalLM');
  });

  it('Qwen3 without its q_norm tensor names the tensor', async () => {
    const dir = fresh({ architecture: 'Qwen3ForCausalLM' });
    corrupt.removeTensor(dir, 'model.layers.1.self_attn.q_norm.weight');
    const msg = await loadError(dir);
    expectNames(msg, 'model.layers.1.self_attn.q_norm.weight', 'Qwen3ForCausalLM');
  });

  it('a field given twice in config.json (Python keeps the last, so which one is meant is unclear)', async () => {
    const dir = fresh();
    const text = readFileSync(cfg(dir), 'utf8').replace(/}\s*$/, ',\n  "num_hidden_layers": 7\n}');
    writeFileSync(cfg(dir), text);
    const msg = await loadError(dir);
    expectNames(msg, cfg(dir), '"num_hidden_layers" appears twice');
  });

  it('Qwen2 use_sliding_window on only the upper layers (max_window_layers)', async () => {
    const dir = fresh({ architecture: 'Qwen2ForCausalLM', numLayers: 3 });
    corrupt.editConfig(dir, 'use_sliding_window', true);
    corrupt.editConfig(dir, 'sliding_window', 16);
    corrupt.editConfig(dir, 'max_window_layers', 1);
    const msg = await loadError(dir);
    expectNames(msg, cfg(dir), 'max_window_layers', '2 of 3 layers');
  });

  it('Mistral layer_types mixing windowed and full layers with a window set', async () => {
    const dir = fresh({ architecture: 'MistralForCausalLM', numLayers: 2 });
    corrupt.editConfig(dir, 'sliding_window', 16);
    corrupt.editConfig(dir, 'layer_types', ['sliding_attention', 'full_attention']);
    const msg = await loadError(dir);
    expectNames(msg, cfg(dir), 'layer_types', '1 of 2 layers');
  });
});

describe('harmless fields and layouts are accepted, and compute the same model', () => {
  async function sameAsOracle(dir: string, sliding = 0): Promise<void> {
    const model = await EngineModel.load(dir);
    try {
      expect(model.info.sliding_window).toBe(sliding);
      const tokens = seededTokens(24, model.info.vocab_size, 3);
      const got = await model.logits([{ tokens }], 'all');
      const ref = referenceLogits(dir, Array.from(tokens));
      for (let i = 0; i < ref.length; i++) expect(maxRelError(got[i]!, ref[i]!)).toBeLessThan(1e-4);
    } finally {
      model.free();
    }
  }

  it('attention_dropout (training only) and pretraining_tp > 1 without biases (the same product)', async () => {
    const dir = fresh();
    corrupt.editConfig(dir, 'attention_dropout', 0.1);
    corrupt.editConfig(dir, 'pretraining_tp', 2);
    await sameAsOracle(dir);
  });

  it('a stored RoPE buffer (rotary_emb.inv_freq, old transformers) is ignored', async () => {
    const dir = fresh();
    corrupt.addTensor(dir, 'model.layers.0.self_attn.rotary_emb.inv_freq', [4], { fill: 123 });
    await sameAsOracle(dir);
  });

  it('a tied model whose file stores lm_head.weight equal to the embedding', async () => {
    const dir = fresh({ tieWordEmbeddings: true });
    const file = path.join(dir, 'model.safetensors');
    const { parseSafetensors } = await import('../oracle/safetensors.js');
    const parsed = parseSafetensors(file);
    const [b, e] = parsed.header['model.embed_tokens.weight']!.data_offsets;
    const bytes = parsed.bytes.subarray(parsed.dataStart + b, parsed.dataStart + e);
    corrupt.addTensor(dir, 'lm_head.weight', [300, 32]);
    // Overwrite the zeros just added with the embedding's bytes (same dtype, same length).
    const after = parseSafetensors(file);
    const [hb] = after.header['lm_head.weight']!.data_offsets;
    const whole = readFileSync(file);
    bytes.copy(whole, after.dataStart + hb);
    writeFileSync(file, whole);
    await sameAsOracle(dir);
  });

  it('Qwen2 use_sliding_window with max_window_layers >= num_hidden_layers windows no layer', async () => {
    const dir = fresh({ architecture: 'Qwen2ForCausalLM', numLayers: 2 });
    corrupt.editConfig(dir, 'use_sliding_window', true);
    corrupt.editConfig(dir, 'sliding_window', 16);
    corrupt.editConfig(dir, 'max_window_layers', 2);
    await sameAsOracle(dir, 0);
  });

  it('Qwen2 use_sliding_window with max_window_layers 0 windows every layer', async () => {
    const dir = fresh({ architecture: 'Qwen2ForCausalLM', numLayers: 2 });
    corrupt.editConfig(dir, 'use_sliding_window', true);
    corrupt.editConfig(dir, 'sliding_window', 1000);
    corrupt.editConfig(dir, 'max_window_layers', 0);
    await sameAsOracle(dir, 1000); // a window wider than the 24 tokens: the oracle's full attention applies
  });
});

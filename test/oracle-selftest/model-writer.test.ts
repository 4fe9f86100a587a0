import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { writeTinyModel } from '../oracle/model-writer.js';
import { parseSafetensors } from '../oracle/safetensors.js';
import { useTempDirs } from './temp-dirs.js';

const tempDir = useTempDirs();
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

describe('writeTinyModel', () => {
  it('writes an HF Llama folder with the config fields and tensor names HF uses', () => {
    const dir = tempDir();
    const written = writeTinyModel(dir, { numLayers: 2, hiddenSize: 32, numHeads: 4, numKvHeads: 2, intermediateSize: 48 });
    expect(readdirSync(dir).sort()).toEqual(
      ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'],
    );
    const config = readJson(path.join(dir, 'config.json'));
    expect(config).toMatchObject({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 32, intermediate_size: 48,
      num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 300,
      rope_scaling: null, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32',
    });
    expect(config).not.toHaveProperty('head_dim');
    const header = parseSafetensors(path.join(dir, 'model.safetensors')).header;
    expect(header['model.layers.1.self_attn.k_proj.weight']).toMatchObject({ dtype: 'F32', shape: [16, 32] });
    expect(header['model.layers.0.mlp.down_proj.weight'].shape).toEqual([32, 48]);
    expect(header['lm_head.weight'].shape).toEqual([300, 32]);
    expect(Object.keys(header)).toHaveLength(1 + 2 * 9 + 2);
    expect(Object.keys(header).sort()).toEqual(written.tensors.map((t) => t.name).sort());
  });

  it('lays out safetensors per the format: 8-byte aligned header, contiguous in-bounds offsets', () => {
    const dir = tempDir();
    writeTinyModel(dir, { dtype: 'bf16' });
    const file = parseSafetensors(path.join(dir, 'model.safetensors'));
    expect(file.dataStart % 8).toBe(0);
    const entries = Object.values(file.header).sort((a, b) => a.data_offsets[0] - b.data_offsets[0]);
    let end = 0;
    for (const e of entries) {
      expect(e.dtype).toBe('BF16');
      expect(e.data_offsets[0]).toBe(end);
      expect(e.data_offsets[1] - e.data_offsets[0]).toBe(2 * e.shape.reduce((a, b) => a * b, 1));
      end = e.data_offsets[1];
    }
    expect(file.dataStart + end).toBe(file.bytes.length);
  });

  it('Qwen2 has q/k/v biases, Mistral a null sliding window, tied models no lm_head, head_dim when asked', () => {
    const qwen = tempDir();
    writeTinyModel(qwen, { architecture: 'Qwen2ForCausalLM', numHeads: 4, numKvHeads: 1, headDim: 16, tieWordEmbeddings: true });
    const qConfig = readJson(path.join(qwen, 'config.json'));
    expect(qConfig).toMatchObject({ model_type: 'qwen2', head_dim: 16, tie_word_embeddings: true, use_sliding_window: false });
    const qHeader = parseSafetensors(path.join(qwen, 'model.safetensors')).header;
    expect(qHeader['model.layers.0.self_attn.q_proj.bias'].shape).toEqual([64]);
    expect(qHeader['model.layers.0.self_attn.k_proj.bias'].shape).toEqual([16]);
    expect(qHeader['model.layers.0.self_attn.o_proj.weight'].shape).toEqual([32, 64]);
    expect(qHeader).not.toHaveProperty('lm_head.weight');
    expect(qHeader).not.toHaveProperty('model.layers.0.self_attn.o_proj.bias');

    const mistral = tempDir();
    writeTinyModel(mistral, { architecture: 'MistralForCausalLM' });
    expect(readJson(path.join(mistral, 'config.json'))).toMatchObject({ model_type: 'mistral', sliding_window: null });
    expect(parseSafetensors(path.join(mistral, 'model.safetensors')).header).not.toHaveProperty('model.layers.0.self_attn.q_proj.bias');
  });

  it('writes rope_scaling as given', () => {
    const dir = tempDir();
    const ropeScaling = { rope_type: 'llama3' as const, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
    writeTinyModel(dir, { ropeScaling, ropeTheta: 500000 });
    expect(readJson(path.join(dir, 'config.json'))).toMatchObject({ rope_scaling: ropeScaling, rope_theta: 500000 });
  });

  it('is deterministic in the seed', () => {
    const [a, b, c] = [tempDir(), tempDir(), tempDir()];
    writeTinyModel(a, { seed: 7 });
    writeTinyModel(b, { seed: 7 });
    writeTinyModel(c, { seed: 8 });
    const bytes = (d: string) => readFileSync(path.join(d, 'model.safetensors'));
    expect(bytes(a).equals(bytes(b))).toBe(true);
    expect(bytes(a).equals(bytes(c))).toBe(false);
  });

  it('shards with an index that maps every tensor to the shard holding it', () => {
    const dir = tempDir();
    const written = writeTinyModel(dir, { shards: 3 });
    expect(written.weightFiles).toEqual([
      'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors',
    ]);
    const index = readJson(path.join(dir, 'model.safetensors.index.json'));
    expect(Object.keys(index.weight_map).sort()).toEqual(written.tensors.map((t) => t.name).sort());
    let total = 0;
    for (const [name, file] of Object.entries(index.weight_map as Record<string, string>)) {
      const entry = parseSafetensors(path.join(dir, file)).header[name];
      expect(entry).toBeDefined();
      total += entry.data_offsets[1] - entry.data_offsets[0];
    }
    expect(index.metadata.total_size).toBe(total);
  });

  it('writes a tokenizer that @huggingface/tokenizers loads and that round-trips any text', () => {
    const dir = tempDir();
    writeTinyModel(dir, { vocabSize: 320 });
    const tokenizer = new Tokenizer(readJson(path.join(dir, 'tokenizer.json')), readJson(path.join(dir, 'tokenizer_config.json')));
    const text = 'the cat sat. Ünïcode & emoji 🙂\tTab';
    const { ids } = tokenizer.encode(text);
    expect(ids[0]).toBe(1);
    expect(ids.every((id: number) => id >= 0 && id < 320)).toBe(true);
    expect(ids).toContain(readJson(path.join(dir, 'tokenizer.json')).model.vocab['▁t']); // merges are used
    expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe(text);
    expect(readJson(path.join(dir, 'tokenizer_config.json')).chat_template).toContain('[INST]');
  });

  it('can leave the tokenizer out', () => {
    const dir = tempDir();
    writeTinyModel(dir, { tokenizer: false });
    expect(readdirSync(dir)).not.toContain('tokenizer.json');
  });
});

/**
 * Writes seeded random Hugging Face model folders (config.json, safetensors, tokenizer files,
 * generation_config.json) for engine tests. Same seed and shape ⇒ same f32 weights, whatever the
 * file dtype or sharding, so f32/bf16/f16 and sharded/unsharded folders describe one model.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gaussian, mulberry32 } from './prng.js';
import { safetensorsBytes, type FileDtype, type NamedTensor } from './safetensors.js';
import { qwenTokenizerConfigJson, tokenizerConfigJson, tokenizerJson } from './tokenizer-files.js';

export type Architecture = 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM' | 'Qwen3ForCausalLM' | 'Phi3ForCausalLM';

export type RopeScaling =
  | null
  | { rope_type: 'linear'; factor: number }
  | { rope_type: 'dynamic'; factor: number }
  | {
      rope_type: 'llama3';
      factor: number;
      low_freq_factor: number;
      high_freq_factor: number;
      original_max_position_embeddings: number;
    }
  | {
      rope_type: 'yarn';
      factor: number;
      original_max_position_embeddings?: number;
      beta_fast?: number;
      beta_slow?: number;
      mscale?: number;
      mscale_all_dim?: number;
      attention_factor?: number;
      truncate?: boolean;
    }
  | { rope_type: 'longrope' | 'su'; short_factor: number[]; long_factor: number[]; attention_factor?: number };

export interface TinyModelSpec {
  seed?: number;
  architecture?: Architecture;
  hiddenSize?: number;
  intermediateSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  /** Written to config.json only when given (otherwise readers derive hidden_size / num_heads). */
  headDim?: number;
  vocabSize?: number;
  maxPositionEmbeddings?: number;
  rmsNormEps?: number;
  ropeTheta?: number;
  ropeScaling?: RopeScaling;
  tieWordEmbeddings?: boolean;
  dtype?: 'f32' | 'f16' | 'bf16';
  /** 1 writes model.safetensors; more writes model-0000i-of-0000N.safetensors + index. */
  shards?: number;
  bosTokenId?: number;
  eosTokenId?: number;
  /** Std of the projection / embedding weights (biases too); norms are 1 + N(0, 0.1). */
  weightStd?: number;
  /** false leaves out tokenizer.json and tokenizer_config.json. */
  tokenizer?: boolean;
  /** Llama and Qwen3: config.json attention_bias (q/k/v/o_proj biases, as transformers' Llama/Qwen3Attention). */
  attentionBias?: boolean;
  /** Phi3 only: partial_rotary_factor (written when given). */
  partialRotaryFactor?: number;
  /** Phi3 only: the top-level original_max_position_embeddings (written when given). */
  originalMaxPositionEmbeddings?: number;
  /** Llama only: config.json mlp_bias (gate/up/down_proj biases, as transformers' LlamaMLP). */
  mlpBias?: boolean;
}

type Optional = 'headDim' | 'partialRotaryFactor' | 'originalMaxPositionEmbeddings';
export type ResolvedSpec = Required<Omit<TinyModelSpec, Optional>> & Pick<TinyModelSpec, Optional>;

export const DEFAULT_SPEC: Required<Omit<TinyModelSpec, Optional>> = {
  seed: 1,
  architecture: 'LlamaForCausalLM',
  hiddenSize: 32,
  intermediateSize: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: 300,
  maxPositionEmbeddings: 256,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeScaling: null,
  tieWordEmbeddings: false,
  dtype: 'f32',
  shards: 1,
  bosTokenId: 1,
  eosTokenId: 2,
  weightStd: 0.1,
  tokenizer: true,
  attentionBias: false,
  mlpBias: false,
};

export interface WrittenModel {
  dir: string;
  config: Record<string, unknown>;
  /** Tensor names in file order, with their shapes. */
  tensors: { name: string; shape: number[] }[];
  /** Safetensors file names, relative to dir. */
  weightFiles: string[];
}

const fileDtype: Record<'f32' | 'f16' | 'bf16', FileDtype> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };
const torchDtype = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' };

export function configJson(s: ResolvedSpec): Record<string, unknown> {
  const common: Record<string, unknown> = {
    architectures: [s.architecture],
    hidden_size: s.hiddenSize,
    intermediate_size: s.intermediateSize,
    num_hidden_layers: s.numLayers,
    num_attention_heads: s.numHeads,
    num_key_value_heads: s.numKvHeads,
    ...(s.headDim === undefined ? {} : { head_dim: s.headDim }),
    vocab_size: s.vocabSize,
    max_position_embeddings: s.maxPositionEmbeddings,
    rms_norm_eps: s.rmsNormEps,
    rope_theta: s.ropeTheta,
    rope_scaling: s.ropeScaling,
    hidden_act: 'silu',
    tie_word_embeddings: s.tieWordEmbeddings,
    bos_token_id: s.bosTokenId,
    eos_token_id: s.eosTokenId,
    torch_dtype: torchDtype[s.dtype],
    initializer_range: 0.02,
    use_cache: true,
    attention_dropout: 0.0,
    transformers_version: '4.46.0',
  };
  if (s.architecture === 'LlamaForCausalLM') {
    return { ...common, model_type: 'llama', attention_bias: s.attentionBias, mlp_bias: s.mlpBias, pretraining_tp: 1 };
  }
  if (s.architecture === 'MistralForCausalLM') {
    return { ...common, model_type: 'mistral', sliding_window: null };
  }
  if (s.architecture === 'Phi3ForCausalLM') {
    // Phi3Config: fused qkv_proj / gate_up_proj, no biases; no sliding window here.
    return {
      ...common,
      model_type: 'phi3',
      ...(s.partialRotaryFactor === undefined ? {} : { partial_rotary_factor: s.partialRotaryFactor }),
      ...(s.originalMaxPositionEmbeddings === undefined ? {} : { original_max_position_embeddings: s.originalMaxPositionEmbeddings }),
      sliding_window: null,
      resid_pdrop: 0.0,
      embd_pdrop: 0.0,
      pad_token_id: s.eosTokenId,
    };
  }
  if (s.architecture === 'Qwen3ForCausalLM') {
    // Qwen3Config: head_dim stated (its default is 128, not hidden / heads); q/k/v/o biases only with
    // attention_bias; sliding window shipped disabled, as Qwen3's checkpoints do.
    return {
      ...common,
      head_dim: s.headDim ?? s.hiddenSize / s.numHeads,
      model_type: 'qwen3',
      attention_bias: s.attentionBias,
      use_sliding_window: false,
      sliding_window: null,
      max_window_layers: s.numLayers,
    };
  }
  // Qwen2 ships a sliding_window value but disables it; q/k/v carry biases (no config flag for that).
  return {
    ...common,
    model_type: 'qwen2',
    use_sliding_window: false,
    sliding_window: s.maxPositionEmbeddings,
    max_window_layers: s.numLayers,
  };
}

/** The HF tensor list for a spec, in a fixed order: the order the PRNG fills them in. */
export function tensorShapes(s: ResolvedSpec): { name: string; shape: number[]; kind: 'matrix' | 'bias' | 'norm' }[] {
  const headDim = s.headDim ?? s.hiddenSize / s.numHeads;
  const qDim = s.numHeads * headDim;
  const kvDim = s.numKvHeads * headDim;
  const H = s.hiddenSize;
  const I = s.intermediateSize;
  const list: { name: string; shape: number[]; kind: 'matrix' | 'bias' | 'norm' }[] = [
    { name: 'model.embed_tokens.weight', shape: [s.vocabSize, H], kind: 'matrix' },
  ];
  for (let l = 0; l < s.numLayers; l++) {
    const p = `model.layers.${l}`;
    const phi3 = s.architecture === 'Phi3ForCausalLM';
    if (phi3) list.push({ name: `${p}.self_attn.qkv_proj.weight`, shape: [qDim + 2 * kvDim, H], kind: 'matrix' });
    else {
      list.push({ name: `${p}.self_attn.q_proj.weight`, shape: [qDim, H], kind: 'matrix' });
      list.push({ name: `${p}.self_attn.k_proj.weight`, shape: [kvDim, H], kind: 'matrix' });
      list.push({ name: `${p}.self_attn.v_proj.weight`, shape: [kvDim, H], kind: 'matrix' });
    }
    const llamaBias = (s.architecture === 'LlamaForCausalLM' || s.architecture === 'Qwen3ForCausalLM') && s.attentionBias;
    if (s.architecture === 'Qwen2ForCausalLM' || llamaBias) {
      list.push({ name: `${p}.self_attn.q_proj.bias`, shape: [qDim], kind: 'bias' });
      list.push({ name: `${p}.self_attn.k_proj.bias`, shape: [kvDim], kind: 'bias' });
      list.push({ name: `${p}.self_attn.v_proj.bias`, shape: [kvDim], kind: 'bias' });
    }
    if (s.architecture === 'Qwen3ForCausalLM') {
      list.push({ name: `${p}.self_attn.q_norm.weight`, shape: [headDim], kind: 'norm' });
      list.push({ name: `${p}.self_attn.k_norm.weight`, shape: [headDim], kind: 'norm' });
    }
    list.push({ name: `${p}.self_attn.o_proj.weight`, shape: [H, qDim], kind: 'matrix' });
    if (llamaBias) list.push({ name: `${p}.self_attn.o_proj.bias`, shape: [H], kind: 'bias' });
    if (phi3) list.push({ name: `${p}.mlp.gate_up_proj.weight`, shape: [2 * I, H], kind: 'matrix' });
    else {
      list.push({ name: `${p}.mlp.gate_proj.weight`, shape: [I, H], kind: 'matrix' });
      list.push({ name: `${p}.mlp.up_proj.weight`, shape: [I, H], kind: 'matrix' });
    }
    list.push({ name: `${p}.mlp.down_proj.weight`, shape: [H, I], kind: 'matrix' });
    if (s.architecture === 'LlamaForCausalLM' && s.mlpBias) {
      list.push({ name: `${p}.mlp.gate_proj.bias`, shape: [I], kind: 'bias' });
      list.push({ name: `${p}.mlp.up_proj.bias`, shape: [I], kind: 'bias' });
      list.push({ name: `${p}.mlp.down_proj.bias`, shape: [H], kind: 'bias' });
    }
    list.push({ name: `${p}.input_layernorm.weight`, shape: [H], kind: 'norm' });
    list.push({ name: `${p}.post_attention_layernorm.weight`, shape: [H], kind: 'norm' });
  }
  list.push({ name: 'model.norm.weight', shape: [H], kind: 'norm' });
  if (!s.tieWordEmbeddings) list.push({ name: 'lm_head.weight', shape: [s.vocabSize, H], kind: 'matrix' });
  return list;
}

export function resolveSpec(spec: TinyModelSpec): ResolvedSpec {
  // Explicit `undefined` fields mean "use the default", not "erase it".
  const given = Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined));
  const s: ResolvedSpec = { ...DEFAULT_SPEC, ...given };
  const headDim = s.headDim ?? s.hiddenSize / s.numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new Error(`oracle: head_dim ${headDim} must be an even integer`);
  if (s.numHeads % s.numKvHeads !== 0) throw new Error('oracle: num_attention_heads must be a multiple of num_key_value_heads');
  if (s.mlpBias && s.architecture !== 'LlamaForCausalLM') {
    throw new Error('oracle: mlpBias is a Llama config field (transformers reads it for Llama only)');
  }
  if (s.attentionBias && s.architecture !== 'LlamaForCausalLM' && s.architecture !== 'Qwen3ForCausalLM') {
    throw new Error('oracle: attentionBias is a Llama / Qwen3 config field');
  }
  return s;
}

/** Draws the f32 weights for a spec: deterministic in (seed, shapes), independent of dtype and sharding. */
export function randomTensors(spec: TinyModelSpec): NamedTensor[] {
  const s = resolveSpec(spec);
  const normal = gaussian(mulberry32(s.seed));
  return tensorShapes(s).map(({ name, shape, kind }) => {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) {
      values[i] = kind === 'norm' ? 1 + 0.1 * normal() : s.weightStd * normal();
    }
    return { name, shape, values };
  });
}

function shardFileName(i: number, n: number): string {
  const pad = (k: number) => String(k).padStart(5, '0');
  return `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
}

/** Writes a complete model folder into `dir` (created if needed) and returns what was written. */
export function writeTinyModel(dir: string, spec: TinyModelSpec = {}): WrittenModel {
  const s = resolveSpec(spec);
  mkdirSync(dir, { recursive: true });
  const config = configJson(s);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(
    path.join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: s.bosTokenId, eos_token_id: s.eosTokenId, do_sample: false }, null, 2),
  );
  if (s.tokenizer) {
    // Qwen3's tokenizer adds no BOS (Qwen2Tokenizer, no post-processor); the others add <s>.
    const qwen = s.architecture === 'Qwen3ForCausalLM';
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(s.vocabSize, { addBos: !qwen })));
    const tokCfg = qwen ? qwenTokenizerConfigJson(s.maxPositionEmbeddings) : tokenizerConfigJson(s.maxPositionEmbeddings);
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokCfg, null, 2));
  }

  const tensors = randomTensors(s);
  const dtype = fileDtype[s.dtype];
  const weightFiles: string[] = [];
  if (s.shards <= 1) {
    writeFileSync(path.join(dir, 'model.safetensors'), safetensorsBytes(tensors, dtype));
    weightFiles.push('model.safetensors');
  } else {
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    if (s.shards > tensors.length) throw new Error(`oracle: ${s.shards} shards for ${tensors.length} tensors`);
    const perShard = Math.ceil(tensors.length / s.shards);
    for (let i = 0; i < s.shards; i++) {
      const group = tensors.slice(i * perShard, (i + 1) * perShard);
      const file = shardFileName(i, s.shards);
      writeFileSync(path.join(dir, file), safetensorsBytes(group, dtype));
      weightFiles.push(file);
      for (const t of group) {
        weightMap[t.name] = file;
        totalSize += t.values.length * (dtype === 'F32' ? 4 : 2);
      }
    }
    writeFileSync(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2),
    );
  }
  return { dir, config, tensors: tensors.map((t) => ({ name: t.name, shape: t.shape })), weightFiles };
}

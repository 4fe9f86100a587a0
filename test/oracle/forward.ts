/**
 * The float64 reference forward pass: the test oracle for the native engine. Plain loops, no tricks,
 * nothing shared with the engine. Reads a Hugging Face Llama / Mistral / Qwen2 / Qwen3 folder written by
 * model-writer.ts (or a real one such as stories260K).
 *
 * Semantics, following HF transformers:
 * - RMSNorm: w * x / sqrt(mean(x²) + eps).
 * - Phi-3 (modeling_phi3.py): qkv_proj cut into q | k | v rows, gate_up_proj into gate | up;
 *   partial_rotary_factor rotates the first int(head_dim * factor) dims of each head (rotate_half
 *   over those), the rest pass; longrope frequencies and attention factor (rope.ts).
 * - Qwen3 (modeling_qwen3.py): q_norm / k_norm, an RMSNorm over head_dim with its own [head_dim]
 *   weight, on every query and key head before RoPE.
 * - RoPE on q and k with explicit per-token positions, rotate_half pairing (see rope.ts); yarn's
 *   attention factor multiplies cos and sin, so both rotated q and k.
 * - GQA: query head h reads KV head floor(h / (num_heads / num_kv_heads)).
 * - Attention in a step: token i sees every entry already in the cache plus the step's tokens 0..i
 *   (causal by order within the step, like HF's cache_position, whatever the position ids are).
 * - SwiGLU MLP: down(silu(gate(x)) * up(x)); final norm; logits by lm_head (or embed_tokens if tied).
 * - Biases: every projection whose `<name>.bias` tensor the folder holds adds it (nn.Linear), whatever
 *   config.json says: Qwen2's q/k/v, Llama's attention_bias (q/k/v/o) and mlp_bias (gate/up/down).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { applyRope, attentionScaling, inverseFrequencies, type RopeConfig, type RopeScalingConfig } from './rope.js';
import { parseSafetensors, readTensor, type SafetensorsFile } from './safetensors.js';

export interface ReferenceConfig {
  architecture: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  rope: RopeConfig;
}

/** One KV head's history: keys are stored after RoPE, as HF caches them. Callers may edit these arrays. */
export interface KvHead {
  keys: Float64Array[];
  values: Float64Array[];
}

/** cache[layer][kvHead]. Heads may hold different numbers of entries (per-head eviction). */
export type KvCache = KvHead[][];

export interface LayerWeights {
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  o: Float64Array;
  qBias: Float64Array | null;
  kBias: Float64Array | null;
  vBias: Float64Array | null;
  /** Llama attention_bias / mlp_bias (absent: no bias). */
  oBias?: Float64Array | null;
  gateBias?: Float64Array | null;
  upBias?: Float64Array | null;
  downBias?: Float64Array | null;
  gate: Float64Array;
  up: Float64Array;
  down: Float64Array;
  inputNorm: Float64Array;
  postNorm: Float64Array;
  /** Qwen3's per-head q_norm / k_norm weights [head_dim] (absent: none). */
  qNorm?: Float64Array | null;
  kNorm?: Float64Array | null;
}

function parseRopeScaling(raw: unknown, maxPositionEmbeddings: number, config: Record<string, any> = {}): RopeScalingConfig | null {
  if (raw === null || raw === undefined) return null;
  const r = raw as Record<string, number | string>;
  const type = (r.rope_type ?? r.type) as string;
  if (type === 'default') return null;
  if (type === 'linear' || type === 'dynamic') return { type, factor: Number(r.factor) };
  if (type === 'llama3') {
    return {
      type,
      factor: Number(r.factor),
      lowFreqFactor: Number(r.low_freq_factor),
      highFreqFactor: Number(r.high_freq_factor),
      originalMaxPositionEmbeddings: Number(r.original_max_position_embeddings),
    };
  }
  if (type === 'longrope' || type === 'su') {
    // Phi-3: factor = max_position_embeddings / original window; default attention factor
    // sqrt(1 + ln(factor) / ln(original window)) for factor > 1.
    const original = Number(r.original_max_position_embeddings ?? config.original_max_position_embeddings);
    const factor = maxPositionEmbeddings / original;
    const given = r.attention_factor as number | undefined | null;
    return {
      type: 'longrope',
      shortFactor: (r.short_factor as unknown as number[]).map(Number),
      longFactor: (r.long_factor as unknown as number[]).map(Number),
      originalMaxPositionEmbeddings: original,
      attentionFactor: given !== undefined && given !== null ? Number(given) : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original)),
    };
  }
  if (type === 'yarn') {
    // transformers' _compute_yarn_parameters: Python `or` defaults for the betas; get_mscale(s, m) =
    // 0.1 m ln(s) + 1 for s > 1, else 1.
    const factor = Number(r.factor);
    const mscale = (s: number, m: number) => (s <= 1 ? 1 : 0.1 * m * Math.log(s) + 1);
    const given = r.attention_factor as number | undefined | null;
    const ms = r.mscale as number | undefined;
    const msAll = r.mscale_all_dim as number | undefined;
    const attentionFactor =
      given !== undefined && given !== null ? Number(given) : ms && msAll ? mscale(factor, ms) / mscale(factor, msAll) : mscale(factor, 1);
    return {
      type,
      factor,
      originalMaxPositionEmbeddings: Number(r.original_max_position_embeddings || maxPositionEmbeddings),
      betaFast: Number(r.beta_fast || 32),
      betaSlow: Number(r.beta_slow || 1),
      truncate: (r.truncate as unknown) !== false,
      attentionFactor,
    };
  }
  throw new Error(`oracle: rope_scaling type ${type} not implemented`);
}

export function readReferenceConfig(modelDir: string): ReferenceConfig {
  const c = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8')) as Record<string, any>;
  const numHeads = c.num_attention_heads as number;
  const headDim = (c.head_dim as number | undefined) ?? c.hidden_size / numHeads;
  const eos = c.eos_token_id;
  return {
    architecture: c.architectures[0],
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads: c.num_key_value_heads ?? numHeads,
    headDim,
    vocabSize: c.vocab_size,
    rmsNormEps: c.rms_norm_eps,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    bosTokenId: c.bos_token_id ?? null,
    eosTokenIds: eos === null || eos === undefined ? [] : Array.isArray(eos) ? eos : [eos],
    rope: {
      theta: c.rope_theta ?? c.rope_parameters?.rope_theta ?? 10000,
      // The rotated dims: Phi-3's partial_rotary_factor rotates int(head_dim * factor) of them.
      headDim: Math.floor(headDim * (c.partial_rotary_factor ?? 1)),
      maxPositionEmbeddings: c.max_position_embeddings,
      scaling: parseRopeScaling(c.rope_scaling ?? c.rope_parameters, c.max_position_embeddings, c),
    },
  };
}

/** Reads every tensor of a single-file or sharded checkpoint, decoded to f64. */
export function readAllTensors(modelDir: string): Map<string, Float64Array> {
  const indexFile = path.join(modelDir, 'model.safetensors.index.json');
  const files = existsSync(indexFile)
    ? [...new Set(Object.values((JSON.parse(readFileSync(indexFile, 'utf8')) as { weight_map: Record<string, string> }).weight_map))]
    : ['model.safetensors'];
  const tensors = new Map<string, Float64Array>();
  for (const f of files) {
    const parsed: SafetensorsFile = parseSafetensors(path.join(modelDir, f));
    for (const name of Object.keys(parsed.header)) tensors.set(name, readTensor(parsed, name).values);
  }
  return tensors;
}

/** y = W x for a row-major W of shape [rows, x.length]. */
export function matVec(w: Float64Array, x: Float64Array, rows: number, bias: Float64Array | null = null): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = bias ? bias[r] : 0;
    const offset = r * cols;
    for (let c = 0; c < cols; c++) sum += w[offset + c] * x[c];
    y[r] = sum;
  }
  return y;
}

export function rmsNorm(x: Float64Array, weight: Float64Array, eps: number): Float64Array {
  let sumSquares = 0;
  for (const v of x) sumSquares += v * v;
  const scale = 1 / Math.sqrt(sumSquares / x.length + eps);
  return x.map((v, i) => v * scale * weight[i]);
}

export const silu = (v: number) => v / (1 + Math.exp(-v));

/**
 * One token's attention inputs: q, k, v projections (with biases where the folder has them), Qwen3's
 * per-head q_norm / k_norm, then RoPE at `position` times the rope's attention scaling. Returns the
 * query heads and KV heads as separate vectors and v as one [numKvHeads * headDim] row; rawQ holds the
 * query heads before RoPE (after the norm, times the attention scaling: q[h] is rawQ[h] rotated at
 * `position`), which Dual Chunk Attention re-rotates at its remapped positions.
 */
export function projectHeads(
  w: LayerWeights,
  h: Float64Array,
  position: number,
  invFreq: Float64Array,
  rope: RopeConfig,
  c: ReferenceConfig,
): { q: Float64Array[]; k: Float64Array[]; v: Float64Array; rawQ: Float64Array[] } {
  const d = c.headDim;
  const q = matVec(w.q, h, c.numHeads * d, w.qBias);
  const k = matVec(w.k, h, c.numKvHeads * d, w.kBias);
  const v = matVec(w.v, h, c.numKvHeads * d, w.vBias);
  const factor = attentionScaling(rope);
  // The head after its norm, times the attention factor (a scalar, so it commutes with the rotation).
  const unrotated = (x: Float64Array, i: number, norm: Float64Array | null | undefined) => {
    let out: Float64Array = x.slice(i * d, (i + 1) * d);
    if (norm) out = rmsNorm(out, norm, c.rmsNormEps);
    if (factor !== 1) for (let e = 0; e < d; e++) out[e] *= factor;
    return out;
  };
  const rotated = (x: Float64Array) => {
    const out = x.slice();
    applyRope(out, position, invFreq);
    return out;
  };
  const rawQ = Array.from({ length: c.numHeads }, (_, i) => unrotated(q, i, w.qNorm));
  return {
    q: rawQ.map(rotated),
    k: Array.from({ length: c.numKvHeads }, (_, i) => rotated(unrotated(k, i, w.kNorm))),
    v,
    rawQ,
  };
}

/**
 * The layer tensors of a folder (biases and q/k norms where present). Phi-3's fused qkv_proj is cut
 * into its q, k, v rows and gate_up_proj into gate (first half) and up (second half), as
 * Phi3Attention / Phi3MLP slice their outputs.
 */
export function layerWeights(tensors: Map<string, Float64Array>, l: number, need: (name: string) => Float64Array, c?: ReferenceConfig): LayerWeights {
  const p = `model.layers.${l}`;
  const qkv = tensors.get(`${p}.self_attn.qkv_proj.weight`);
  const gateUp = tensors.get(`${p}.mlp.gate_up_proj.weight`);
  if (qkv || gateUp) {
    if (!c) throw new Error('oracle: fused projections need the config');
    const D = c.hiddenSize;
    const qRows = c.numHeads * c.headDim;
    const kvRows = c.numKvHeads * c.headDim;
    tensors = new Map(tensors);
    if (qkv) {
      tensors.set(`${p}.self_attn.q_proj.weight`, qkv.slice(0, qRows * D));
      tensors.set(`${p}.self_attn.k_proj.weight`, qkv.slice(qRows * D, (qRows + kvRows) * D));
      tensors.set(`${p}.self_attn.v_proj.weight`, qkv.slice((qRows + kvRows) * D));
    }
    if (gateUp) {
      const F = c.intermediateSize;
      tensors.set(`${p}.mlp.gate_proj.weight`, gateUp.slice(0, F * D));
      tensors.set(`${p}.mlp.up_proj.weight`, gateUp.slice(F * D));
    }
    const t = tensors;
    need = (name) => {
      const v = t.get(name);
      if (!v) throw new Error(`oracle: no tensor ${name}`);
      return v;
    };
  }
  return {
    q: need(`${p}.self_attn.q_proj.weight`),
    k: need(`${p}.self_attn.k_proj.weight`),
    v: need(`${p}.self_attn.v_proj.weight`),
    o: need(`${p}.self_attn.o_proj.weight`),
    qBias: tensors.get(`${p}.self_attn.q_proj.bias`) ?? null,
    kBias: tensors.get(`${p}.self_attn.k_proj.bias`) ?? null,
    vBias: tensors.get(`${p}.self_attn.v_proj.bias`) ?? null,
    oBias: tensors.get(`${p}.self_attn.o_proj.bias`) ?? null,
    gateBias: tensors.get(`${p}.mlp.gate_proj.bias`) ?? null,
    upBias: tensors.get(`${p}.mlp.up_proj.bias`) ?? null,
    downBias: tensors.get(`${p}.mlp.down_proj.bias`) ?? null,
    gate: need(`${p}.mlp.gate_proj.weight`),
    up: need(`${p}.mlp.up_proj.weight`),
    down: need(`${p}.mlp.down_proj.weight`),
    inputNorm: need(`${p}.input_layernorm.weight`),
    postNorm: need(`${p}.post_attention_layernorm.weight`),
    qNorm: tensors.get(`${p}.self_attn.q_norm.weight`) ?? null,
    kNorm: tensors.get(`${p}.self_attn.k_norm.weight`) ?? null,
  };
}

/** The rest of a layer after attention: output projection and residual, then the SwiGLU MLP and residual (in place on x). */
export function attentionOutAndMlp(x: Float64Array, attended: Float64Array, w: LayerWeights, c: ReferenceConfig): void {
  const attnOut = matVec(w.o, attended, c.hiddenSize, w.oBias ?? null);
  for (let e = 0; e < c.hiddenSize; e++) x[e] += attnOut[e];
  const h = rmsNorm(x, w.postNorm, c.rmsNormEps);
  const gate = matVec(w.gate, h, c.intermediateSize, w.gateBias ?? null);
  const up = matVec(w.up, h, c.intermediateSize, w.upBias ?? null);
  const mlpOut = matVec(w.down, gate.map((gv, e) => silu(gv) * up[e]), c.hiddenSize, w.downBias ?? null);
  for (let e = 0; e < c.hiddenSize; e++) x[e] += mlpOut[e];
}

export class ReferenceModel {
  private constructor(
    readonly config: ReferenceConfig,
    private readonly embed: Float64Array,
    private readonly layers: LayerWeights[],
    private readonly finalNorm: Float64Array,
    private readonly lmHead: Float64Array,
  ) {}

  static load(modelDir: string): ReferenceModel {
    const config = readReferenceConfig(modelDir);
    const tensors = readAllTensors(modelDir);
    const need = (name: string): Float64Array => {
      const t = tensors.get(name);
      if (!t) throw new Error(`oracle: ${modelDir} has no tensor ${name}`);
      return t;
    };
    const layers: LayerWeights[] = [];
    for (let l = 0; l < config.numLayers; l++) layers.push(layerWeights(tensors, l, need, config));
    const embed = need('model.embed_tokens.weight');
    const lmHead = config.tieWordEmbeddings ? embed : need('lm_head.weight');
    return new ReferenceModel(config, embed, layers, need('model.norm.weight'), lmHead);
  }

  emptyCache(): KvCache {
    return Array.from({ length: this.config.numLayers }, () =>
      Array.from({ length: this.config.numKvHeads }, () => ({ keys: [], values: [] })),
    );
  }

  /**
   * Runs `tokens` at `positions` on top of `cache` (appending their keys/values to it) and returns
   * the logits of every token. Dynamic-NTK RoPE uses max(positions) + 1 of this call as seq_len.
   */
  forwardStep(tokens: number[], positions: number[], cache: KvCache): Float64Array[] {
    const c = this.config;
    if (positions.length !== tokens.length) throw new Error('oracle: tokens and positions differ in length');
    if (tokens.length === 0) return [];
    const invFreq = inverseFrequencies(c.rope, Math.max(...positions) + 1);
    const d = c.headDim;
    const groupSize = c.numHeads / c.numKvHeads;
    const scale = 1 / Math.sqrt(d);
    const states = tokens.map((t) => {
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new Error(`oracle: token ${t} out of vocabulary`);
      return this.embed.slice(t * c.hiddenSize, (t + 1) * c.hiddenSize);
    });

    for (let l = 0; l < c.numLayers; l++) {
      const w = this.layers[l];
      const heads = cache[l];
      // Project every token first and append its k/v; visibleUpTo[i][g] is the last cache index token i may read.
      const queries: Float64Array[] = [];
      const visibleUpTo: number[][] = [];
      for (let i = 0; i < tokens.length; i++) {
        const h = rmsNorm(states[i], w.inputNorm, c.rmsNormEps);
        const p = projectHeads(w, h, positions[i], invFreq, c.rope, c);
        const q = new Float64Array(c.numHeads * d);
        p.q.forEach((qh, hq) => q.set(qh, hq * d));
        visibleUpTo.push(
          heads.map((head, g) => {
            head.keys.push(p.k[g]);
            head.values.push(p.v.slice(g * d, (g + 1) * d));
            return head.keys.length - 1;
          }),
        );
        queries.push(q);
      }

      for (let i = 0; i < tokens.length; i++) {
        const attended = new Float64Array(c.numHeads * d);
        for (let hq = 0; hq < c.numHeads; hq++) {
          const g = Math.floor(hq / groupSize);
          const q = queries[i].subarray(hq * d, (hq + 1) * d);
          const keys = heads[g].keys;
          const values = heads[g].values;
          const count = visibleUpTo[i][g] + 1;
          const scores = new Float64Array(count);
          let maxScore = -Infinity;
          for (let j = 0; j < count; j++) {
            const key = keys[j];
            let dot = 0;
            for (let e = 0; e < d; e++) dot += q[e] * key[e];
            scores[j] = dot * scale;
            if (scores[j] > maxScore) maxScore = scores[j];
          }
          let total = 0;
          for (let j = 0; j < count; j++) {
            scores[j] = Math.exp(scores[j] - maxScore);
            total += scores[j];
          }
          const out = attended.subarray(hq * d, (hq + 1) * d);
          for (let j = 0; j < count; j++) {
            const value = values[j];
            const p = scores[j] / total;
            for (let e = 0; e < d; e++) out[e] += p * value[e];
          }
        }
        attentionOutAndMlp(states[i], attended, w, c);
      }
    }
    return states.map((x) => matVec(this.lmHead, rmsNorm(x, this.finalNorm, c.rmsNormEps), c.vocabSize));
  }

  /** Logits for a fresh sequence; positions default to 0..n-1. */
  logits(tokens: number[], positions: number[] = tokens.map((_, i) => i)): Float64Array[] {
    return this.forwardStep(tokens, positions, this.emptyCache());
  }
}

export function argmax(values: Float64Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

export function logSoftmaxAt(logits: Float64Array, index: number): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return logits[index] - max - Math.log(sum);
}

/** Logits per token (positions default to 0..n-1). */
export function referenceLogits(modelDir: string, tokens: number[], positions?: number[]): Float64Array[] {
  return ReferenceModel.load(modelDir).logits(tokens, positions);
}

/**
 * Greedy continuation: prefills `prompt`, then decodes one token at a time through the KV cache.
 * Returns the n new tokens (fewer if one of `stopIds` is produced; the stop token is included).
 */
export function referenceGreedy(modelDir: string, prompt: number[], n: number, opts: { stopIds?: number[] } = {}): number[] {
  const model = ReferenceModel.load(modelDir);
  const cache = model.emptyCache();
  const generated: number[] = [];
  if (n <= 0 || prompt.length === 0) return generated;
  let logits = model.forwardStep(prompt, prompt.map((_, i) => i), cache).at(-1)!;
  for (let step = 0; step < n; step++) {
    const next = argmax(logits);
    generated.push(next);
    if (opts.stopIds?.includes(next) || step === n - 1) break;
    logits = model.forwardStep([next], [prompt.length + step], cache)[0];
  }
  return generated;
}

/** nll[i] = -log p(tokens[i+1] | tokens[0..i]); length n-1. */
export function referenceNll(modelDir: string, tokens: number[], positions?: number[]): Float64Array {
  const logits = referenceLogits(modelDir, tokens, positions);
  const nll = new Float64Array(Math.max(0, tokens.length - 1));
  for (let i = 0; i + 1 < tokens.length; i++) nll[i] = -logSoftmaxAt(logits[i], tokens[i + 1]);
  return nll;
}

/** A deep copy, so a test can branch one history into several. */
export function cloneCache(cache: KvCache): KvCache {
  return cache.map((heads) => heads.map((h) => ({ keys: h.keys.map((k) => k.slice()), values: h.values.map((v) => v.slice()) })));
}

/** Concatenates caches entry-wise (e.g. independently prefilled chunks), in argument order. */
export function concatCaches(...caches: KvCache[]): KvCache {
  return caches[0].map((heads, l) =>
    heads.map((_, g) => ({
      keys: caches.flatMap((c) => c[l][g].keys),
      values: caches.flatMap((c) => c[l][g].values),
    })),
  );
}

/** Keeps, per layer and KV head, the entries `keep(layer, head)` lists (in that order). */
export function gatherCache(cache: KvCache, keep: (layer: number, head: number) => number[]): KvCache {
  return cache.map((heads, l) =>
    heads.map((h, g) => {
      const indices = keep(l, g);
      return { keys: indices.map((j) => h.keys[j]), values: indices.map((j) => h.values[j]) };
    }),
  );
}

/**
 * RoPE inverse frequencies as Hugging Face transformers computes them (modeling_rope_utils.py), in f64:
 * default, linear, dynamic (NTK), llama3 and yarn. Applied with HF's rotate_half convention: dimension i pairs
 * with i + head_dim/2, not (2i, 2i+1).
 */

export type RopeScalingConfig =
  | { type: 'linear'; factor: number }
  | { type: 'dynamic'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    }
  | {
      /** YaRN (Peng et al. 2023) as transformers' _compute_yarn_parameters defines it. */
      type: 'yarn';
      factor: number;
      originalMaxPositionEmbeddings: number;
      betaFast: number;
      betaSlow: number;
      truncate: boolean;
      /** Multiplies cos and sin (so q and k): attention_factor, or from mscale / mscale_all_dim. */
      attentionFactor: number;
    }
  | {
      /** LongRoPE (Phi-3), transformers' _compute_longrope_parameters + longrope_frequency_update. */
      type: 'longrope';
      shortFactor: number[];
      longFactor: number[];
      originalMaxPositionEmbeddings: number;
      attentionFactor: number;
    };

export interface RopeConfig {
  theta: number;
  headDim: number;
  maxPositionEmbeddings: number;
  scaling: RopeScalingConfig | null;
}

function defaultInverseFrequencies(base: number, dim: number): Float64Array {
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / base ** ((2 * i) / dim);
  return inv;
}

/**
 * `seqLen` matters only for dynamic scaling. HF (`dynamic_rope_update`) sets it to
 * `max(position_ids) + 1` of the current forward call, and `_compute_dynamic_ntk_parameters` clamps it
 * below by max_position_embeddings, so the base changes only once positions pass the trained length:
 *   base' = base * ((factor * seqLen / maxPos) - (factor - 1)) ** (dim / (dim - 2)).
 * (HF also keeps the largest seqLen seen in a stateful cache; for increasing positions, as in prefill then
 * decode, that is the same as using the current call's maximum, which is what the oracle does.)
 */
export function inverseFrequencies(rope: RopeConfig, seqLen: number): Float64Array {
  const dim = rope.headDim;
  const s = rope.scaling;
  if (s === null) return defaultInverseFrequencies(rope.theta, dim);
  if (s.type === 'linear') return defaultInverseFrequencies(rope.theta, dim).map((f) => f / s.factor);
  if (s.type === 'dynamic') {
    const maxPos = rope.maxPositionEmbeddings;
    const len = Math.max(seqLen, maxPos);
    const base = rope.theta * ((s.factor * len) / maxPos - (s.factor - 1)) ** (dim / (dim - 2));
    return defaultInverseFrequencies(base, dim);
  }
  if (s.type === 'longrope') {
    // Long factors when the call's max position + 1 passes the original window, else short.
    const ext = seqLen > s.originalMaxPositionEmbeddings ? s.longFactor : s.shortFactor;
    return defaultInverseFrequencies(rope.theta, dim).map((f, i) => f / ext[i]!);
  }
  if (s.type === 'yarn') {
    // Dimension index where a wavelength turns `rotations` times over the original window.
    const correctionDim = (rotations: number) =>
      (dim * Math.log(s.originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(rope.theta));
    let low = correctionDim(s.betaFast);
    let high = correctionDim(s.betaSlow);
    if (s.truncate) {
      low = Math.floor(low);
      high = Math.ceil(high);
    }
    low = Math.max(low, 0);
    high = Math.min(high, dim - 1);
    if (low === high) high += 0.001;
    return defaultInverseFrequencies(rope.theta, dim).map((f, i) => {
      const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
      // ramp 0: the pair keeps its frequency (extrapolation); ramp 1: divided by factor (interpolation).
      return f * (1 - ramp) + (f / s.factor) * ramp;
    });
  }
  // llama3 (HF `_compute_llama3_parameters`): long wavelengths are divided by factor, short ones kept,
  // the band in between interpolated smoothly.
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return defaultInverseFrequencies(rope.theta, dim).map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f;
    if (wavelen > lowFreqWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** What multiplies cos and sin (transformers' attention_scaling): yarn's attention factor, else 1. */
export function attentionScaling(rope: RopeConfig): number {
  const s = rope.scaling;
  return s?.type === 'yarn' || s?.type === 'longrope' ? s.attentionFactor : 1;
}

/**
 * Rotates one head vector in place to `position`: x*cos + rotate_half(x)*sin on its first
 * 2 * invFreq.length dims (all of them, or Phi-3's partial rotary dims); the rest pass unchanged.
 */
export function applyRope(x: Float64Array, position: number, invFreq: Float64Array): void {
  const half = invFreq.length;
  for (let i = 0; i < half; i++) {
    const angle = position * invFreq[i];
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const a = x[i];
    const b = x[i + half];
    x[i] = a * cos - b * sin;
    x[i + half] = b * cos + a * sin;
  }
}

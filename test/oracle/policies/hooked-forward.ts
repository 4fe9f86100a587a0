// A float64 forward step with the hooks the reference policies need: post-RoPE queries and the
// layer's cache between projection and attention, an editable cache whose entries remember which
// chunk token they came from, and an optional query-head-expanded cache (the reference code caches
// after repeat_kv). Without hooks it computes exactly what test/oracle/forward.ts computes (a test
// checks this to 1e-12); it exists because that pass runs all layers in one call.
import { attentionOutAndMlp, layerWeights, matVec, projectHeads, readAllTensors as loadTensors, readReferenceConfig, rmsNorm, type LayerWeights, type ReferenceConfig } from '../forward.js';
import { inverseFrequencies, type RopeConfig } from '../rope.js';

/** Where a cache entry came from: a chunk's input index, or (chunk -1) a re-encoded / generated token. */
export interface EntryTag {
  chunk: number;
  index: number;
}

export interface Entry {
  key: Float64Array;
  value: Float64Array;
  tag: EntryTag;
  /** Step that appended the entry and the token's order in it: the by-position mask reads these. */
  step: number;
  order: number;
}

/** One cache set: a KV head, or a query head when the cache is expanded. */
export type CacheSet = Entry[];

export interface HookedCache {
  expanded: boolean;
  /** sets[layer][set]. */
  sets: CacheSet[][];
}

export type MaskMode = 'by-position' | 'bottom-right';

export interface LayerView {
  layer: number;
  /** queries[token][queryHead]: post-RoPE query vectors of this step's tokens. */
  queries: Float64Array[][];
  /** The layer's cache sets, this step's entries already appended; hooks may remove entries. */
  sets: CacheSet[];
  /** Identifies this step's entries (Entry.step) for visibleEntries. */
  stepId: number;
  stepTokens: number;
}

export interface StepOptions {
  tags: EntryTag[];
  mask?: MaskMode;
  /** Runs per layer after k/v are appended, before attention. */
  beforeAttention?: (view: LayerView) => void;
  rope?: RopeConfig;
  /**
   * Replaces softmax attention for query head `head` of step token `token`: gets the query before
   * RoPE, the head's cache set (this step's entries appended) and the step's inverse frequencies;
   * returns the head's attended vector (head_dim values).
   */
  attend?: (a: { layer: number; token: number; head: number; rawQuery: Float64Array; set: CacheSet; stepTokens: number; invFreq: Float64Array }) => Float64Array;
}


export class HookedModel {
  private stepCounter = 0;
  private constructor(
    readonly config: ReferenceConfig,
    private readonly embed: Float64Array,
    private readonly layers: LayerWeights[],
    private readonly finalNorm: Float64Array,
    private readonly lmHead: Float64Array,
  ) {}

  static load(modelDir: string): HookedModel {
    const config = readReferenceConfig(modelDir);
    const t = loadTensors(modelDir);
    const need = (name: string) => {
      const v = t.get(name);
      if (!v) throw new Error(`hooked-forward: ${modelDir} has no tensor ${name}`);
      return v;
    };
    const layers = Array.from({ length: config.numLayers }, (_, l): LayerWeights => layerWeights(t, l, need, config));
    const embed = need('model.embed_tokens.weight');
    return new HookedModel(config, embed, layers, need('model.norm.weight'), config.tieWordEmbeddings ? embed : need('lm_head.weight'));
  }

  emptyCache(expanded: boolean): HookedCache {
    const n = expanded ? this.config.numHeads : this.config.numKvHeads;
    return { expanded, sets: Array.from({ length: this.config.numLayers }, () => Array.from({ length: n }, () => [])) };
  }

  /** The cache set query head `h` reads. */
  setOf(cache: HookedCache, h: number): number {
    return cache.expanded ? h : Math.floor(h / (this.config.numHeads / this.config.numKvHeads));
  }

  /** The KV head whose projections fill cache set `s`. */
  kvHeadOf(cache: HookedCache, s: number): number {
    return cache.expanded ? Math.floor(s / (this.config.numHeads / this.config.numKvHeads)) : s;
  }

  /** Runs `tokens` at `positions` on top of `cache` and returns every token's logits. */
  step(tokens: number[], positions: number[], cache: HookedCache, opts: StepOptions): Float64Array[] {
    const c = this.config;
    const rope = opts.rope ?? c.rope;
    const invFreq = inverseFrequencies(rope, Math.max(...positions) + 1);
    const d = c.headDim;
    const scale = 1 / Math.sqrt(d);
    const stepId = ++this.stepCounter;
    const states = tokens.map((t) => this.embed.slice(t * c.hiddenSize, (t + 1) * c.hiddenSize));

    for (let l = 0; l < c.numLayers; l++) {
      const w = this.layers[l];
      const sets = cache.sets[l];
      const queries: Float64Array[][] = [];
      const rawQueries: Float64Array[][] = [];
      for (let i = 0; i < tokens.length; i++) {
        const h = rmsNorm(states[i], w.inputNorm, c.rmsNormEps);
        const { q: perHead, k: keys, v, rawQ } = projectHeads(w, h, positions[i], invFreq, rope, c);
        rawQueries.push(rawQ);
        queries.push(perHead);
        sets.forEach((set, s) => {
          const g = this.kvHeadOf(cache, s);
          set.push({ key: keys[g], value: v.slice(g * d, (g + 1) * d), tag: opts.tags[i], step: stepId, order: i });
        });
      }
      opts.beforeAttention?.({ layer: l, queries, sets, stepId, stepTokens: tokens.length });

      // When no hook removed anything, this step's entries are the set's tail in order and token i
      // sees a prefix of the set: read it in place instead of filtering (same entries, same order).
      const tailStart = sets.map((set) => contiguousStepTail(set, stepId, tokens.length));
      for (let i = 0; i < tokens.length; i++) {
        const attended = new Float64Array(c.numHeads * d);
        for (let hq = 0; hq < c.numHeads; hq++) {
          const s = this.setOf(cache, hq);
          const set = sets[s];
          if (opts.attend) {
            attended.set(opts.attend({ layer: l, token: i, head: hq, rawQuery: rawQueries[i][hq], set, stepTokens: tokens.length, invFreq }), hq * d);
            continue;
          }
          const mask = opts.mask ?? 'by-position';
          const fast = mask === 'by-position' && tailStart[s] >= 0;
          const visible = fast ? set : visibleEntries(set, stepId, i, tokens.length, mask);
          const count = fast ? tailStart[s] + i + 1 : visible.length;
          const q = queries[i][hq];
          const scores = new Float64Array(count);
          let maxScore = -Infinity;
          for (let j = 0; j < count; j++) {
            const key = visible[j].key;
            let dot = 0;
            for (let e = 0; e < d; e++) dot += q[e] * key[e];
            scores[j] = dot * scale;
            maxScore = Math.max(maxScore, scores[j]);
          }
          let total = 0;
          for (let j = 0; j < count; j++) {
            scores[j] = Math.exp(scores[j] - maxScore);
            total += scores[j];
          }
          for (let j = 0; j < count; j++) {
            const value = visible[j].value;
            const p = scores[j] / total;
            for (let e = 0; e < d; e++) attended[hq * d + e] += p * value[e];
          }
        }
        attentionOutAndMlp(states[i], attended, w, c);
      }
    }
    return states.map((x) => matVec(this.lmHead, rmsNorm(x, this.finalNorm, c.rmsNormEps), c.vocabSize));
  }
}

/** Index where this step's n entries start when they are the set's last n, in order; else -1. */
function contiguousStepTail(set: CacheSet, stepId: number, n: number): number {
  const start = set.length - n;
  if (start < 0) return -1;
  for (let i = 0; i < n; i++) if (set[start + i].step !== stepId || set[start + i].order !== i) return -1;
  for (let j = 0; j < start; j++) if (set[j].step === stepId) return -1;
  return start;
}

/**
 * What step token i attends to. by-position: older entries plus this step's entries up to i, whatever
 * was removed. bottom-right (FlashAttention's causal alignment on a shortened cache, the reference
 * code): the first len - n + i + 1 entries of the set.
 */
export function visibleEntries(set: CacheSet, stepId: number, i: number, n: number, mask: MaskMode): Entry[] {
  if (mask === 'bottom-right') return set.slice(0, Math.max(0, set.length - n + i + 1));
  return set.filter((e) => e.step !== stepId || e.order <= i);
}

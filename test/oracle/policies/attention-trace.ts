// The attention trace's reference (docs/attention.md; the engine's trace.attention,
// engine/src/policy/trace-attention.cpp), on plain float64 arrays, sharing no code with the engine.
// At one layer of a step (a LayerView, after the hook's evictions when `after` is calib, before them
// when kv): for each query head h and each of the step's last `window` rows i, the softmax over the
// entries row i may see (visibleEntries under the step's mask) of h's cache set, with scale
// 1/sqrt(head_dim); the probabilities are averaged over the rows (each row sums to 1, so each head's
// mass sums to 1). Each cache entry of the set then counts into
//   - bin floor(p * bins / positions) (capped at bins - 1), p its position in the layout: chunk c's
//     input index i at offsets[c] + min(i, len_c - 1), the question's i at questionOffset + i
//     (clamped to [0, positions));
//   - region sink (cache-order index k < sinkSize), else recent (k >= n - recentSize), else middle;
//   - the same regions within its group: the maximal run of consecutive entries of one chunk (the
//     question: chunk -1), groups numbered by first appearance in set 0's order, then any new ones.
import { visibleEntries, type CacheSet, type HookedCache, type LayerView, type MaskMode } from './hooked-forward.js';

export interface TraceSettings {
  window: number;
  bins: number;
  sinkSize: number;
  recentSize: number;
  /** Layout: where each chunk starts, where the question starts, and the total. */
  offsets: number[];
  chunkLengths: number[];
  questionOffset: number;
  positions: number;
}

export interface TraceLayer {
  rows: number;
  cacheLengths: number[];
  groups: number[];
  /** [queryHead][bin] */
  bins: number[][];
  /** [queryHead][sink, middle, recent] */
  regions: number[][];
  /** [queryHead][3 * group + region] */
  groupRegions: number[][];
}

/** The mean attention of the step's last rows per query head over its set's entries, in set order. */
export function observationMass(view: LayerView, setOf: (h: number) => number, window: number, mask: MaskMode): number[][] {
  const H = view.queries[0]!.length;
  const n = view.stepTokens;
  const rows = Math.min(window, n);
  const d = view.queries[0]![0]!.length;
  const out: number[][] = [];
  for (let h = 0; h < H; h++) {
    const set = view.sets[setOf(h)]!;
    const mass = new Array<number>(set.length).fill(0);
    for (let i = n - rows; i < n; i++) {
      const vis = new Set(visibleEntries(set, view.stepId, i, n, mask));
      const idx = set.map((e, j) => (vis.has(e) ? j : -1)).filter((j) => j >= 0);
      if (idx.length === 0) continue;
      const logits = idx.map((j) => {
        let dot = 0;
        for (let e = 0; e < d; e++) dot += view.queries[i]![h]![e]! * set[j]!.key[e]!;
        return dot / Math.sqrt(d);
      });
      const m = Math.max(...logits);
      const ex = logits.map((x) => Math.exp(x - m));
      const z = ex.reduce((a, b) => a + b, 0);
      idx.forEach((j, t) => { mass[j] += ex[t]! / z / rows; });
    }
    out.push(mass);
  }
  return out;
}

export function traceLayer(view: LayerView, cache: HookedCache, setOf: (h: number) => number, s: TraceSettings, mask: MaskMode): TraceLayer {
  const mass = observationMass(view, setOf, s.window, mask);
  const sets: CacheSet[] = view.sets;
  const groups: number[] = [];
  const groupOf = sets.map((set) => {
    const g: number[] = [];
    let j = 0;
    while (j < set.length) {
      const c = set[j]!.tag.chunk;
      let e = j;
      while (e < set.length && set[e]!.tag.chunk === c) e++;
      if (!groups.includes(c)) groups.push(c);
      const gi = groups.indexOf(c);
      for (let k = j; k < e; k++) g.push(3 * gi + region(k - j, e - j, s));
      j = e;
    }
    return g;
  });
  const position = (chunk: number, index: number) => {
    let p: number;
    if (chunk < 0) p = s.questionOffset + index;
    else if (chunk < s.offsets.length) p = s.offsets[chunk]! + Math.min(index, s.chunkLengths[chunk]! - 1);
    else p = index;
    return Math.min(s.positions - 1, Math.max(0, p));
  };
  const H = mass.length;
  const bins = Array.from({ length: H }, () => new Array<number>(s.bins).fill(0));
  const regions = Array.from({ length: H }, () => [0, 0, 0]);
  const groupRegions = Array.from({ length: H }, () => new Array<number>(3 * groups.length).fill(0));
  for (let h = 0; h < H; h++) {
    const si = setOf(h);
    const set = sets[si]!;
    set.forEach((e, k) => {
      const p = position(e.tag.chunk, e.tag.index);
      bins[h]![Math.min(s.bins - 1, Math.floor((p * s.bins) / s.positions))]! += mass[h]![k]!;
      regions[h]![region(k, set.length, s)]! += mass[h]![k]!;
      groupRegions[h]![groupOf[si]![k]!]! += mass[h]![k]!;
    });
  }
  void cache;
  return { rows: Math.min(s.window, view.stepTokens), cacheLengths: sets.map((x) => x.length), groups, bins, regions, groupRegions };
}

/** 0 sink, 1 middle, 2 recent for cache-order index k of n entries. */
function region(k: number, n: number, s: TraceSettings): number {
  if (k < s.sinkSize) return 0;
  if (k >= n - s.recentSize) return 2;
  return 1;
}

// Attention calibration applied to one layer of a hooked step: builds the scoring rows' attention
// over the layer's cache, asks attnCalib which entries to evict and removes them from the cache
// sets, before the step's attention runs. Used for the re-encoded question (calib.stage reencode)
// and inside a chunk's prefill (calib.stage chunk).
import { attentionRow } from './attention.js';
import { attnCalib, type CalibGqa, type CalibRegion } from './attn-calib.js';
import { visibleEntries, type CacheSet, type HookedModel, type HookedCache, type LayerView } from './hooked-forward.js';

export interface CalibLayerSettings {
  region: CalibRegion;
  threshold: number;
  sinkSize: number;
  recentSize: number;
  /** Scoring rows: the last N step tokens; 0 = all of them. */
  queryRows: number;
  equalise: boolean;
  gqa: CalibGqa;
  strictEdges: boolean;
  /** The span [start, end) of a set's current entries that regions and candidates cover. */
  span: (set: CacheSet) => [number, number];
}

/** Evicts calibration outliers from view.sets in place; returns the evicted positions per cache set. */
export function calibrateLayer(model: HookedModel, cache: HookedCache, view: LayerView, s: CalibLayerSettings): number[][] {
  const { numHeads, numKvHeads } = model.config;
  const n = view.stepTokens;
  const rows = s.queryRows === 0 ? n : Math.min(s.queryRows, n);
  const L = view.sets[0].length;
  if (view.sets.some((set) => set.length !== L)) throw new Error('reference calibration: cache sets differ in length at this layer');
  // probs[h][row][j]: causal (by position) softmax of the scoring rows over the set's entries.
  const probs = Array.from({ length: numHeads }, (_, h) => {
    const set = view.sets[model.setOf(cache, h)];
    return Array.from({ length: rows }, (_, r) => {
      const i = n - rows + r;
      const visible = new Set(visibleEntries(set, view.stepId, i, n, 'by-position'));
      const shown = set.filter((e) => visible.has(e));
      const p = attentionRow(view.queries[i][h], shown.map((e) => e.key));
      const full = new Array<number>(L).fill(0);
      let next = 0;
      set.forEach((e, j) => { if (visible.has(e)) full[j] = p[next++]; });
      return full;
    });
  });
  const [spanStart, spanEnd] = s.span(view.sets[0]);
  const decision = attnCalib({
    probs, numKvHeads, gqa: s.gqa, region: s.region, threshold: s.threshold, sinkSize: s.sinkSize,
    recentSize: s.recentSize, spanStart, spanEnd, strictEdges: s.strictEdges, equalise: s.equalise,
  });
  // Decisions are per query head (expanded-heads) or per KV head; map them onto the cache sets.
  const evictedPerSet = view.sets.map((_, set) => {
    if (s.gqa === 'expanded-heads') {
      if (!cache.expanded) throw new Error('reference calibration: expanded-heads needs an expanded cache');
      return decision.evicted[set];
    }
    return decision.evicted[model.kvHeadOf(cache, set)];
  });
  view.sets.forEach((set, i) => {
    const drop = new Set(evictedPerSet[i]);
    const kept = set.filter((_, j) => !drop.has(j));
    set.splice(0, set.length, ...kept);
  });
  return evictedPerSet;
}

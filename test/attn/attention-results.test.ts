// results/attention.ts on hand-made traces: region sizes, densities and the head-class rule of
// docs/attention.md worked out by hand, KV heads as their group's mean, bins tiling the layout.
import { describe, expect, it } from 'vitest';
import { binRows, boundaries, chunkRows, classifyHead, regionRows, regionSizes, type ConfigAttention } from '../../results/attention.js';

// One layer, 4 query heads over 2 KV heads, a 1000-entry cache: sink 100, middle 800, recent 100.
function config(regions: number[][]): ConfigAttention {
  return {
    config: 'x', heads: 4, kvHeads: 2, cacheSets: 2,
    trace: {
      window: 8, bins: 3, after: 'calib', sinkSize: 100, recentSize: 100, positions: 1000, chunkOffsets: [0, 500], questionOffset: 990,
      layers: [{ rows: 8, cacheLengths: [1000, 1000], groups: [0, 1, -1], bins: regions.map((r) => [r[0]!, r[1]!, r[2]!]), regions, groupRegions: regions.map((r) => [r[0]!, r[1]! / 2, 0, 0, r[1]! / 2, r[2]! / 2, 0, 0, r[2]! / 2]) }],
    },
  };
}

describe('region sizes and head classes', () => {
  it('regions of short caches: the sink first, then the recent tokens, then the middle', () => {
    expect(regionSizes(1000, 100, 100)).toEqual([100, 800, 100]);
    expect(regionSizes(150, 100, 100)).toEqual([100, 0, 50]);
    expect(regionSizes(60, 100, 100)).toEqual([60, 0, 0]);
  });
  it('the rule: uniform within 2x, mountain when the middle is densest, U-shape when an end is', () => {
    // densities = share / (size / n): sink 0.1 of the cache, middle 0.8, recent 0.1
    expect(classifyHead([1, 1, 1])).toBe('uniform');
    expect(classifyHead([1.9, 1, 1.5])).toBe('uniform');
    expect(classifyHead([3, 0.5, 3])).toBe('U-shape');
    expect(classifyHead([5, 0.5, 0.1])).toBe('U-shape'); // a sink head counts as U-shape (one end)
    expect(classifyHead([0.1, 1.2, 0.2])).toBe('mountain');
    expect(classifyHead([1, NaN, 3])).toBe('U-shape'); // no middle entries: never a mountain
  });
  it('region rows: shares sum to 1, densities by region size, classes, KV heads the group mean', () => {
    const rows = regionRows(config([[0.5, 0.4, 0.1], [0.1, 0.8, 0.1], [0.01, 0.98, 0.01], [0.1, 0.2, 0.7]]));
    expect(rows.map((r) => `${r.head_kind}${r.head}`)).toEqual(['query0', 'query1', 'query2', 'query3', 'kv0', 'kv1']);
    for (const r of rows) expect(r.sink + r.middle + r.recent).toBeCloseTo(1, 12);
    expect(rows[0]!.sink_density).toBeCloseTo(5, 12); // 0.5 / 0.1
    expect(rows[0]!.middle_density).toBeCloseTo(0.5, 12); // 0.4 / 0.8
    expect(rows.map((r) => r.class)).toEqual(['U-shape', 'uniform', 'mountain', 'U-shape', 'U-shape', 'U-shape']);
    expect(rows[4]!.sink).toBeCloseTo(0.3, 12); // (0.5 + 0.1) / 2
    expect(rows[5]!.recent).toBeCloseTo(0.355, 12);
    expect(rows.every((r) => r.layer === 1)).toBe(true);
  });
  it('bins tile the layout; chunk rows per group; boundaries at the later chunks and the question', () => {
    const c = config([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]);
    const b = binRows(c).filter((r) => r.head_kind === 'query' && r.head === 0);
    expect(b.map((r) => [r.start, r.end])).toEqual([[0, 334], [334, 667], [667, 1000]]);
    const ch = chunkRows(c).filter((r) => r.head_kind === 'query' && r.head === 0);
    expect(ch.map((r) => r.group)).toEqual(['chunk 0', 'chunk 1', 'question']);
    expect(ch.reduce((a, r) => a + r.total, 0)).toBeCloseTo(1, 12);
    expect(boundaries(c.trace)).toEqual([{ at: 500, label: 'chunk 1' }, { at: 990, label: 'question' }]);
  });
});

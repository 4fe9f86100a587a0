// Hand-computed checks of the Dual Chunk Attention reference (attn-dca.ts).
import { describe, expect, it } from 'vitest';
import { dcaAttendHead, dcaPosition, dcaQueryPosition, dcaSizes } from './attn-dca.js';
import type { CacheSet } from './hooked-forward.js';

describe('attn-dca reference', () => {
  it('sizes: the released defaults are 3/4 and 1/16 of the trained window', () => {
    expect(dcaSizes(0, 0, 4096)).toEqual({ chunkSize: 3072, localWindow: 256, chunkLen: 2816 });
    expect(dcaSizes(0, 0, 512)).toEqual({ chunkSize: 384, localWindow: 32, chunkLen: 352 });
    expect(() => dcaSizes(8, 8, 512)).toThrow(/local window 8 must be below chunk size 8/);
  });

  it('positions: keys wrap at the chunk length; queries per part, no distance above the chunk size', () => {
    const z = dcaSizes(10, 3, 0); // c = 7
    expect([0, 6, 7, 13, 20].map((p) => dcaPosition(p, z))).toEqual([0, 6, 0, 6, 6]);
    // p = 16: chunk 2, i = 2. Intra keys 14..16 at i; successive chunk 1 (7..13) at min(2 + 7, 10) = 9;
    // inter chunk 0 at min(13, 10) = 10.
    expect(dcaQueryPosition(16, 15, z)).toBe(2);
    expect(dcaQueryPosition(16, 8, z)).toBe(9);
    expect(dcaQueryPosition(16, 3, z)).toBe(10);
    // p = 12 (chunk 1, i = 5): successive capped at s = 10.
    expect(dcaQueryPosition(12, 1, z)).toBe(10);
    for (let p = 0; p < 40; p++)
      for (let j = 0; j <= p; j++) {
        const dist = dcaQueryPosition(p, j, z) - dcaPosition(j, z);
        expect(dist).toBeGreaterThanOrEqual(0);
        expect(dist).toBeLessThanOrEqual(10);
      }
  });

  it('one softmax over all parts: with zero frequencies (no rotation) the weights are m_j / sum m', () => {
    // 2-dimensional keys [ln(m_j)/2, 0] and query [2, 0]: score m_j-proportional, scale 1/sqrt(2).
    const m = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const sq = Math.sqrt(2);
    const set: CacheSet = m.map((mj, j) => ({
      key: Float64Array.from([(Math.log(mj) / 2) * sq, 0]), value: Float64Array.from([j, 1]),
      tag: { chunk: 0, index: j }, step: 1, order: j,
    }));
    const z = dcaSizes(4, 1, 0); // c = 3: p = 8 has intra 6..8, successive 3..5, inter 0..2
    const out = dcaAttendHead(Float64Array.from([2, 0]), 8, set, Float64Array.from([0]), z);
    const total = m.reduce((a, b) => a + b, 0);
    expect(out[0]).toBeCloseTo(m.reduce((a, mj, j) => a + (mj / total) * j, 0), 12);
    expect(out[1]).toBeCloseTo(1, 12);
  });
});

import { describe, expect, it } from 'vitest';
import { applyRope, inverseFrequencies, type RopeConfig } from '../oracle/rope.js';

const base: RopeConfig = { theta: 10000, headDim: 8, maxPositionEmbeddings: 16, scaling: null };

describe('inverseFrequencies', () => {
  it('default: theta^(-2i/d)', () => {
    const inv = inverseFrequencies(base, 1);
    [1, 0.1, 0.01, 0.001].forEach((v, i) => expect(inv[i]).toBeCloseTo(v, 14));
  });

  it('linear divides every frequency by the factor', () => {
    const inv = inverseFrequencies({ ...base, scaling: { type: 'linear', factor: 4 } }, 1);
    [0.25, 0.025, 0.0025, 0.00025].forEach((v, i) => expect(inv[i]).toBeCloseTo(v, 14));
  });

  it('dynamic keeps the base up to max_position_embeddings, then scales it by HF formula', () => {
    const dynamic = { ...base, scaling: { type: 'dynamic' as const, factor: 2 } };
    expect(inverseFrequencies(dynamic, 16)).toEqual(inverseFrequencies(base, 16));
    expect(inverseFrequencies(dynamic, 3)).toEqual(inverseFrequencies(base, 3));
    // seq_len 32 = 2 × max: base' = 10000 · (2·32/16 − 1)^(8/6) = 10000 · 3^(4/3)
    const scaledBase = 10000 * 3 ** (4 / 3);
    const inv = inverseFrequencies(dynamic, 32);
    expect(inv[0]).toBe(1);
    expect(inv[1]).toBeCloseTo(scaledBase ** -0.25, 14);
    expect(inv[3]).toBeCloseTo(scaledBase ** -0.75, 16);
  });

  it('llama3 keeps short wavelengths, divides long ones by factor, interpolates the band between', () => {
    // Wavelengths 2π/inv: 6.3, 63, 628, 6283. Bands: high_freq_wavelen = 1024/4 = 256, low_freq_wavelen = 1024.
    const llama3 = {
      ...base,
      scaling: { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 1024 },
    };
    const inv = inverseFrequencies(llama3, 1);
    expect(inv[0]).toBeCloseTo(1, 14);
    expect(inv[1]).toBeCloseTo(0.1, 14);
    const smooth = (1024 / ((2 * Math.PI) / 0.01) - 1) / 3; // ≈ 0.21: closer to the divided end
    expect(smooth).toBeGreaterThan(0.2);
    expect(smooth).toBeLessThan(0.22);
    expect(inv[2]).toBeCloseTo((1 - smooth) * 0.00125 + smooth * 0.01, 14);
    expect(inv[3]).toBeCloseTo(0.001 / 8, 16);
  });
});

describe('applyRope', () => {
  it('pairs dimension i with i + d/2 (rotate_half), not adjacent pairs', () => {
    const x = new Float64Array([1, 2, 3, 4]);
    const inv = new Float64Array([0.5, 0.25]);
    applyRope(x, 2, inv);
    const [a0, a1] = [1, 0.5];
    expect(x[0]).toBeCloseTo(1 * Math.cos(a0) - 3 * Math.sin(a0), 14);
    expect(x[2]).toBeCloseTo(3 * Math.cos(a0) + 1 * Math.sin(a0), 14);
    expect(x[1]).toBeCloseTo(2 * Math.cos(a1) - 4 * Math.sin(a1), 14);
    expect(x[3]).toBeCloseTo(4 * Math.cos(a1) + 2 * Math.sin(a1), 14);
  });

  it('position 0 is the identity', () => {
    const x = new Float64Array([0.3, -1, 2, 5]);
    applyRope(x, 0, new Float64Array([1, 0.1]));
    expect([...x]).toEqual([0.3, -1, 2, 5]);
  });
});

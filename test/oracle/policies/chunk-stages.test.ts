// Hand-computed cases for the reference chunk split and chunk eviction.
import { describe, expect, it } from 'vitest';
import { autoBudget, chunkCount, splitChars, splitTokens } from './chunk-split.js';
import { chunkScore, selectChunks } from './chunk-evict.js';

describe('chunk split', () => {
  it('counts ceil(n / room) chunks, or the fixed PCW count', () => {
    expect(chunkCount(10, 4)).toBe(3);
    expect(chunkCount(8, 4)).toBe(2);
    expect(chunkCount(0, 4)).toBe(1);
    expect(chunkCount(10, 4, 5)).toBe(5);
  });

  it('auto budget leaves room for the question and the answer', () => {
    expect(autoBudget(512, 20, 32)).toBe(460);
    expect(() => autoBudget(50, 30, 20)).toThrow(/no room/);
  });

  it('cuts tokens into slices whose sizes differ by at most one', () => {
    expect(splitTokens([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]);
    expect(splitTokens([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 3)).toEqual([[0, 1, 2], [3, 4, 5, 6], [7, 8, 9, 10]]);
    expect(() => splitTokens([1, 2], 3)).toThrow(/non-empty/);
  });

  it('cuts characters with the remainder in the last slice', () => {
    expect(splitChars('abcdefghijk', 3)).toEqual(['abc', 'def', 'ghijk']);
  });

  it('cuts characters by code point, as Python slices str', () => {
    expect(splitChars('abcdefg', 3)).toEqual(['ab', 'cd', 'efg']);
    expect(splitChars('a😀bc😀d', 2)).toEqual(['a😀b', 'c😀d']);
  });
});

describe('chunk eviction', () => {
  it('scores the mean NLL, or the reference sum / (n - 1), optionally over the last N tokens', () => {
    expect(chunkScore([1, 2, 3], 'mean-nll')).toBeCloseTo(2, 15);
    expect(chunkScore([1, 2, 3], 'reference-sum')).toBeCloseTo(3, 15);
    expect(chunkScore([1, 2, 3], 'mean-nll', 2)).toBeCloseTo(2.5, 15);
    expect(() => chunkScore([4], 'reference-sum')).toThrow(/2\+ question tokens/);
  });

  it('keeps the k lowest scores, ties to the earlier chunk, document order restored', () => {
    const scores = [2.0, 0.5, 1.0, 0.5, 3.0];
    expect(selectChunks(scores, 3)).toEqual([1, 2, 3]);
    expect(selectChunks(scores, 3, false)).toEqual([1, 3, 2]);
    expect(selectChunks(scores, 1)).toEqual([1]);
    expect(selectChunks(scores, 9)).toEqual([0, 1, 2, 3, 4]);
  });
});

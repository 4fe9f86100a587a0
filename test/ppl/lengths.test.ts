// The arithmetic of a perplexity sweep: --len parsing, the cut of a length into context / query /
// evaluated tokens, eval's chunk split on token ids, and the budgets that must fit the trained window.
import { describe, expect, it } from 'vitest';
import { cutWindow, evalTokensAt, lengthProblem, parseLengths } from '../../cli/runners/ppl-lengths.js';
import { configForContext, pplChunkBudget, splitIntoChunks } from '../../cli/runners/ppl-sample.js';
import { resolveConfig } from '../../engine/policy-config.js';

describe('parseLengths', () => {
  it('reads k suffixes, plain counts and doubling ranges, sorted and without repeats', () => {
    expect(parseLengths('2k,4k,8k,16k,32k,64k,128k')).toEqual([2048, 4096, 8192, 16384, 32768, 65536, 131072]);
    expect(parseLengths('131072')).toEqual([131072]);
    expect(parseLengths('2k..128k')).toEqual([2048, 4096, 8192, 16384, 32768, 65536, 131072]);
    expect(parseLengths('512..8k')).toEqual([512, 1024, 2048, 4096, 8192]);
    expect(parseLengths('8k, 512, 2k..4k, 4096')).toEqual([512, 2048, 4096, 8192]);
    expect(parseLengths('1k..1k')).toEqual([1024]);
  });

  it('rejects bad lengths with the offending text in the message', () => {
    expect(() => parseLengths('')).toThrow(/at least one length/);
    expect(() => parseLengths('2q')).toThrow(/"2q"/);
    expect(() => parseLengths('0')).toThrow(/positive/);
    expect(() => parseLengths('-4k')).toThrow(/"-4k"/);
    expect(() => parseLengths('8k..2k')).toThrow(/range "8k..2k": the end 2048 is below the start 8192/);
    expect(() => parseLengths('3k..16k')).toThrow(/16384 is not 3072 doubled/);
  });
});

describe('the cut of a length', () => {
  it('caps the evaluated tokens at half the length', () => {
    expect(evalTokensAt(131072, 1024)).toBe(1024);
    expect(evalTokensAt(2048, 1024)).toBe(1024);
    expect(evalTokensAt(512, 1024)).toBe(256);
    expect(evalTokensAt(513, 1024)).toBe(256);
  });

  it('splits the first L tokens into body ‖ query ‖ evaluated, in order and without overlap', () => {
    const tokens = Int32Array.from({ length: 1000 }, (_, i) => i);
    const cut = cutWindow(tokens, 600, 100, 20);
    expect(cut.context.length).toBe(500);
    expect([...cut.body]).toEqual([...tokens.subarray(0, 480)]);
    expect([...cut.query]).toEqual([...tokens.subarray(480, 500)]);
    expect([...cut.evaluated]).toEqual([...tokens.subarray(500, 600)]);
  });

  it('names a length too short for the query and the evaluated tokens', () => {
    expect(lengthProblem(4096, 1024, 64)).toBeUndefined();
    expect(lengthProblem(100, 1024, 64)).toMatch(/length 100 is too short: 50 evaluated and 64 query tokens leave -14 context tokens/);
    expect(lengthProblem(1, 1024, 64)).toMatch(/no token to evaluate/);
  });
});

describe('chunks for a chunked config', () => {
  it('gives every chunk the BOS head and an even slice of the body, within the budget', () => {
    const body = Int32Array.from([1, ...Array.from({ length: 1000 }, (_, i) => 10 + i)]);
    const chunks = splitIntoChunks(body, 1, 128);
    expect(chunks.length).toBe(Math.ceil(1000 / 127));
    for (const c of chunks) {
      expect(c[0]).toBe(1);
      expect(c.length).toBeLessThanOrEqual(128);
    }
    const sizes = chunks.map((c) => c.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(chunks.flatMap((c) => [...c.subarray(1)])).toEqual([...body.subarray(1)]);
  });

  it('adds no head when the document has no BOS', () => {
    const body = Int32Array.from({ length: 300 }, (_, i) => 10 + i);
    const chunks = splitIntoChunks(body, null, 100);
    expect(chunks.length).toBe(3);
    expect(chunks.flatMap((c) => [...c])).toEqual([...body]);
  });

  it('leaves room for the query and the evaluated tokens inside the trained window', () => {
    const pc = resolveConfig('parallelcomp');
    expect(pplChunkBudget(pc, 4096, 131072, 1024, 64)).toBe(4096 - 64 - 1024);
    expect(pplChunkBudget(pc, 512, 8192, 128, 64)).toBe(320);
    expect(pplChunkBudget(resolveConfig('parallelcomp', ['chunk.budget=200']), 512, 8192, 1024, 64)).toBe(200);
    expect(() => pplChunkBudget(pc, 512, 8192, 1024, 64)).toThrow(/trained window \(512 tokens\) leaves -576 tokens per chunk after 64 query and 1024 evaluated tokens/);
  });

  it('lets unchunked configs read the whole context unless full.maxTokens is set', () => {
    expect(configForContext(resolveConfig('full'), 7000)['full.maxTokens']).toBe(7000);
    expect(configForContext(resolveConfig('full', ['full.maxTokens=300']), 7000)['full.maxTokens']).toBe(300);
    expect(configForContext(resolveConfig('ntk'), 7000)['full.maxTokens']).toBe(131072);
    expect(configForContext(resolveConfig('parallelcomp'), 7000)['full.maxTokens']).toBe(0);
  });
});

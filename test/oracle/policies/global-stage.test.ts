// Hand-computed cases for the reference global stage. Chunk 0: BOS + 3 context tokens + 2 question
// tokens; chunk 2: BOS + 4 context tokens + 2 question tokens.
import { describe, expect, it } from 'vitest';
import { globalStage, type GlobalInput, type KeptChunk } from './global-stage.js';

const chunk = (c: number, contextLength: number, entries: number[]): KeptChunk => ({ chunk: c, contextLength, startsWithBos: true, entries: [entries] });
const flat = (r: ReturnType<typeof globalStage>) => r.entries[0].map((e) => `${e.chunk}:${e.index}`);
const base = (kept: KeptChunk[], over: Partial<GlobalInput> = {}): GlobalInput => ({
  kept, allContextLengths: [4, 9, 5], dropChunkQuestion: true, bos: 'keep-first', questionStart: 'longest-kept', ...over,
});

describe('global stage', () => {
  const full = [chunk(0, 4, [0, 1, 2, 3, 4, 5]), chunk(2, 5, [0, 1, 2, 3, 4, 5, 6])];

  it('drops chunk questions and later BOS, question after the longest kept chunk', () => {
    const r = globalStage(base(full));
    expect(flat(r)).toEqual(['0:0', '0:1', '0:2', '0:3', '2:1', '2:2', '2:3', '2:4']);
    expect(r.questionStart).toBe(5);
    expect(globalStage(base(full, { questionStart: 'longest-all' })).questionStart).toBe(9);
  });

  it('keep-all keeps later BOS; keeping the question keeps its entries', () => {
    expect(flat(globalStage(base(full, { bos: 'keep-all' })))).toContain('2:0');
    expect(flat(globalStage(base(full, { dropChunkQuestion: false })))).toContain('2:6');
  });

  it('after KV eviction, keep-first drops only a BOS; drop-index0 drops the first kept token', () => {
    const evicted = [chunk(0, 4, [0, 2, 4, 5]), chunk(2, 5, [0, 2, 4, 5, 6])];
    expect(flat(globalStage(base(evicted)))).toEqual(['0:0', '0:2', '2:2', '2:4']);
    const referenceEvicted = [chunk(0, 4, [0, 2, 4, 5]), chunk(2, 5, [2, 4, 5, 6])];
    expect(flat(globalStage(base(referenceEvicted, { bos: 'drop-index0' })))).toEqual(['0:0', '0:2', '2:4']);
  });
});

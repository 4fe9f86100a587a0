// Hand-computed cases for the reference SnapKV-style eviction. Keys are 1-dimensional with
// k_j = ln(m_j) / 2 and the query is [2], so q·k_j / sqrt(1) = ln(m_j) and attention is m_j / sum(m).
import { describe, expect, it } from 'vitest';
import { kvEvict, pool1d, snapkvWholePrompt, streamingKeep, windowScores } from './kv-evict.js';

const keysFor = (weights: number[]) => weights.map((m) => [Math.log(m) / 2]);
const KEYS = keysFor([4, 1, 2, 1, 2]);

describe('kv eviction scores', () => {
  it('sums causal attention of the window rows over the candidates', () => {
    // row 0 is token 3 (sees 0..3: 4,1,2,1 / 8); row 1 is token 4 (sees all: 4,1,2,1,2 / 10)
    const raw = windowScores([[2], [2]], KEYS, 0, 3);
    [0.5 + 0.4, 0.125 + 0.1, 0.25 + 0.2].forEach((v, i) => expect(raw[i]).toBeCloseTo(v, 12));
  });

  it('pools with -inf padding for max and zero padding over the full kernel for avg', () => {
    expect(pool1d([0.4, 0.1, 0.2, 0.1], 3, 'max')).toEqual([0.4, 0.4, 0.2, 0.2]);
    const avg = pool1d([0.4, 0.1, 0.2, 0.1], 3, 'avg');
    [0.5 / 3, 0.7 / 3, 0.4 / 3, 0.3 / 3].forEach((v, i) => expect(avg[i]).toBeCloseTo(v, 12));
  });

  it('keeps the top-capacity candidates; pooling changes which', () => {
    const base = { queries: [[[2]]], keys: [KEYS], candidateStart: 0, candidateEnd: 4, gqa: 'group-sum' as const };
    expect(kvEvict({ ...base, capacity: 2, kernel: 1, pooling: 'max' }).keep).toEqual([[0, 2]]);
    expect(kvEvict({ ...base, capacity: 2, kernel: 3, pooling: 'max' }).keep).toEqual([[0, 1]]);
    expect(kvEvict({ ...base, capacity: 1, kernel: 1, pooling: 'avg' }).keep).toEqual([[0]]);
    expect(kvEvict({ ...base, capacity: 1, kernel: 3, pooling: 'avg' }).keep).toEqual([[1]]);
    expect(kvEvict({ ...base, capacity: 9, kernel: 1, pooling: 'max' }).keep).toEqual([[0, 1, 2, 3]]);
    // a candidate range that starts after BOS returns absolute indices
    expect(kvEvict({ ...base, candidateStart: 1, capacity: 1, kernel: 1, pooling: 'max' }).keep).toEqual([[2]]);
  });

  it('GQA: group-sum keeps one set per KV head, expanded-heads one per query head', () => {
    // head 1 has q = [-2]: attention 1/m_j / 3.25 = [1, 4, 2, 4, 2] / 13
    const base = { queries: [[[2]], [[-2]]], keys: [KEYS], candidateStart: 0, candidateEnd: 4, kernel: 1, pooling: 'max' as const };
    const grouped = kvEvict({ ...base, capacity: 2, gqa: 'group-sum' });
    [0.4 + 1 / 13, 0.1 + 4 / 13, 0.2 + 2 / 13, 0.1 + 4 / 13].forEach((v, i) => expect(grouped.pooled[0][i]).toBeCloseTo(v, 12));
    expect(grouped.keep).toEqual([[0, 1]]);
    expect(kvEvict({ ...base, capacity: 1, gqa: 'group-sum' }).keep).toEqual([[0]]);
    expect(kvEvict({ ...base, capacity: 1, gqa: 'expanded-heads' }).keep).toEqual([[0], [1]]);
  });
});

describe('whole-prompt baselines', () => {
  it('snapkv keeps capacity - w scored tokens plus the window', () => {
    const r = snapkvWholePrompt({ queries: [[[2]]], keys: [KEYS], capacity: 3, kernel: 1, pooling: 'max', gqa: 'group-sum' });
    expect(r.keep).toEqual([[0, 2, 4]]);
  });

  it('streaming keeps sink and recent window', () => {
    expect(streamingKeep(10, 2, 3)).toEqual([0, 1, 7, 8, 9]);
    expect(streamingKeep(5, 2, 3)).toEqual([0, 1, 2, 3, 4]);
  });
});

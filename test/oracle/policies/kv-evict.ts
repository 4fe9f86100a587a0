// Reference SnapKV-style KV eviction: per chunk for ParallelComp (stage 4) and over the whole prompt
// for the snapkv baseline. What is computed, for one layer:
//   1. The observation rows are the last w tokens of the input (for a chunk: the question tail).
//      Row r (input index L-w+r) attends causally to keys 0..L-w+r: P = softmax(q·k/sqrt(d)).
//   2. raw[j] = sum over rows of P[row][j], for each candidate key j. GQA group-sum adds the raw
//      scores of the query heads of a KV head (then one kept set per KV head); expanded-heads keeps
//      one set per query head, as the reference code does after repeat_kv.
//   3. The raw scores of the candidate range are pooled along the sequence with stride 1 and
//      `kernel` (odd) wide windows: max ignores positions outside the range (torch pads with -inf),
//      avg divides by the kernel size (torch avg_pool1d counts the zero padding).
//   4. Keep the `capacity` candidates with the highest pooled score (ties: lower index), ascending.
import { attentionRow, topIndices } from './attention.js';

export type Pooling = 'max' | 'avg';
export type KvGqa = 'group-sum' | 'expanded-heads';

export interface KvEvictInput {
  /** [queryHead][row][d]: post-RoPE queries of the last w input tokens, in input order. */
  queries: number[][][];
  /** [kvHead][L][d]: post-RoPE keys of the whole input. */
  keys: number[][][];
  /** Candidate keys are [candidateStart, candidateEnd). */
  candidateStart: number;
  candidateEnd: number;
  capacity: number;
  kernel: number;
  pooling: Pooling;
  gqa: KvGqa;
}

export interface KvEvictResult {
  /** Per kept set (KV head for group-sum, query head for expanded-heads): pooled score of each candidate. */
  pooled: number[][];
  /** Per kept set: absolute input indices of the kept candidates, ascending. */
  keep: number[][];
}

/** Raw cumulative attention of one query head over the candidate range. */
export function windowScores(queries: number[][], keys: number[][], start: number, end: number): number[] {
  const L = keys.length;
  const w = queries.length;
  const raw = new Array<number>(end - start).fill(0);
  queries.forEach((q, r) => {
    const visible = keys.slice(0, L - w + r + 1);
    const p = attentionRow(q, visible);
    for (let j = start; j < end; j++) if (j < visible.length) raw[j - start] += p[j];
  });
  return raw;
}

export function pool1d(values: number[], kernel: number, pooling: Pooling): number[] {
  const half = Math.floor(kernel / 2);
  return values.map((_, i) => {
    const inRange = values.slice(Math.max(0, i - half), Math.min(values.length, i + half + 1));
    return pooling === 'max' ? Math.max(...inRange) : inRange.reduce((a, b) => a + b, 0) / kernel;
  });
}

export function kvEvict(input: KvEvictInput): KvEvictResult {
  const { queries, keys, candidateStart: s, candidateEnd: e } = input;
  const groupSize = queries.length / keys.length;
  const perQueryHead = queries.map((rows, h) => windowScores(rows, keys[Math.floor(h / groupSize)], s, e));
  const sets =
    input.gqa === 'expanded-heads'
      ? perQueryHead
      : keys.map((_, g) => perQueryHead.slice(g * groupSize, (g + 1) * groupSize).reduce((acc, r) => acc.map((v, j) => v + r[j])));
  const pooled = sets.map((raw) => pool1d(raw, input.kernel, input.pooling));
  const keep = pooled.map((p) => topIndices(p, Math.min(input.capacity, e - s)).map((j) => j + s));
  return { pooled, keep };
}

/**
 * The snapkv baseline on a whole prompt of L tokens: candidates are all but the last w tokens,
 * `capacity` counts the window, which is always kept (the reference code's snapkv option).
 */
export function snapkvWholePrompt(input: Omit<KvEvictInput, 'candidateStart' | 'candidateEnd'>): KvEvictResult {
  const L = input.keys[0].length;
  const w = input.queries[0].length;
  const r = kvEvict({ ...input, candidateStart: 0, candidateEnd: L - w, capacity: Math.max(0, input.capacity - w) });
  const window = Array.from({ length: w }, (_, i) => L - w + i);
  return { pooled: r.pooled, keep: r.keep.map((k) => [...k, ...window]) };
}

/** The streaming baseline's cache: the first `sink` and the last `window` of L entries. */
export function streamingKeep(L: number, sink: number, window: number): number[] {
  if (sink + window >= L) return Array.from({ length: L }, (_, i) => i);
  return [...Array.from({ length: sink }, (_, i) => i), ...Array.from({ length: window }, (_, i) => L - window + i)];
}

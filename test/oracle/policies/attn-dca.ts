// Reference for attn-dca: ChunkLlama's Dual Chunk Attention (An et al., ICML 2024, Sec. 3), written
// per key. Sizes: chunk size s (dca.chunkSize, 0 = floor(3W/4)), local window w (dca.localWindow,
// 0 = floor(W/16)), chunk length c = s - w. Cache entries are every token in order (no eviction),
// so entry j of a set is the token at absolute index j; its key is RoPE'd at position j mod c.
// The query of the token at absolute index p (chunk n = floor(p/c), i = p mod c) scores every key
// j <= p, rotating its pre-RoPE query at a position chosen by the key's chunk m = floor(j/c):
//   m = n       intra-chunk:  position i
//   m = n - 1   successive:   position min(i + c, s)
//   m < n - 1   inter-chunk:  position min(2c - 1, s)
// and the head's output is one softmax over all those scores (scale 1/sqrt(head_dim)) times the
// values. GQA: the query head's own set (the forward passes it). Nothing here is shared with the engine.
import { applyRope } from '../rope.js';
import type { CacheSet } from './hooked-forward.js';

export interface DcaSizes {
  chunkSize: number;
  localWindow: number;
  chunkLen: number;
}

export function dcaSizes(chunkSize: number, localWindow: number, trainedWindow: number): DcaSizes {
  const s = chunkSize > 0 ? chunkSize : Math.floor((trainedWindow * 3) / 4);
  const w = localWindow > 0 ? localWindow : Math.floor(trainedWindow / 16);
  if (s - w < 1) throw new Error(`dca: local window ${w} must be below chunk size ${s}`);
  return { chunkSize: s, localWindow: w, chunkLen: s - w };
}

/** The position the token at absolute index p is cached (and RoPE'd) at. */
export function dcaPosition(p: number, z: DcaSizes): number {
  return p % z.chunkLen;
}

/** The query position used against a key at absolute index j, for the query at index p >= j. */
export function dcaQueryPosition(p: number, j: number, z: DcaSizes): number {
  const c = z.chunkLen, n = Math.floor(p / c), m = Math.floor(j / c), i = p % c;
  if (m === n) return i;
  if (m === n - 1) return Math.min(i + c, z.chunkSize);
  return Math.min(2 * c - 1, z.chunkSize);
}

/** One head's attended vector for the query at absolute index p over set entries 0..p. */
export function dcaAttendHead(rawQuery: Float64Array, p: number, set: CacheSet, invFreq: Float64Array, z: DcaSizes): Float64Array {
  const d = rawQuery.length, scale = 1 / Math.sqrt(d);
  const rotated = new Map<number, Float64Array>();
  const queryAt = (pos: number) => {
    let q = rotated.get(pos);
    if (!q) {
      q = Float64Array.from(rawQuery);
      applyRope(q, pos, invFreq);
      rotated.set(pos, q);
    }
    return q;
  };
  const scores: number[] = [];
  for (let j = 0; j <= p; j++) {
    const q = queryAt(dcaQueryPosition(p, j, z));
    let dot = 0;
    for (let e = 0; e < d; e++) dot += q[e] * set[j].key[e];
    scores.push(dot * scale);
  }
  const mx = Math.max(...scores);
  let total = 0;
  const w = scores.map((s) => { const x = Math.exp(s - mx); total += x; return x; });
  const out = new Float64Array(d);
  for (let j = 0; j <= p; j++) for (let e = 0; e < d; e++) out[e] += (w[j] / total) * set[j].value[e];
  return out;
}

/** The forward's attend hook: the query's absolute index is its entry's index in the set. */
export function dcaAttend(z: DcaSizes) {
  return (a: { token: number; rawQuery: Float64Array; set: CacheSet; stepTokens: number; invFreq: Float64Array }) =>
    dcaAttendHead(a.rawQuery, a.set.length - a.stepTokens + a.token, a.set, a.invFreq, z);
}

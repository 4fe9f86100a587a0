// Reference attention calibration (stage 5), for one layer. What is computed:
//   1. a_h[j] = mean over the last `queryRows` question rows of softmax attention P_h[row][j], for
//      every key j of the layer's cache at that moment (cached context + the question's own keys).
//   2. GQA: expanded-heads keeps one cache per query head (the code); group-mean / group-max score a
//      KV head by the mean / max of a_h over its query heads.
//   3. Candidates of set s: keys j of the span with a_s[j] > lambda that lie in the rule's region.
//      The span is the cached context [0, C) (paper) or every key [0, L) (code: regionOver =
//      context-and-question). With p = j - spanStart and n = span length:
//        half-open (paper): sink p < S,  recent p >= n - R,  middle S <= p < n - R
//        strict (code):     sink p < S,  recent p > n - R,   middle S < p < n - R
//      `all` takes every candidate of the span.
//   4. Equalise (code): every set evicts m = max_s |candidates_s| tokens; a set with fewer adds its
//      lowest-a_s tokens among the span's non-candidates (ties: lower index).
//   The evicted tokens leave that set's cache for the rest of the re-encoding and for decoding.
export type CalibRegion = 'sink' | 'recent' | 'middle' | 'all';
export type CalibGqa = 'group-mean' | 'group-max' | 'expanded-heads';

export interface CalibInput {
  /** [queryHead][row][L]: attention probabilities of the last scoring rows over all L keys. */
  probs: number[][][];
  numKvHeads: number;
  gqa: CalibGqa;
  region: CalibRegion;
  threshold: number;
  sinkSize: number;
  recentSize: number;
  spanStart: number;
  spanEnd: number;
  strictEdges: boolean;
  equalise: boolean;
}

export interface CalibResult {
  /** Per set: a_s[j] for all L keys. */
  scores: number[][];
  /** Per set: outliers found in the region, ascending. */
  outliers: number[][];
  /** Per set: every evicted key (outliers plus equalisation padding), ascending. */
  evicted: number[][];
}

export function inRegion(p: number, n: number, region: CalibRegion, S: number, R: number, strict: boolean): boolean {
  switch (region) {
    case 'all': return true;
    case 'sink': return p < S;
    case 'recent': return strict ? p > n - R : p >= n - R;
    case 'middle': return strict ? p > S && p < n - R : p >= S && p < n - R;
  }
}

function meanRows(rows: number[][]): number[] {
  return rows[0].map((_, j) => rows.reduce((acc, r) => acc + r[j], 0) / rows.length);
}

export function calibScores(probs: number[][][], numKvHeads: number, gqa: CalibGqa): number[][] {
  const perHead = probs.map(meanRows);
  if (gqa === 'expanded-heads') return perHead;
  const group = perHead.length / numKvHeads;
  return Array.from({ length: numKvHeads }, (_, g) => {
    const members = perHead.slice(g * group, (g + 1) * group);
    return members[0].map((_, j) => {
      const vals = members.map((m) => m[j]);
      return gqa === 'group-max' ? Math.max(...vals) : vals.reduce((a, b) => a + b, 0) / vals.length;
    });
  });
}

export function attnCalib(input: CalibInput): CalibResult {
  const scores = calibScores(input.probs, input.numKvHeads, input.gqa);
  const n = input.spanEnd - input.spanStart;
  const span = Array.from({ length: n }, (_, p) => input.spanStart + p);
  const outliers = scores.map((a) =>
    span.filter((j) => a[j] > input.threshold && inRegion(j - input.spanStart, n, input.region, input.sinkSize, input.recentSize, input.strictEdges)),
  );
  const most = Math.max(...outliers.map((o) => o.length));
  const evicted = scores.map((a, s) => {
    if (!input.equalise || outliers[s].length === most) return outliers[s];
    const taken = new Set(outliers[s]);
    const pool = span.filter((j) => !taken.has(j)).sort((x, y) => a[x] - a[y] || x - y);
    return [...outliers[s], ...pool.slice(0, most - outliers[s].length)].sort((x, y) => x - y);
  });
  return { scores, outliers, evicted };
}

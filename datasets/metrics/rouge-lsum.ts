// Google rouge-score's rougeLsum F-measure (no stemmer), as HF `evaluate.load("rouge")` returns it with
// use_aggregator=False — InfiniteBench's En.Sum metric. Unlike pltrdy's ROUGE-L (rouge.ts): tokens are
// lower-cased [a-z0-9]+ runs (other text vanishes), sentences are lines, the LCS union is over token
// positions of each reference line, and hits are capped by token counts on both sides.

function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .split(/\s+/)
    .filter((token) => /^[a-z0-9]+$/.test(token));
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}

/** Positions in `ref` of one LCS with `cand`: diagonal on match, else left if strictly larger, else up. */
function lcsPositions(ref: readonly string[], cand: readonly string[]): number[] {
  const width = cand.length + 1;
  const table = new Int32Array((ref.length + 1) * width);
  for (let i = 1; i <= ref.length; i++) {
    for (let j = 1; j <= cand.length; j++) {
      table[i * width + j] =
        ref[i - 1] === cand[j - 1]
          ? table[(i - 1) * width + j - 1] + 1
          : Math.max(table[(i - 1) * width + j], table[i * width + j - 1]);
    }
  }
  const positions: number[] = [];
  let i = ref.length;
  let j = cand.length;
  while (i > 0 && j > 0) {
    if (ref[i - 1] === cand[j - 1]) {
      positions.push(i - 1);
      i -= 1;
      j -= 1;
    } else if (table[i * width + j - 1] > table[(i - 1) * width + j]) j -= 1;
    else i -= 1;
  }
  return positions;
}

function counts(sentences: readonly string[][]): Map<string, number> {
  const result = new Map<string, number>();
  for (const s of sentences) for (const t of s) result.set(t, (result.get(t) ?? 0) + 1);
  return result;
}

/** rougeLsum F of one candidate against one reference. */
export function rougeLsumF(target: string, prediction: string): number {
  const refSents = lines(target).map(tokenize);
  const candSents = lines(prediction).map(tokenize);
  if (refSents.length === 0 || candSents.length === 0) return 0;
  const m = refSents.reduce((sum, s) => sum + s.length, 0);
  const n = candSents.reduce((sum, s) => sum + s.length, 0);
  if (m === 0 || n === 0) return 0;
  const refCounts = counts(refSents);
  const candCounts = counts(candSents);
  let hits = 0;
  for (const ref of refSents) {
    const union = new Set<number>();
    for (const cand of candSents) for (const p of lcsPositions(ref, cand)) union.add(p);
    for (const p of [...union].sort((x, y) => x - y)) {
      const token = ref[p];
      const c = candCounts.get(token) ?? 0;
      const r = refCounts.get(token) ?? 0;
      if (c > 0 && r > 0) {
        hits += 1;
        candCounts.set(token, c - 1);
        refCounts.set(token, r - 1);
      }
    }
  }
  const recall = hits / m;
  const precision = hits / n;
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0.0;
}

/** `score_multi`: the best F over references (the first one on ties, as numpy.argmax picks). */
export function rougeLsumMulti(targets: readonly string[], prediction: string): number {
  let best = -Infinity;
  for (const t of targets) best = Math.max(best, rougeLsumF(t, prediction));
  return targets.length === 0 ? 0 : best;
}

// LongBench `code_sim_score`: the first prediction line that is not a comment or a fence,
// compared with fuzzywuzzy 0.18 `fuzz.ratio` (difflib flavour; see sequence-matcher.ts).
import { difflibRatio } from './sequence-matcher.js';
import { lstripNewlines } from './python-compat.js';
import { pyRound } from './py-round.js';

/** fuzzywuzzy 0.18 `fuzz.ratio` without python-Levenshtein: an int in 0..100. */
export function fuzzRatio(a: string, b: string): number {
  if (a === b) return 100;
  if (a.length === 0 || b.length === 0) return 0;
  return pyRound(100 * difflibRatio(a, b));
}

/** First line (after leading newlines) containing none of '`', '#', '//'; "" if every line does. */
export function firstCodeLine(prediction: string): string {
  for (const line of lstripNewlines(prediction).split('\n')) {
    if (!line.includes('`') && !line.includes('#') && !line.includes('//')) return line;
  }
  return '';
}

export function codeSimScore(prediction: string, groundTruth: string): number {
  return fuzzRatio(firstCodeLine(prediction), groundTruth) / 100;
}

/** Length of a longest common subsequence of two code-point arrays (two-row DP). */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Int32Array(b.length + 1);
  let row = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) row[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]);
    [prev, row] = [row, prev];
  }
  return prev[b.length];
}

/**
 * fuzz.ratio when python-Levenshtein is installed: `Levenshtein.ratio` is (|a|+|b| - d)/(|a|+|b|) with
 * substitutions costing 2, i.e. the indel ratio 2·LCS/(|a|+|b|). Not what the published LongBench
 * scores used; offered for comparing with setups that had python-Levenshtein (or rapidfuzz).
 */
export function fuzzRatioLevenshtein(a: string, b: string): number {
  if (a === b) return 100;
  if (a.length === 0 || b.length === 0) return 0;
  const ca = Array.from(a);
  const cb = Array.from(b);
  // Same operation order as `100 * Levenshtein.ratio(a, b)`.
  return pyRound(100 * ((2 * lcsLength(ca, cb)) / (ca.length + cb.length)));
}

export function codeSimScoreLevenshtein(prediction: string, groundTruth: string): number {
  return fuzzRatioLevenshtein(firstCodeLine(prediction), groundTruth) / 100;
}

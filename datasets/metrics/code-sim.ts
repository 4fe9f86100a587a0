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

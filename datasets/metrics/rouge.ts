// ROUGE-L F as LongBench computes it: pltrdy `rouge` 1.0.1,
// `Rouge().get_scores([pred], [gold], avg=True)["rouge-l"]["f"]`, inside a bare `except: return 0.0`.
// Its semantics differ from textbook ROUGE-L and every one of them shows up in the scores:
// sentences are pieces of `text.split(".")`; tokens are space-separated and case-sensitive; m and n
// count *distinct* words; the union of LCS words is a set of strings shared across reference sentences;
// the LCS backtrack tie-break decides which words enter that set; F has a +1e-8 in the denominator.
import { jiebaCut } from './jieba.js';
import { pySplit } from './python-compat.js';

/**
 * pltrdy's LCS backtrack is recursive. Under CPython's default recursion limit (1000) a backtrack
 * deeper than ~990 frames raises RecursionError, which eval.py's bare except turns into a score of 0.
 * Depths measured in the official call chain on CPython 3.11 (benchmarks.md §1.7): 991 frames for
 * rouge_score, one fewer for rouge_zh_score (one extra caller frame).
 */
export const ROUGE_MAX_FRAMES = 991;
export const ROUGE_ZH_MAX_FRAMES = 990;

export interface RougeOptions {
  /** Reproduce the RecursionError → 0 of deep backtracks (default true, as the official scores have it). */
  emulateRecursionLimit?: boolean;
  maxFrames?: number;
}

class RecursionLimit extends Error {}

/** Sentences as pltrdy makes them: split on '.', drop empty pieces, collapse whitespace to one space. */
function sentences(text: string): string[] {
  return text
    .split('.')
    .filter((piece) => piece.length > 0)
    .map((piece) => pySplit(piece).join(' '));
}

/** Words of one LCS of x and y, found by pltrdy's backtrack (diagonal on match, else up if strictly larger, else left). */
function lcsWords(x: readonly string[], y: readonly string[], maxFrames: number): string[] {
  // Every backtrack move is one Python frame and needs at least min(|x|, |y|) moves to reach an edge.
  if (Math.min(x.length, y.length) + 1 > maxFrames) throw new RecursionLimit();
  const width = y.length + 1;
  const table = new Int32Array((x.length + 1) * width);
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      table[i * width + j] =
        x[i - 1] === y[j - 1]
          ? table[(i - 1) * width + j - 1] + 1
          : Math.max(table[(i - 1) * width + j], table[i * width + j - 1]);
    }
  }
  const words: string[] = [];
  let i = x.length;
  let j = y.length;
  let frames = 1;
  while (i > 0 && j > 0) {
    if (x[i - 1] === y[j - 1]) {
      words.push(x[i - 1]);
      i -= 1;
      j -= 1;
    } else if (table[(i - 1) * width + j] > table[i * width + j - 1]) i -= 1;
    else j -= 1;
    frames += 1;
    if (frames > maxFrames) throw new RecursionLimit();
  }
  return words;
}

function summaryLevelRougeL(hyp: string[], ref: string[], maxFrames: number): number {
  const words = (sents: string[]) => sents.flatMap((s) => s.split(' '));
  const m = new Set(words(ref)).size;
  const n = new Set(words(hyp)).size;
  const hypWords = hyp.map((s) => s.split(' '));
  const union = new Set<string>();
  let llcs = 0;
  for (const r of ref) {
    const before = union.size;
    const refWords = r.split(' ');
    for (const h of hypWords) for (const w of lcsWords(refWords, h, maxFrames)) union.add(w);
    llcs += union.size - before;
  }
  const recall = llcs / m;
  const precision = llcs / n;
  return 2.0 * ((precision * recall) / (precision + recall + 1e-8));
}

/** LongBench `rouge_score(prediction, ground_truth)`. */
export function rougeScore(prediction: string, groundTruth: string, options: RougeOptions = {}): number {
  const hyp = sentences(prediction);
  const ref = sentences(groundTruth);
  if (hyp.length === 0 || ref.length === 0) return 0.0; // pltrdy raises ValueError; eval.py returns 0
  const emulate = options.emulateRecursionLimit ?? true;
  const maxFrames = emulate ? (options.maxFrames ?? ROUGE_MAX_FRAMES) : Number.POSITIVE_INFINITY;
  try {
    return summaryLevelRougeL(hyp, ref, maxFrames);
  } catch (e) {
    if (e instanceof RecursionLimit) return 0.0;
    throw e;
  }
}

/** LongBench `rouge_zh_score`: jieba tokens joined by spaces, then rouge_score. */
export function rougeZhScore(prediction: string, groundTruth: string, options: RougeOptions = {}): number {
  return rougeScore(jiebaCut(prediction).join(' '), jiebaCut(groundTruth).join(' '), {
    ...options,
    maxFrames: options.maxFrames ?? ROUGE_ZH_MAX_FRAMES,
  });
}

// Chinese word segmentation bit-identical to Python jieba 0.42.1's `jieba.cut(s, cut_all=False)`
// (HMM on), which LongBench's zh metrics (qa_f1_zh, rouge_zh) use.
//
// Why @node-rs/jieba (jieba-rs, prebuilt N-API binary shipped inside npm optional packages, so it
// installs offline from the npm registry alone, no compiler, no postinstall download): it is the
// same algorithm as Python jieba (prefix DAG + max-probability route + HMM Viterbi for unknown runs).
// Pure-JS ports lag behind jieba 0.42.1, and nodejieba's install script downloads from GitHub.
// Two differences from Python jieba remain, and both are fixed here
// (measured in ../shared/research/benchmarks.md §4, 0 mismatches on 2,377 real strings after the fix):
//  1. Dictionary: Python's dict.txt lists `B超 3 n` twice; each line adds its frequency to the total
//     that every route probability is divided by. The node-rs dict lists it once, so one more line
//     is appended to reproduce Python's total.
//  2. jieba-rs splits unknown non-Han runs with `[a-zA-Z0-9]+(?:.\d+)?%?` (unescaped dot), Python
//     with `[a-zA-Z0-9]+(?:\.\d+)?%?`, so jieba-rs keeps `COVID-19` whole where Python yields
//     `COVID`, `-`, `19`. Runs of ASCII word-ish tokens are re-joined and re-split with Python's regex.
//     The only multi-char dictionary words inside that character class (AT&T, c#, C#, c++, C++)
//     are kept as they are. A theoretical gap remains: an unknown run equal to one of those five
//     words cut char by char would be re-split differently; it was never observed.
import { createRequire } from 'node:module';
import type { Jieba } from '@node-rs/jieba';

const require = createRequire(import.meta.url);
const PYTHON_ONLY_DICT_LINES = 'B超 3 n\n';
const ASCII_RUN_TOKEN = /^[a-zA-Z0-9+#&._%-]+$/;
const ASCII_DICT_WORDS = new Set(['AT&T', 'c#', 'C#', 'c++', 'C++']);
const PYTHON_HMM_SKIP = /([a-zA-Z0-9]+(?:\.\d+)?%?)/;

let segmenter: Jieba | undefined;

function load(): Jieba {
  if (!segmenter) {
    const { Jieba: JiebaClass } = require('@node-rs/jieba') as typeof import('@node-rs/jieba');
    const { dict } = require('@node-rs/jieba/dict') as { dict: Uint8Array };
    const newline = dict[dict.length - 1] === 0x0a ? '' : '\n';
    const pythonDict = Buffer.concat([dict, Buffer.from(newline + PYTHON_ONLY_DICT_LINES, 'utf8')]);
    segmenter = JiebaClass.withDict(pythonDict);
  }
  return segmenter;
}

/** `list(jieba.cut(text, cut_all=False))` as Python jieba 0.42.1 returns it. */
export function jiebaCut(text: string): string[] {
  if (text.length === 0) return [];
  return fixAsciiRuns(load().cut(text, true));
}

function isRunToken(token: string): boolean {
  return ASCII_RUN_TOKEN.test(token) && !ASCII_DICT_WORDS.has(token);
}

/** Re-splits each maximal run of ASCII word-ish tokens the way Python's HMM stage splits it. */
export function fixAsciiRuns(tokens: readonly string[]): string[] {
  const out: string[] = [];
  let run = '';
  const flush = () => {
    if (run) for (const piece of run.split(PYTHON_HMM_SKIP)) if (piece) out.push(piece);
    run = '';
  };
  for (const token of tokens) {
    if (isRunToken(token)) run += token;
    else {
      flush();
      out.push(token);
    }
  }
  flush();
  return out;
}

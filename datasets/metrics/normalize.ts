// Answer normalisation shared by LongBench (metrics.py) and InfiniteBench (compute_scores.py).
import { codePoints, pySplit } from './python-compat.js';

/** Python's string.punctuation. */
export const ASCII_PUNCTUATION = new Set(codePoints('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'));

/** The official Chinese punctuation string, verbatim: `》` without `《`, and an ASCII '.' at the end. */
const CN_PUNCTUATION =
  '！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.';
const ALL_PUNCTUATION = new Set([...ASCII_PUNCTUATION, ...codePoints(CN_PUNCTUATION)]);

// Python 3's `\b` is Unicode-aware (\w = letters, digits, underscore); JS `\b` is ASCII-only even with /u.
const ARTICLES = /(?<![\p{L}\p{N}_])(a|an|the)(?![\p{L}\p{N}_])/gu;

function dropChars(s: string, chars: Set<string>): string {
  return codePoints(s)
    .filter((ch) => !chars.has(ch))
    .join('');
}

/** SQuAD-style: lower → drop ASCII punctuation → articles to spaces → collapse whitespace. */
export function normalizeAnswer(s: string): string {
  const noPunct = dropChars(s.toLowerCase(), ASCII_PUNCTUATION);
  return pySplit(noPunct.replace(ARTICLES, ' ')).join(' ');
}

/** Chinese: lower → drop ASCII and Chinese punctuation → remove all whitespace. */
export function normalizeZhAnswer(s: string): string {
  return pySplit(dropChars(s.toLowerCase(), ALL_PUNCTUATION)).join('');
}

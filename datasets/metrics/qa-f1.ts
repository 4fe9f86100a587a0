// LongBench qa_f1_score (English words) and qa_f1_zh_score (jieba words).
import { tokenF1 } from './f1.js';
import { jiebaCut } from './jieba.js';
import { normalizeAnswer, normalizeZhAnswer } from './normalize.js';
import { pySplit } from './python-compat.js';

export function qaF1Score(prediction: string, groundTruth: string): number {
  return tokenF1(pySplit(normalizeAnswer(prediction)), pySplit(normalizeAnswer(groundTruth)));
}

/** jieba runs on the raw text first; each token is normalised afterwards and empty ones dropped. */
function zhTokens(text: string): string[] {
  return jiebaCut(text)
    .map(normalizeZhAnswer)
    .filter((token) => token.length > 0);
}

export function qaF1ZhScore(prediction: string, groundTruth: string): number {
  return tokenF1(zhTokens(prediction), zhTokens(groundTruth));
}

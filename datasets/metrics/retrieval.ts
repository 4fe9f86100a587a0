// LongBench retrieval_score / retrieval_zh_score (passage_retrieval_*) and count_score (passage_count).
// Python's `\d` in re is Unicode Nd, and numbers are compared as strings ("07" != "7", "０７" != "07").

const DIGIT_RUNS = /\p{Nd}+/gu;

function numbersIn(text: string): string[] {
  return text.match(DIGIT_RUNS) ?? [];
}

function shareEqualTo(numbers: readonly string[], target: string): number {
  if (numbers.length === 0) return 0.0;
  return numbers.filter((n) => n === target).length / numbers.length;
}

function paragraphId(groundTruth: string, pattern: RegExp): string {
  const match = pattern.exec(groundTruth);
  // The official code indexes matches[0] and crashes; say which answer lacks the marker instead.
  if (!match) throw new Error(`answer ${JSON.stringify(groundTruth.slice(0, 60))} has no ${pattern.source} marker`);
  return match[1];
}

export function retrievalScore(prediction: string, groundTruth: string): number {
  return shareEqualTo(numbersIn(prediction), paragraphId(groundTruth, /Paragraph (\p{Nd}+)/u));
}

export function retrievalZhScore(prediction: string, groundTruth: string): number {
  return shareEqualTo(numbersIn(prediction), paragraphId(groundTruth, /段落(\p{Nd}+)/u));
}

export function countScore(prediction: string, groundTruth: string): number {
  return shareEqualTo(numbersIn(prediction), String(groundTruth));
}

// LongBench classification_score (trec, lsht).

/**
 * Classes named in the prediction, minus those that are a proper substring of the gold label —
 * except that the official loop removes items from the list it is iterating, so the item right
 * after a removed one is never examined. That quirk changes scores and is reproduced on purpose.
 */
export function classificationScore(prediction: string, groundTruth: string, allClasses: readonly string[]): number {
  const matches = allClasses.filter((name) => prediction.includes(name));
  for (let i = 0; i < matches.length; i++) {
    const term = matches[i];
    if (groundTruth.includes(term) && term !== groundTruth) matches.splice(matches.indexOf(term), 1);
  }
  return matches.includes(groundTruth) ? 1.0 / matches.length : 0.0;
}

// Token-level F1 over multisets, as `f1_score` in LongBench metrics.py and InfiniteBench compute_scores.py.

/** F1 of two token lists: overlap = Σ min(count_pred, count_gold); 0 when nothing overlaps. */
export function tokenF1(prediction: readonly string[], gold: readonly string[]): number {
  const goldCounts = new Map<string, number>();
  for (const t of gold) goldCounts.set(t, (goldCounts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of prediction) {
    const left = goldCounts.get(t) ?? 0;
    if (left > 0) {
      same += 1;
      goldCounts.set(t, left - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / prediction.length;
  const recall = same / gold.length;
  return (2 * precision * recall) / (precision + recall);
}

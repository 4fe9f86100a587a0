// Softmax attention probabilities for a few query rows, the input both eviction policies score with.

/** p[j] = softmax_j(q · k_j / sqrt(d)) over the given keys. */
export function attentionRow(query: ArrayLike<number>, keys: ArrayLike<number>[]): number[] {
  const d = query.length;
  const logits = keys.map((k) => {
    let dot = 0;
    for (let e = 0; e < d; e++) dot += query[e] * k[e];
    return dot / Math.sqrt(d);
  });
  const max = Math.max(...logits);
  const exp = logits.map((x) => Math.exp(x - max));
  const total = exp.reduce((a, b) => a + b, 0);
  return exp.map((x) => x / total);
}

/** Indices of the `count` largest values, ties to the lower index, returned ascending. */
export function topIndices(values: number[], count: number, among: number[] = values.map((_, i) => i)): number[] {
  return [...among].sort((a, b) => values[b] - values[a] || a - b).slice(0, Math.max(0, count)).sort((a, b) => a - b);
}

/** Indices of the `count` smallest values, ties to the lower index, returned ascending. */
export function bottomIndices(values: number[], count: number, among: number[]): number[] {
  return [...among].sort((a, b) => values[a] - values[b] || a - b).slice(0, Math.max(0, count)).sort((a, b) => a - b);
}

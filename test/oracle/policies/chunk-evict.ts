// Reference chunk eviction (stage 3): score each chunk by the question's self-information given the
// chunk, keep the k lowest, restore document order.

export type ChunkScoreMode = 'mean-nll' | 'reference-sum';

/**
 * questionNll[t] = -log p(question[t] | chunk, question[<t]) for every appended question token (the
 * first one is predicted by the chunk's last token). `lastN` > 0 scores only the last N tokens.
 * mean-nll divides by the count; reference-sum by count - 1, as pcw_wrapper.nll_loss_query does.
 */
export function chunkScore(questionNll: number[], mode: ChunkScoreMode, lastN = 0): number {
  const used = lastN > 0 ? questionNll.slice(-lastN) : questionNll;
  const sum = used.reduce((a, b) => a + b, 0);
  const divisor = mode === 'mean-nll' ? used.length : used.length - 1;
  if (divisor <= 0) throw new Error(`${mode} needs ${mode === 'mean-nll' ? 1 : 2}+ question tokens, got ${used.length}`);
  return sum / divisor;
}

/**
 * The k chunks with the lowest score (ties: the earlier chunk wins). keepOrder returns them in
 * document order, otherwise lowest score first.
 */
export function selectChunks(scores: number[], k: number, keepOrder = true): number[] {
  const ranked = scores.map((s, i) => ({ s, i })).sort((a, b) => a.s - b.s || a.i - b.i).slice(0, k).map((x) => x.i);
  return keepOrder ? ranked.sort((a, b) => a - b) : ranked;
}

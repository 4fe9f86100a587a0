// Reference chunk split (stage 1). Plain code on plain arrays; shares nothing with the engine.
// Both modes cut into `count` slices of floor(n / count) units with the remainder appended to the
// last slice, as the reference code's truncate_text does for characters.

/** Number of chunks: `fixedCount` when > 0 (PCW), else ceil(n / budget), at least 1. */
export function chunkCount(nTokens: number, budget: number, fixedCount = 0): number {
  if (fixedCount > 0) return fixedCount;
  if (budget <= 0) throw new Error(`chunk budget must be > 0, got ${budget}`);
  return Math.max(1, Math.ceil(nTokens / budget));
}

/** chunk.budget = 0 means: what fits in the trained window next to the question and the answer. */
export function autoBudget(window: number, questionTokens: number, maxNew: number, templateTokens: number): number {
  const budget = window - questionTokens - maxNew - templateTokens - 1;
  if (budget <= 0) throw new Error(`no room for context: window ${window}, question ${questionTokens}, maxNew ${maxNew}, template ${templateTokens}`);
  return budget;
}

function evenSlices<T>(items: T[], count: number): T[][] {
  const size = Math.floor(items.length / count);
  if (size === 0) throw new Error(`cannot cut ${items.length} units into ${count} non-empty chunks`);
  const out: T[][] = [];
  for (let c = 0; c < count; c++) out.push(items.slice(c * size, c === count - 1 ? items.length : (c + 1) * size));
  return out;
}

/** chunk.split = tokens: slices of the context token ids (no template, no BOS). */
export function splitTokens(ids: number[], count: number): number[][] {
  return evenSlices(ids, count);
}

/**
 * chunk.split = chars (reference): slices of the detokenised context by characters. Characters are
 * Unicode code points, as Python's str slicing counts them (not UTF-16 units).
 */
export function splitChars(text: string, count: number): string[] {
  return evenSlices(Array.from(text), count).map((chars) => chars.join(''));
}

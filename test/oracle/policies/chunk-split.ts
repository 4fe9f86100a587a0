// Reference chunk split (stage 1). Plain code on plain arrays; shares nothing with the engine or
// datasets/prompts.ts (which does the real split in TS, before the engine).
//   tokens: the budget counts the whole chunk input (template and BOS included); the context ids are
//           cut into ceil(n / room) slices, room = budget - template tokens, of sizes differing by at
//           most one (slice i = ids[floor(i*n/C), floor((i+1)*n/C))).
//   chars (reference code, experiment_manager.truncate_text): C = ceil(tokens of the raw context,
//           specials included / budget); the decoded context is cut into C slices of floor(len/C)
//           code points, the remainder appended to the last slice.

/** Number of chunks: `fixedCount` when > 0 (PCW), else ceil(n / room), at least 1. */
export function chunkCount(nContextTokens: number, room: number, fixedCount = 0): number {
  if (fixedCount > 0) return fixedCount;
  if (room <= 0) throw new Error(`no room for context in a chunk: ${room}`);
  return Math.max(1, Math.ceil(nContextTokens / room));
}

/** chunk.budget = 0: what fits in the trained window next to the question and the answer. */
export function autoBudget(window: number, questionTokens: number, maxNew: number): number {
  const budget = window - questionTokens - maxNew;
  if (budget <= 0) throw new Error(`no room for context: window ${window}, question ${questionTokens}, maxNew ${maxNew}`);
  return budget;
}

/** chunk.split = tokens: even slices of the context ids (sizes differ by at most one). */
export function splitTokens(ids: number[], count: number): number[][] {
  if (count > ids.length) throw new Error(`cannot cut ${ids.length} units into ${count} non-empty chunks`);
  return Array.from({ length: count }, (_, i) => ids.slice(Math.floor((i * ids.length) / count), Math.floor(((i + 1) * ids.length) / count)));
}

/**
 * chunk.split = chars (reference): slices of the detokenised context by characters. Characters are
 * Unicode code points, as Python's str slicing counts them (not UTF-16 units).
 */
export function splitChars(text: string, count: number): string[] {
  const chars = Array.from(text);
  const size = Math.floor(chars.length / count);
  if (size === 0) throw new Error(`cannot cut ${chars.length} units into ${count} non-empty chunks`);
  return Array.from({ length: count }, (_, c) => chars.slice(c * size, c === count - 1 ? chars.length : (c + 1) * size).join(''));
}

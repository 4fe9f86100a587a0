// Reference global stage (stage 6): which cached entries of the kept chunks form the global cache,
// and where the re-encoded question starts.
//   - Kept chunks in document order (or score order when keepOrder is off).
//   - dropChunkQuestion removes every entry at input index >= the chunk's context length.
//   - bos: keep-first drops index 0 of every later chunk when it is a BOS; drop-index0 (code) drops
//     the first remaining entry of every later chunk, whatever it is (with KV eviction a real token);
//     keep-all drops nothing.
//   - The question starts at the longest kept chunk's context length (uncompressed, BOS included),
//     or the longest of all chunks.
export type GlobalBos = 'keep-first' | 'drop-index0' | 'keep-all';

export interface KeptChunk {
  /** Document index of the chunk. */
  chunk: number;
  /** Context tokens of the chunk input (template, BOS included; the appended question excluded). */
  contextLength: number;
  startsWithBos: boolean;
  /** Per cache set (KV head, or query head when expanded): kept input indices, ascending. */
  entries: number[][];
}

export interface GlobalEntry {
  chunk: number;
  index: number;
}

export interface GlobalInput {
  /** In the order the chunk stage returned them (document order when keepOrder is on). */
  kept: KeptChunk[];
  allContextLengths: number[];
  dropChunkQuestion: boolean;
  bos: GlobalBos;
  questionStart: 'longest-kept' | 'longest-all';
}

export interface GlobalResult {
  /** Per cache set: the global cache, as (chunk, input index) pairs in cache order. */
  entries: GlobalEntry[][];
  questionStart: number;
}

export function globalStage(input: GlobalInput): GlobalResult {
  const sets = input.kept[0].entries.length;
  const entries = Array.from({ length: sets }, (_, s) =>
    input.kept.flatMap((c, order) => {
      let idx = c.entries[s];
      if (input.dropChunkQuestion) idx = idx.filter((j) => j < c.contextLength);
      if (order > 0 && input.bos === 'keep-first' && c.startsWithBos) idx = idx.filter((j) => j !== 0);
      if (order > 0 && input.bos === 'drop-index0') idx = idx.slice(1);
      return idx.map((index) => ({ chunk: c.chunk, index }));
    }),
  );
  const lengths = input.questionStart === 'longest-kept' ? input.kept.map((c) => c.contextLength) : input.allContextLengths;
  return { entries, questionStart: Math.max(...lengths) };
}

// The knob schema as data: every policy knob, its type and range, its default and one line of
// explanation. policy-config.ts validates presets and `--set` against this table, `pcomp configs`
// prints it, and docs/parallelcomp.md explains each entry. Keys are `<section>.<name>`, spelled the
// same in presets, on the command line, in the resolved config handed to the engine and in traces.
//
// Defaults describe plain full attention (every stage off); presets switch stages on. Where a knob
// has a paper value and a different reference-code value, the default is the paper's and the
// `*-reference` presets set the code's (docs/parallelcomp.md, "Paper vs reference code").

export type KnobType =
  | { kind: 'bool' }
  | { kind: 'int'; min: number; max?: number; odd?: boolean }
  | { kind: 'number'; min: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'calib-rules' };

export const CALIB_REGIONS = ['sink', 'recent', 'middle', 'all'] as const;
export type CalibRegion = (typeof CALIB_REGIONS)[number];

/** One calibration rule: evict outliers of `region` in layers from..to (1-indexed, inclusive). */
export interface CalibRule {
  region: CalibRegion;
  from: number;
  to: number;
}

export type KnobValue = boolean | number | string | CalibRule[];

export interface Knob {
  key: string;
  type: KnobType;
  default: KnobValue;
  help: string;
}

const bool = { kind: 'bool' } as const;
const int = (min: number, max?: number) => ({ kind: 'int', min, max }) as const;
const oneOf = (...values: string[]) => ({ kind: 'enum', values }) as const;

/** The paper's "Ours-calibration" mix (Table 6/8 captions, 1-indexed layers). */
export const PAPER_CALIB_RULES: CalibRule[] = [
  { region: 'middle', from: 1, to: 8 },
  { region: 'recent', from: 9, to: 16 },
  { region: 'sink', from: 25, to: 32 },
];

export const KNOBS: readonly Knob[] = [
  // Position baselines (run on the whole, middle-truncated prompt unless chunk.enabled).
  { key: 'rope.scaling', type: oneOf('none', 'ntk', 'dynamic-ntk', 'linear'), default: 'none',
    help: 'RoPE change: NTK-aware base scaling, dynamic NTK (grows with the sequence), linear position interpolation' },
  { key: 'rope.factor', type: { kind: 'number', min: 0 }, default: 0,
    help: 'scaling factor; 0 = auto (prompt+maxNew over the trained window for ntk/linear, 1 for dynamic-ntk); else >= 1' },
  { key: 'full.maxTokens', type: int(0), default: 0,
    help: 'unchunked policies middle-truncate the prompt to this many tokens; 0 = trained window - maxNew' },

  // Stage 1-2: chunk split and parallel prefill.
  { key: 'chunk.enabled', type: bool, default: false,
    help: 'cut the context into chunks prefilled in parallel at positions 0.., each with the question appended' },
  { key: 'chunk.split', type: oneOf('tokens', 'chars'), default: 'tokens',
    help: 'cut by context tokens, or (reference code) by characters of the detokenised context' },
  { key: 'chunk.budget', type: int(0), default: 0,
    help: 'tokens per chunk input, template and BOS included; 0 = trained window - question - maxNew' },
  { key: 'chunk.count', type: int(0), default: 0,
    help: 'number of chunks; 0 = adaptive, ceil(context tokens / room left by the template); N > 0 = exactly N (PCW)' },
  { key: 'chunk.parallel', type: int(0), default: 8,
    help: 'at most P chunks per batched prefill wave (bounds memory); 0 = all chunks in one wave' },

  // Stage 3: chunk eviction by the question's self-information.
  { key: 'chunkEvict.enabled', type: bool, default: false,
    help: 'keep only the chunks under which the question is least surprising' },
  { key: 'chunkEvict.method', type: oneOf('selfinfo'), default: 'selfinfo',
    help: 'chunk scorer; policy chunk-evict-<method> (selfinfo: NLL of the question given the chunk)' },
  { key: 'chunkEvict.k', type: int(1), default: 3, help: 'chunks kept (paper App. C: 3)' },
  { key: 'chunkEvict.kRetrieval', type: int(1), default: 1,
    help: 'chunks kept on retrieval tasks (passage_retrieval_en, passkey, kv_retrieval, number_string)' },
  { key: 'chunkEvict.score', type: oneOf('mean-nll', 'reference-sum'), default: 'mean-nll',
    help: 'mean NLL of the question tokens, or the reference code\'s sum / (n - 1)' },
  { key: 'chunkEvict.scoreTokens', type: int(0), default: 0,
    help: 'score only the last N question tokens; 0 = all of them' },
  { key: 'chunkEvict.keepOrder', type: bool, default: true,
    help: 'restore document order of the kept chunks (false: lowest score first, an ablation)' },

  // Stage 4: per-chunk KV eviction (SnapKV-style, "Ours-compression").
  { key: 'kvEvict.enabled', type: bool, default: false,
    help: 'compress each chunk\'s cache to `capacity` context tokens per KV head before the global stage' },
  { key: 'kvEvict.method', type: oneOf('cumattn'), default: 'cumattn',
    help: 'token scorer; policy kv-evict-<method> (cumattn: cumulative attention of the observation window)' },
  { key: 'kvEvict.window', type: int(1), default: 8,
    help: 'observation window: the last w tokens of the chunk input (question tail) score the context keys' },
  { key: 'kvEvict.kernel', type: { kind: 'int', min: 1, odd: true }, default: 7,
    help: 'pooling kernel over the scores (odd; 1 = no pooling)' },
  { key: 'kvEvict.pooling', type: oneOf('max', 'avg'), default: 'max', help: '1-D pooling of the scores, stride 1, same padding' },
  { key: 'kvEvict.capacity', type: int(0), default: 0,
    help: 'context tokens kept per chunk and KV head; 0 = half the trained window (paper 5.5: "half of the original size")' },
  { key: 'kvEvict.gqa', type: oneOf('group-sum', 'expanded-heads'), default: 'group-sum',
    help: 'GQA: sum scores over the query heads of a group (one set per KV head) or, as the code, one set per query head' },
  { key: 'kvEvict.bos', type: oneOf('always-keep', 'reference'), default: 'always-keep',
    help: 'BOS is kept outside the capacity, or (code) a candidate in chunk 0 only and dropped from later chunks' },
  { key: 'kvEvict.capacityRule', type: oneOf('per-chunk', 'sample-min'), default: 'per-chunk',
    help: 'cap capacity by each chunk\'s own length, or (code) by the shortest chunk of the sample' },

  // Stage 5: attention calibration ("Ours-calibration").
  { key: 'calib.enabled', type: bool, default: false,
    help: 'evict, per head, cached tokens that draw outlier attention from the last question token(s)' },
  { key: 'calib.method', type: oneOf('bias'), default: 'bias',
    help: 'outlier rule; policy attn-calib-<method> (bias: attention above the threshold in a region)' },
  { key: 'calib.stage', type: oneOf('reencode', 'chunk'), default: 'reencode',
    help: 'during question re-encoding (code: prefill_2), or inside each chunk\'s prefill (prefill_1)' },
  { key: 'calib.rules', type: { kind: 'calib-rules' }, default: PAPER_CALIB_RULES,
    help: 'list of region:from-to (1-indexed layers), e.g. middle:1-8,recent:9-16,sink:25-32 (the paper\'s mix)' },
  { key: 'calib.threshold', type: { kind: 'number', min: 0, max: 1, minExclusive: true, maxExclusive: true }, default: 0.1,
    help: 'lambda: a token is an outlier when its attention probability exceeds this' },
  { key: 'calib.sinkSize', type: int(1), default: 100, help: 'sink region = the first N positions (paper App. C: 100)' },
  { key: 'calib.recentSize', type: int(1), default: 100, help: 'recent region = the last N positions (paper App. C: 100)' },
  { key: 'calib.queryRows', type: int(0), default: 1,
    help: 'attention averaged over the last N question rows (code env RECENT_TOKENS); 0 = all rows' },
  { key: 'calib.equalise', type: bool, default: true,
    help: 'every head evicts as many tokens as the head with most outliers, padding with its lowest-attention tokens' },
  { key: 'calib.gqa', type: oneOf('group-mean', 'group-max', 'expanded-heads'), default: 'group-mean',
    help: 'GQA: score a KV head by the mean or max over its query heads, or (code) one cache per query head' },
  { key: 'calib.regionOver', type: oneOf('context', 'context-and-question'), default: 'context',
    help: 'regions and candidates span the cached context, or (code) the cache plus the question\'s own tokens' },
  { key: 'calib.strictEdges', type: bool, default: false,
    help: 'code edges: sink j < S, recent j > L-R, middle S < j < L-R (positions S and L-R in no region)' },
  { key: 'calib.reencodeMask', type: oneOf('by-position', 'bottom-right'), default: 'by-position',
    help: 'question rows see kept keys by original index, or (code, FlashAttention) bottom-right aligned on the reduced cache' },

  // Stage 6: global stage.
  { key: 'global.questionStart', type: oneOf('longest-kept', 'longest-all'), default: 'longest-kept',
    help: 'the re-encoded question starts at the length of the longest kept chunk (or of any chunk)' },
  { key: 'global.dropChunkQuestion', type: bool, default: true,
    help: 'drop the question tokens cached with each chunk (they served scoring and KV eviction only)' },
  { key: 'global.bos', type: oneOf('keep-first', 'drop-index0', 'keep-all'), default: 'keep-first',
    help: 'keep BOS of the first kept chunk only; drop cached index 0 of later chunks (code); keep all (code, batched)' },
  { key: 'global.questionBos', type: bool, default: false,
    help: 'the appended and the re-encoded question start with their own BOS (code: tokenizer default)' },

  // Cache baselines.
  { key: 'streaming.enabled', type: bool, default: false,
    help: 'StreamingLLM: attention sink plus a recent window, positions assigned inside the cache' },
  { key: 'streaming.sink', type: int(0), default: 4, help: 'sink tokens kept from the start' },
  { key: 'streaming.window', type: int(0), default: 0, help: 'recent tokens kept; 0 = trained window - sink - maxNew' },
  { key: 'snapkv.enabled', type: bool, default: false,
    help: 'SnapKV over the whole (middle-truncated) prompt: keep top-scored prefix tokens plus the window' },
  { key: 'snapkv.window', type: int(1), default: 8, help: 'observation window: the last w prompt tokens (always kept)' },
  { key: 'snapkv.capacity', type: int(0), default: 0,
    help: 'tokens kept per KV head, window included; 0 = half the trained window' },
  { key: 'snapkv.kernel', type: { kind: 'int', min: 1, odd: true }, default: 7, help: 'pooling kernel (odd; 1 = none)' },
  { key: 'snapkv.pooling', type: oneOf('max', 'avg'), default: 'max', help: '1-D pooling of the scores' },
];

/**
 * The policy registry keys a config runs, in order: `<stage>-<method>`, the same spelling as the C++
 * file (engine/src/policy/<key>.cpp) and its registry entry. Stage prefixes map to config sections:
 * rope → rope.*, chunk-prefill → chunk.*, chunk-evict → chunkEvict.*, kv-evict → kvEvict.*,
 * attn-calib → calib.*, global-reencode → global.*, cache-streaming → streaming.*, cache-snapkv → snapkv.*.
 */
export function pipelineOf(c: Record<string, KnobValue>): string[] {
  const keys: string[] = [];
  if (c['rope.scaling'] !== 'none') keys.push(`rope-${c['rope.scaling']}`);
  if (!c['chunk.enabled']) {
    keys.push('full-prefill');
    if (c['streaming.enabled']) keys.push('cache-streaming');
    if (c['snapkv.enabled']) keys.push('cache-snapkv');
    return keys;
  }
  keys.push('chunk-prefill');
  if (c['chunkEvict.enabled']) keys.push(`chunk-evict-${c['chunkEvict.method']}`);
  if (c['kvEvict.enabled']) keys.push(`kv-evict-${c['kvEvict.method']}`);
  if (c['calib.enabled']) keys.push(`attn-calib-${c['calib.method']}`);
  keys.push('global-reencode');
  return keys;
}

export const KNOB_BY_KEY: ReadonlyMap<string, Knob> = new Map(KNOBS.map((k) => [k.key, k]));

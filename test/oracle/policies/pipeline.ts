// referencePipeline: the reference policies composed with a float64 forward pass, run on one sample
// under a resolved config (engine/policy-config.ts). It is the oracle the native pipeline's decisions
// and logits are compared with. Chunks arrive already split and templated, as the engine gets them
// (chunk.split / budget / count are applied in TS before the engine); global.questionBos is applied
// here the way the TS prompt builder applies it.
import { logSoftmaxAt, argmax, type ReferenceConfig } from '../forward.js';
import type { RopeConfig } from '../rope.js';
import { calibrateLayer, type CalibLayerSettings } from './calib-layer.js';
import { chunkScore, selectChunks, type ChunkScoreMode } from './chunk-evict.js';
import { globalStage, type GlobalBos } from './global-stage.js';
import { HookedModel, type CacheSet, type Entry, type HookedCache, type LayerView, type MaskMode, type StepOptions } from './hooked-forward.js';
import { dcaAttend, dcaPosition, dcaSizes } from './attn-dca.js';
import { kvEvict, snapkvWholePrompt, type KvGqa, type Pooling } from './kv-evict.js';
import type { CalibGqa, CalibRegion } from './attn-calib.js';
import { traceLayer, type TraceLayer, type TraceSettings } from './attention-trace.js';

type Config = Record<string, unknown>;

export interface PipelineSample {
  /** Templated chunk token ids (BOS first when the model has one); unchunked policies take exactly one. */
  chunks: number[][];
  /** Question (template) tokens, without BOS. */
  question: number[];
  maxNew: number;
  stopIds?: number[];
  /** Retrieval tasks keep chunkEvict.kRetrieval chunks. */
  retrieval?: boolean;
  /** Perplexity mode: tokens that follow the question, scored (not generated) after it. */
  evaluate?: number[];
}

/** A cache entry named by its origin: [chunk, input index]; chunk -1 = re-encoded question, -2 = generated. */
export type Origin = [number, number];

export interface PipelineResult {
  chunkScores: number[];
  keptChunks: number[];
  /** [kept chunk][layer][cache set]: input indices each kept chunk's cache holds after KV eviction. */
  kvKept: number[][][][];
  /** [layer][cache set]: the global cache before the question is re-encoded. */
  globalCache: Origin[][][];
  /** [layer][cache set]: the cache after re-encoding (and calibration), before decoding. */
  finalCache: Origin[][][];
  questionStart: number;
  questionPositions: number[];
  generatedPositions: number[];
  /** Logits of the last prompt token: the distribution of the first generated token. */
  finalLogits: Float64Array;
  generated: number[];
  /** -log p of each `evaluate` token, fed after the question (on a copy of the final cache). */
  evaluateNll: number[];
  /** trace.attention: per layer, the observation rows' attention folded as the engine's trace (attention-trace.ts). */
  attention?: TraceLayer[];
}

function traceSettings(config: Config, offsets: number[], chunkLengths: number[], questionOffset: number, positions: number): TraceSettings | null {
  if (!config['trace.attention']) return null;
  return {
    window: config['trace.window'] as number, bins: config['trace.bins'] as number,
    sinkSize: config['trace.sinkSize'] as number, recentSize: config['trace.recentSize'] as number,
    offsets, chunkLengths, questionOffset, positions,
  };
}

const origins = (cache: HookedCache): Origin[][][] => cache.sets.map((sets) => sets.map((set) => set.map((e) => [e.tag.chunk, e.tag.index] as Origin)));

/** RoPE as the config asks; `totalLength` (prompt + maxNew) sets the auto factor. */
export function ropeFor(config: Config, model: ReferenceConfig, totalLength: number): RopeConfig {
  const scaling = config['rope.scaling'] as string;
  if (scaling === 'none') return model.rope;
  if (model.rope.scaling !== null) throw new Error('reference pipeline: the model already scales RoPE');
  const window = model.rope.maxPositionEmbeddings;
  const given = config['rope.factor'] as number;
  const auto = Math.max(1, totalLength / window);
  const d = model.rope.headDim;  // the rotated dims (HF's dim = head_dim * partial_rotary_factor)
  if (scaling === 'ntk') return { ...model.rope, theta: model.rope.theta * (given || auto) ** (d / (d - 2)) };
  if (scaling === 'linear') return { ...model.rope, scaling: { type: 'linear', factor: given || auto } };
  if (scaling === 'yarn') {
    // rope_scaling {"rope_type": "yarn", "factor": f, "beta_fast", "beta_slow"} over the trained
    // window: attention factor get_mscale(f) = 0.1 ln f + 1 (1 when f <= 1).
    const factor = given || auto;
    return {
      ...model.rope,
      scaling: {
        type: 'yarn', factor, originalMaxPositionEmbeddings: window, truncate: true,
        betaFast: config['rope.betaFast'] as number, betaSlow: config['rope.betaSlow'] as number,
        attentionFactor: factor <= 1 ? 1 : 0.1 * Math.log(factor) + 1,
      },
    };
  }
  return { ...model.rope, scaling: { type: 'dynamic', factor: given || 1 } };
}

/** A whole-prompt attention baseline (attn-dca): where tokens enter and the attention that replaces softmax. */
interface AttnBaseline {
  position: (p: number) => number;
  attend: StepOptions['attend'];
}
const plainAttention: AttnBaseline = { position: (p) => p, attend: undefined };

function decode(model: HookedModel, cache: HookedCache, first: Float64Array, start: number, sample: PipelineSample, rope: RopeConfig,
  attn: AttnBaseline = plainAttention) {
  const generated: number[] = [];
  let logits = first;
  for (let t = 0; t < sample.maxNew; t++) {
    const next = argmax(logits);
    generated.push(next);
    if (sample.stopIds?.includes(next) || t === sample.maxNew - 1) break;
    logits = model.step([next], [attn.position(start + t)], cache, { tags: [{ chunk: -2, index: t }], rope, attend: attn.attend })[0];
  }
  return { generated, positions: generated.map((_, t) => attn.position(start + t)) };
}

/** NLL of `evaluate` run after the prompt on a copy of the cache (the cache itself stays for decoding). */
function scoreEvaluated(model: HookedModel, cache: HookedCache, first: Float64Array, start: number, evaluate: number[], rope: RopeConfig,
  attn: AttnBaseline = plainAttention): number[] {
  if (evaluate.length === 0) return [];
  const copy: HookedCache = { expanded: cache.expanded, sets: cache.sets.map((sets) => sets.map((set) => [...set])) };
  const logits = model.step(evaluate, evaluate.map((_, t) => attn.position(start + t)), copy,
    { tags: evaluate.map((_, t) => ({ chunk: -3, index: t })), rope, attend: attn.attend });
  return evaluate.map((tok, t) => -logSoftmaxAt(t === 0 ? first : logits[t - 1], tok));
}

function calibSettings(config: Config, region: CalibRegion, span: CalibLayerSettings['span']): CalibLayerSettings {
  return {
    region, span,
    threshold: config['calib.threshold'] as number,
    sinkSize: config['calib.sinkSize'] as number,
    recentSize: config['calib.recentSize'] as number,
    queryRows: config['calib.queryRows'] as number,
    equalise: config['calib.equalise'] as boolean,
    gqa: config['calib.gqa'] as CalibGqa,
    strictEdges: config['calib.strictEdges'] as boolean,
  };
}

/** Rules active at 0-indexed `layer`; a rule starting past the last layer is an error. */
function rulesAt(config: Config, layer: number, numLayers: number): CalibRegion[] {
  if (!config['calib.enabled']) return [];
  const rules = config['calib.rules'] as { region: CalibRegion; from: number; to: number }[];
  for (const r of rules) if (r.from > numLayers) throw new Error(`calib rule ${r.region}:${r.from}-${r.to} starts past the model's ${numLayers} layers`);
  return rules.filter((r) => layer + 1 >= r.from && layer + 1 <= r.to).map((r) => r.region);
}

interface ChunkRun {
  chunk: number;
  contextLength: number;
  startsWithBos: boolean;
  score: number;
  cache: HookedCache;
}

function runChunk(model: HookedModel, ci: number, tokens: number[], question: number[], config: Config, rope: RopeConfig,
  expanded: boolean, minChunk: number): ChunkRun {
  const c = model.config;
  const input = [...tokens, ...question];
  const lenC = tokens.length;
  const cache = model.emptyCache(expanded);
  const startsWithBos = c.bosTokenId !== null && tokens[0] === c.bosTokenId;
  const kvOn = config['kvEvict.enabled'] as boolean;
  const w = Math.min(config['kvEvict.window'] as number, input.length);
  const windowQueries: number[][][][] = []; // [layer][qHead][row][d]
  const calibInChunk = config['calib.enabled'] && config['calib.stage'] === 'chunk';
  if (calibInChunk && kvOn) throw new Error('reference pipeline: calib.stage=chunk together with kvEvict is not modelled');
  const codeEdges = config['calib.regionOver'] === 'context-and-question';
  const hook = (view: LayerView) => {
    if (kvOn) windowQueries[view.layer] = Array.from({ length: c.numHeads }, (_, h) => view.queries.slice(-w).map((q) => Array.from(q[h])));
    if (!calibInChunk) return;
    // prefill_1: regions over the chunk's context; the code skips index 0 of chunks after the first.
    const start = codeEdges && ci > 0 ? 1 : 0;
    for (const region of rulesAt(config, view.layer, c.numLayers)) {
      const contextEntries = (set: CacheSet) => set.filter((e) => e.tag.index < lenC).length;
      calibrateLayer(model, cache, view, calibSettings(config, region, (set) => [start, contextEntries(set)]));
    }
  };
  const mask = config['calib.reencodeMask'] as MaskMode;
  const logits = model.step(input, input.map((_, i) => i), cache, { tags: input.map((_, i) => ({ chunk: ci, index: i })), beforeAttention: hook, rope, mask });
  const nll = question.map((tok, t) => -logSoftmaxAt(logits[lenC + t - 1], tok));
  const score = chunkScore(nll, config['chunkEvict.score'] as ChunkScoreMode, config['chunkEvict.scoreTokens'] as number);

  if (kvOn) {
    const reference = config['kvEvict.bos'] === 'reference';
    const start = reference ? (ci === 0 ? 0 : 1) : startsWithBos ? 1 : 0;
    const alwaysKeep = !reference && startsWithBos ? [0] : [];
    const capacity = (config['kvEvict.capacity'] as number) || Math.floor(c.rope.maxPositionEmbeddings / 2);
    const cap = Math.min(capacity, lenC - start, config['kvEvict.capacityRule'] === 'sample-min' ? minChunk : Infinity);
    const gqa = config['kvEvict.gqa'] as KvGqa;
    cache.sets.forEach((sets, l) => {
      const keysPerKv = Array.from({ length: c.numKvHeads }, (_, g) => {
        const set = sets[expanded ? g * (c.numHeads / c.numKvHeads) : g];
        return set.map((e) => Array.from(e.key));
      });
      const r = kvEvict({
        queries: windowQueries[l], keys: keysPerKv, candidateStart: start, candidateEnd: lenC, capacity: cap,
        kernel: config['kvEvict.kernel'] as number, pooling: config['kvEvict.pooling'] as Pooling, gqa,
      });
      sets.forEach((set, s) => {
        const chosen = gqa === 'expanded-heads' ? r.keep[s] : r.keep[model.kvHeadOf(cache, s)];
        const keep = new Set([...alwaysKeep, ...chosen]);
        const kept = set.filter((e) => keep.has(e.tag.index) || e.tag.index >= lenC);
        set.splice(0, set.length, ...kept);
      });
    });
  }
  return { chunk: ci, contextLength: lenC, startsWithBos, score, cache };
}

function chunked(model: HookedModel, sample: PipelineSample, config: Config): PipelineResult {
  const c = model.config;
  const bos = c.bosTokenId;
  const question = config['global.questionBos'] && bos !== null ? [bos, ...sample.question] : sample.question;
  const expanded = config['kvEvict.gqa'] === 'expanded-heads' || config['calib.gqa'] === 'expanded-heads';
  const longest = Math.max(...sample.chunks.map((ch) => ch.length));
  const rope = ropeFor(config, c, longest + question.length + sample.maxNew);
  const minChunk = Math.min(...sample.chunks.map((ch) => ch.length));
  const runs = sample.chunks.map((tokens, ci) => runChunk(model, ci, tokens, question, config, rope, expanded, minChunk));
  const chunkScores = runs.map((r) => r.score);

  const k = sample.retrieval ? (config['chunkEvict.kRetrieval'] as number) : (config['chunkEvict.k'] as number);
  const keptChunks = config['chunkEvict.enabled']
    ? selectChunks(chunkScores, k, config['chunkEvict.keepOrder'] as boolean)
    : runs.map((r) => r.chunk);
  const kept = keptChunks.map((i) => runs[i]);

  const globalCache: HookedCache = model.emptyCache(expanded);
  let questionStart = 0;
  globalCache.sets.forEach((sets, l) => {
    const g = globalStage({
      kept: kept.map((r) => ({
        chunk: r.chunk, contextLength: r.contextLength, startsWithBos: r.startsWithBos,
        entries: r.cache.sets[l].map((set) => set.map((e) => e.tag.index)),
      })),
      allContextLengths: runs.map((r) => r.contextLength),
      dropChunkQuestion: config['global.dropChunkQuestion'] as boolean,
      bos: config['global.bos'] as GlobalBos,
      questionStart: config['global.questionStart'] as 'longest-kept' | 'longest-all',
    });
    questionStart = g.questionStart;
    sets.forEach((set, s) => {
      for (const { chunk, index } of g.entries[s]) {
        set.push(runs[chunk].cache.sets[l][s].find((e: Entry) => e.tag.index === index)!);
      }
    });
  });
  const globalOrigins = origins(globalCache);

  const calibReencode = config['calib.enabled'] && config['calib.stage'] === 'reencode';
  const codeSpan = config['calib.regionOver'] === 'context-and-question';
  const offsets: number[] = [];
  let off = 0;
  for (const ch of sample.chunks) { offsets.push(off); off += ch.length; }
  const ts = traceSettings(config, offsets, sample.chunks.map((ch) => ch.length), off, off + question.length);
  const attention: TraceLayer[] = [];
  const mask = config['calib.reencodeMask'] as MaskMode;
  const record = (view: LayerView) => { if (ts) attention[view.layer] = traceLayer(view, globalCache, (h) => model.setOf(globalCache, h), ts, mask); };
  const hook = (view: LayerView) => {
    if (config['trace.after'] === 'kv') record(view);
    if (calibReencode) {
      for (const region of rulesAt(config, view.layer, c.numLayers)) {
        // the cached context is every entry that did not come from the re-encoded question
        const span: CalibLayerSettings['span'] = (set) => [0, codeSpan ? set.length : set.filter((e) => e.tag.chunk !== -1).length];
        calibrateLayer(model, globalCache, view, calibSettings(config, region, span));
      }
    }
    if (config['trace.after'] === 'calib') record(view);
  };
  const questionPositions = question.map((_, i) => questionStart + i);
  const logits = model.step(question, questionPositions, globalCache, {
    tags: question.map((_, i) => ({ chunk: -1, index: i })), beforeAttention: hook, rope,
    mask: config['calib.reencodeMask'] as MaskMode,
  });
  const finalCache = origins(globalCache);
  const finalLogits = logits[logits.length - 1];
  const evaluateNll = scoreEvaluated(model, globalCache, finalLogits, questionStart + question.length, sample.evaluate ?? [], rope);
  const { generated, positions } = decode(model, globalCache, finalLogits, questionStart + question.length, sample, rope);
  return {
    chunkScores, keptChunks, kvKept: kept.map((r) => r.cache.sets.map((sets) => sets.map((set) => set.map((e) => e.tag.index)))),
    globalCache: globalOrigins, finalCache, questionStart, questionPositions, generatedPositions: positions, finalLogits, generated, evaluateNll,
    attention: ts ? attention : undefined,
  };
}

function unchunked(model: HookedModel, sample: PipelineSample, config: Config): PipelineResult {
  const c = model.config;
  if (sample.chunks.length !== 1) throw new Error('reference pipeline: unchunked policies take the context as one chunk');
  if (config['streaming.enabled']) throw new Error('reference pipeline: streaming is not modelled (needs pre-RoPE keys); see streamingKeep');
  let prompt = [...sample.chunks[0], ...sample.question];
  const window = c.rope.maxPositionEmbeddings;
  const maxTokens = (config['full.maxTokens'] as number) || window - sample.maxNew;
  if (prompt.length > maxTokens) {
    const half = Math.floor(maxTokens / 2); // LongBench's middle truncation: head half + tail half
    prompt = [...prompt.slice(0, half), ...prompt.slice(prompt.length - half)];
  }
  const rope = ropeFor(config, c, prompt.length + sample.maxNew);
  const snap = config['snapkv.enabled'] as boolean;
  const w = Math.min(config['snapkv.window'] as number, prompt.length);
  const windowQueries: number[][][][] = [];
  const cache = model.emptyCache(false);
  // The layout is the prompt as encoded; the chunk offset holds only when it was not cut.
  const cut = prompt.length !== sample.chunks[0]!.length + sample.question.length;
  const ts = traceSettings(config, cut ? [] : [0], [prompt.length], prompt.length - sample.question.length, prompt.length);
  const attention: TraceLayer[] = [];
  let attn = plainAttention;
  if (config['dca.enabled']) {
    // The engine's schema refuses this pair too: the trace would show plain attention, not DCA's.
    if (ts) throw new Error('reference pipeline: trace.attention with dca.enabled is not modelled');
    const z = dcaSizes(config['dca.chunkSize'] as number, config['dca.localWindow'] as number, window);
    attn = { position: (p) => dcaPosition(p, z), attend: dcaAttend(z) };
  }
  const logits = model.step(prompt, prompt.map((_, i) => attn.position(i)), cache, {
    tags: prompt.map((_, i) => ({ chunk: 0, index: i })), rope, attend: attn.attend,
    beforeAttention: (view) => {
      if (snap) windowQueries[view.layer] = Array.from({ length: c.numHeads }, (_, h) => view.queries.slice(-w).map((q) => Array.from(q[h])));
      if (ts) attention[view.layer] = traceLayer(view, cache, (h) => model.setOf(cache, h), ts, 'by-position');
    },
  });
  if (snap) {
    const capacity = (config['snapkv.capacity'] as number) || Math.floor(window / 2);
    cache.sets.forEach((sets, l) => {
      const r = snapkvWholePrompt({
        queries: windowQueries[l], keys: sets.map((set) => set.map((e) => Array.from(e.key))), capacity,
        kernel: config['snapkv.kernel'] as number, pooling: config['snapkv.pooling'] as Pooling, gqa: 'group-sum',
      });
      sets.forEach((set, s) => {
        const keep = new Set(r.keep[s]);
        set.splice(0, set.length, ...set.filter((e) => keep.has(e.tag.index)));
      });
    });
  }
  const finalCache = origins(cache);
  const finalLogits = logits[logits.length - 1];
  const evaluateNll = scoreEvaluated(model, cache, finalLogits, prompt.length, sample.evaluate ?? [], rope, attn);
  const { generated, positions } = decode(model, cache, finalLogits, prompt.length, sample, rope, attn);
  return {
    chunkScores: [], keptChunks: [0], kvKept: [], globalCache: finalCache, finalCache, questionStart: prompt.length - sample.question.length,
    questionPositions: sample.question.map((_, i) => prompt.length - sample.question.length + i), generatedPositions: positions, finalLogits, generated,
    evaluateNll, attention: ts ? attention : undefined,
  };
}

/** Runs one sample through the reference pipeline the config describes. */
export function referencePipeline(modelDir: string, sample: PipelineSample, config: Config): PipelineResult {
  const model = HookedModel.load(modelDir);
  return config['chunk.enabled'] ? chunked(model, sample, config) : unchunked(model, sample, config);
}

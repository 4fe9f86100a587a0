// One perplexity sample: a document's first L tokens → the engine Sample a config processes exactly as
// `eval` processes a context → the mean NLL of the evaluated tokens.
//
// Default protocol: context = the first L − E tokens, query = its last Q tokens (they score the
// chunks and are re-encoded after the kept ones), evaluated = the last E tokens, scored one by one
// against the cache the config left. Chunked configs cut the context before the query like eval's
// token split (BOS, then an even slice of the body, at most chunk.budget tokens per chunk input).
//
// Paper protocol (ParallelComp Table 3): a NarrativeQA story cut to its first L tokens, put in the
// task's prompt, and the perplexity of the question template's tokens in the re-encoding step.
import type { EngineModel, RunResult, Sample } from '../../engine/index.js';
import type { PolicyConfig } from '../../engine/policy-config.js';
import type { LongBenchRecord } from '../../datasets/records.js';
import { registry } from '../../datasets/registry.js';
import type { Tok } from '../../datasets/tokenizer.js';
import type { NllLine } from '../../results/run-dir.js';
import { UserError } from '../../util/errors.js';
import { cutWindow, evalTokensAt } from './ppl-lengths.js';
import { buildSample } from './sample.js';

export type Protocol = 'default' | 'paper';

/** The smallest chunk budget eval accepts (cli/runners/sample.ts chunkBudget). */
const MIN_BUDGET = 16;

/**
 * Tokens per chunk input (BOS included) for a chunked config at length L: its own chunk.budget, or
 * what the trained window leaves once the query and the evaluated tokens follow the longest chunk.
 */
export function pplChunkBudget(config: PolicyConfig, window: number, length: number, evalTokens: number, queryTokens: number): number {
  const set = Number(config['chunk.budget'] ?? 0);
  if (set > 0) return set;
  const e = evalTokensAt(length, evalTokens);
  const budget = window - queryTokens - e;
  if (budget < MIN_BUDGET)
    throw new UserError(
      `config ${config.preset}: the trained window (${window} tokens) leaves ${budget} tokens per chunk after ${queryTokens} query and ${e} evaluated tokens`,
      { hint: 'lower --eval-tokens or --query-tokens, or set a budget with --set chunk.budget=N' },
    );
  return budget;
}

/** Eval's token split (datasets/prompts.ts tokenChunks): a BOS head on every chunk, the body in even slices. */
export function splitIntoChunks(body: Int32Array, bosId: number | null, budget: number): Int32Array[] {
  const head = bosId !== null && body[0] === bosId ? body.subarray(0, 1) : body.subarray(0, 0);
  const rest = body.subarray(head.length);
  const room = budget - head.length;
  const n = Math.max(1, Math.ceil(rest.length / room));
  return Array.from({ length: n }, (_, i) => {
    const a = Math.floor((i * rest.length) / n);
    const b = Math.floor(((i + 1) * rest.length) / n);
    const chunk = new Int32Array(head.length + b - a);
    chunk.set(head, 0);
    chunk.set(rest.subarray(a, b), head.length);
    return chunk;
  });
}

/**
 * The config as the engine gets it for a context of `contextTokens`: unchunked configs whose
 * full.maxTokens is left at 0 read the whole context (the perplexity at length L is that of a model
 * that read L tokens; eval would middle-truncate to the trained window). Anything set stays.
 */
export function configForContext(config: PolicyConfig, contextTokens: number): PolicyConfig {
  if (config['chunk.enabled'] || Number(config['full.maxTokens']) !== 0) return config;
  return { ...config, 'full.maxTokens': contextTokens };
}

export interface DefaultProtocolInput {
  tokens: Int32Array;
  length: number;
  evalTokens: number;
  queryTokens: number;
  config: PolicyConfig;
  window: number;
  bosId: number | null;
}

export function defaultProtocolSample(x: DefaultProtocolInput): { sample: Sample; config: PolicyConfig } {
  const cut = cutWindow(x.tokens, x.length, x.evalTokens, x.queryTokens);
  const chunks = x.config['chunk.enabled']
    ? splitIntoChunks(cut.body, x.bosId, pplChunkBudget(x.config, x.window, x.length, x.evalTokens, x.queryTokens))
    : [cut.body];
  return {
    sample: { chunks, question: cut.query, evalTokens: cut.evaluated, maxNewTokens: 0, stopIds: [] },
    config: configForContext(x.config, cut.context.length),
  };
}

export interface PaperProtocolInput {
  record: LongBenchRecord;
  tok: Tok;
  /** The story's tokens (as the tokenizer encodes it alone, BOS included when it adds one). */
  tokens: Int32Array;
  length: number;
  config: PolicyConfig;
  window: number;
}

/**
 * NarrativeQA's prompt with the story cut to its first L tokens. Unchunked configs read the question
 * template as evaluated tokens after the whole context (the same positions and cache as re-encoding
 * it); chunked configs re-encode it as the question, and the engine reports its NLL in the trace.
 */
export function paperProtocolSample(x: PaperProtocolInput): { sample: Sample; config: PolicyConfig; questionInTrace: boolean } {
  const cutStory = x.tok.decode(x.tokens.subarray(0, x.length), { skipSpecialTokens: true });
  const task = registry().get('narrativeqa');
  const built = buildSample({ task, record: { ...x.record, context: cutStory }, tok: x.tok, config: x.config, window: x.window, maxNew: 0 });
  const contextTokens = built.chunks.reduce((n, c) => n + c.length, 0);
  if (x.config['chunk.enabled'])
    return { sample: { chunks: built.chunks, question: built.question, maxNewTokens: 0, stopIds: [] }, config: x.config, questionInTrace: true };
  return {
    sample: { chunks: built.chunks, question: new Int32Array(0), evalTokens: built.question, maxNewTokens: 0, stopIds: [] },
    config: configForContext(x.config, contextTokens),
    questionInTrace: false,
  };
}

export interface ScoreInput {
  model: EngineModel;
  protocol: Protocol;
  config: PolicyConfig;
  configName: string;
  id: string;
  index: number;
  tokens: Int32Array;
  length: number;
  evalTokens: number;
  queryTokens: number;
  record?: LongBenchRecord;
  tok: Tok;
  signal?: AbortSignal;
}

export interface Scored {
  line: NllLine;
  /** Tokens the engine read (context, query and evaluated), for tokens/s. */
  processed: number;
}

function sum(xs: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < xs.length; i++) total += xs[i]!;
  return total;
}

/** Runs one sample at one length through the config and returns its result line. */
export async function scoreSample(x: ScoreInput): Promise<Scored> {
  const window = x.model.info.max_position_embeddings;
  let built: { sample: Sample; config: PolicyConfig; questionInTrace?: boolean };
  if (x.protocol === 'paper') {
    if (!x.record) throw new UserError(`sample ${x.id}: --protocol paper needs NarrativeQA-style records (fields "context" and "input")`);
    built = paperProtocolSample({ record: x.record, tok: x.tok, tokens: x.tokens, length: x.length, config: x.config, window });
  } else {
    built = defaultProtocolSample({ tokens: x.tokens, length: x.length, evalTokens: x.evalTokens, queryTokens: x.queryTokens, config: x.config, window, bosId: x.tok.bosId });
  }
  const started = performance.now();
  const result = await x.model.run(built.sample, built.config, { signal: x.signal });
  const seconds = (performance.now() - started) / 1000;
  const nll = scoredNll(result, x, built.questionInTrace ?? false);
  const trace = result.trace as { keptChunks?: number[]; evalPositions?: number[]; questionStart?: number };
  const processed = built.sample.chunks.reduce((n, c) => n + c.length, 0) + built.sample.question.length + (built.sample.evalTokens?.length ?? 0);
  const line: NllLine = {
    _id: x.id,
    index: x.index,
    nll: sum(nll) / nll.length,
    tokens: nll.length,
    chunks: built.sample.chunks.length,
    kept_chunks: Array.isArray(trace.keptChunks) ? trace.keptChunks : undefined,
    question_start: trace.questionStart,
    first_eval_position: Array.isArray(trace.evalPositions) ? trace.evalPositions[0] : undefined,
    time_s: Math.round(seconds * 1e4) / 1e4,
  };
  if (!Number.isFinite(line.nll)) throw new Error(`sample ${x.id} at ${x.length} under ${x.configName}: the engine returned a non-finite NLL`);
  return { line, processed };
}

/**
 * The NLL values that make the sample's perplexity. Question tokens (paper protocol) are scored from
 * the second on: the first is predicted by the context, not by the question's own prefix (as the
 * reference's labels=question_ids loss in the re-encoding forward).
 */
function scoredNll(result: RunResult, x: ScoreInput, questionInTrace: boolean): ArrayLike<number> {
  if (x.protocol === 'default') {
    const expected = evalTokensAt(x.length, x.evalTokens);
    if (result.nll.length !== expected) throw new Error(`engine returned ${result.nll.length} NLL values for ${expected} evaluated tokens`);
    return result.nll;
  }
  if (!questionInTrace) return result.nll.subarray(1);
  const fromTrace = (result.trace as { questionNll?: unknown }).questionNll;
  if (!Array.isArray(fromTrace) || fromTrace.length === 0)
    throw new UserError(`--protocol paper with chunked config ${x.configName}: this engine build does not report the re-encoded question's NLL (trace field "questionNll")`, {
      hint: 'use --protocol default for chunked configs, or unchunked configs (full, ntk, ...) with --protocol paper',
    });
  return (fromTrace as number[]).slice(1);
}

// One sample of an eval run: record → engine Sample for the config → engine → the prediction line in
// the official fields (plus what we measured), and the running task score shown while a task runs.
import type { EngineModel } from '../../engine/index.js';
import type { PolicyConfig } from '../../engine/policy-config.js';
import type { TaskDef } from '../../datasets/registry.js';
import type { InfiniteBenchRecord, LongBenchRecord } from '../../datasets/records.js';
import type { Tok } from '../../datasets/tokenizer.js';
import { infiniteBenchLabel } from '../../datasets/metrics/infinitebench.js';
import { scoreTask } from '../../datasets/score.js';
import type { PredictionLine } from '../../results/run-dir.js';
import { UserError, isUserError } from '../../util/errors.js';
import { buildSample, sampleFromParts, type SampleLengths } from './sample.js';
import type { PromptParts } from '../../datasets/prompts.js';
import { isRetrievalTask, type PendingRecord } from './eval-tasks.js';

export interface PredictInput {
  model: EngineModel;
  tok: Tok;
  task: TaskDef;
  config: PolicyConfig;
  sample: PendingRecord;
  /** Overrides the task's official answer length. */
  maxNew?: number;
  signal?: AbortSignal;
  /** For messages: where the record came from. */
  file: string;
  /** Sizes from the per-model length tables (eval-lengths.ts); absent: sized from the trained window. */
  lengths?: SampleLengths & { fullMaxTokens?: number };
  /** The record already tokenized (sample.ts prepareRecord), shared by every config of the run. */
  prepared?: PromptParts;
}

export interface Prediction {
  line: PredictionLine;
  /** Prompt tokens the engine read plus the tokens it generated (for tokens/s). */
  tokens: number;
  /** The sample's peak KV-cache bytes, from the engine trace. */
  peakCacheBytes?: number;
}

/** The official answer fields of a record: LongBench's as they are; InfiniteBench's label as its preds files store it. */
function officialFields(task: TaskDef, sample: PendingRecord, file: string, promptTokens: number): Pick<PredictionLine, 'answers' | 'all_classes' | 'length'> {
  if (task.recordFormat === 'longbench') {
    const r = sample.record as LongBenchRecord;
    return { answers: r.answers, all_classes: r.all_classes, length: r.length };
  }
  let label: unknown;
  try {
    label = infiniteBenchLabel(task.name, sample.record as InfiniteBenchRecord);
  } catch (e) {
    throw new UserError(`${file}:${sample.line}: ${(e as Error).message}`);
  }
  // InfiniteBench records carry no length field; the prompt's token count stands in for it.
  return { answers: Array.isArray(label) ? label : [label], all_classes: null, length: promptTokens };
}

export async function predict(input: PredictInput): Promise<Prediction> {
  try {
    return await predictOne(input);
  } catch (e) {
    // A sample the engine or the prompt builder refuses stops the run; say which one, so it can be looked at.
    if (!isUserError(e)) throw e;
    throw new UserError(`${input.file}:${input.sample.line} (${input.task.name} sample ${input.sample.id}, config ${input.config.preset}): ${e.message}`, { hint: e.hint, cause: e });
  }
}

async function predictOne(input: PredictInput): Promise<Prediction> {
  const { model, tok, task, config, sample } = input;
  const window = model.info.max_position_embeddings;
  const built = input.prepared
    ? sampleFromParts(input.prepared, { tok, config, window, lengths: input.lengths })
    : buildSample({ task, record: sample.record, tok, config, window, maxNew: input.maxNew, lengths: input.lengths });
  const promptTokens = built.chunks.reduce((n, c) => n + c.length, 0) + built.question.length;
  const started = performance.now();
  // `retrieval` is per sample, not part of the config's identity: it picks chunkEvict.kRetrieval. The table's
  // full.maxTokens is per task too (LongBench only; the manifest holds the --lengths choice behind it), and
  // never replaces a value the config sets itself.
  const table = input.lengths?.fullMaxTokens;
  const fullMaxTokens = table && !(Number(config['full.maxTokens'] ?? 0) > 0) ? { 'full.maxTokens': table } : {};
  const result = await model.run(built, { ...config, ...fullMaxTokens, retrieval: isRetrievalTask(task) }, { signal: input.signal });
  const seconds = (performance.now() - started) / 1000;
  // Stored as decoded, like pred.py / InfiniteBench's eval scripts; the scorer applies the official
  // post-processing (first line for trec, triviaqa, samsum, lsht; InfiniteBench's per-task parsing).
  const pred = tok.decode(result.tokens, { skipSpecialTokens: true });
  const trace = result.trace as { keptChunks?: number[]; peakCacheBytes?: number };
  const line: PredictionLine = {
    _id: sample.id,
    index: sample.index,
    pred,
    ...officialFields(task, sample, input.file, promptTokens),
    prompt_tokens: promptTokens,
    chunks: built.chunks.length,
    kept_chunks: Array.isArray(trace.keptChunks) ? trace.keptChunks : undefined,
    generated_tokens: result.tokens.length,
    time_s: Math.round(seconds * 1e4) / 1e4,
  };
  return { line, tokens: promptTokens + result.tokens.length, peakCacheBytes: trace.peakCacheBytes };
}

/**
 * The task score so far, shown while samples finish: the mean of per-sample scores ×100. The
 * official score (rounding, LongBench-E buckets) is computed from all lines when the task ends.
 */
export class RunningScore {
  private sum = 0;
  private n = 0;

  constructor(private readonly task: string) {}

  add(lines: readonly PredictionLine[]): number | undefined {
    if (lines.length === 0) return this.value;
    const { perRecord } = scoreTask(this.task, lines);
    for (const s of perRecord) this.sum += s;
    this.n += perRecord.length;
    return this.value;
  }

  get value(): number | undefined {
    return this.n === 0 ? undefined : (100 * this.sum) / this.n;
  }
}

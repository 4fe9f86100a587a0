// Turns a (task, record) or a plain (context, question) pair into the engine's Sample for a policy
// config: chunked by the config's budget when chunking is on, one whole-context "chunk" otherwise
// (the engine then applies the unchunked policy: truncation, RoPE scaling, streaming, SnapKV).
import type { Sample } from '../../engine/index.js';
import type { PolicyConfig } from '../../engine/policy-config.js';
import { chunkParts, promptParts, type PromptParts } from '../../datasets/prompts.js';
import type { AnyRecord } from '../../datasets/records.js';
import type { TaskDef } from '../../datasets/registry.js';
import { registry } from '../../datasets/registry.js';
import type { Tok } from '../../datasets/tokenizer.js';
import { UserError } from '../../util/errors.js';

/** A task for hand-run samples: the context as is, then the question. */
export const PLAIN_TASK: TaskDef = {
  name: 'plain',
  benchmark: 'longbench',
  recordFormat: 'longbench',
  language: 'en',
  category: 'plain',
  records: 0,
  template: '{context}\n\n{input}',
  split: { context: '{context}', question: '\n\n{input}', source: 'pcomp generate --context-file' },
  maxNewTokens: 128,
  metric: 'qa_f1_score',
  skipChatTemplate: true,
  postprocess: null,
  stopOnNewline: false,
  answerField: 'answers',
  hub: { repo: '', type: 'dataset', revision: '' },
};

export interface SampleInput {
  task: TaskDef;
  record: AnyRecord;
  tok: Tok;
  config: PolicyConfig;
  /** The model's trained window (max_position_embeddings). */
  window: number;
  maxNew?: number;
  /** Sizes from a per-model length table (eval --lengths paper); absent: sized from the trained window. */
  lengths?: SampleLengths;
}

/** A chunk budget and window from a length table; the config's own chunk.budget still wins over both. */
export interface SampleLengths {
  /** Tokens per chunk (ParallelComp's context_max_len). */
  chunkBudget?: number;
  /** The window the question must fit in after the longest chunk (raw_model_max_len). */
  rawMaxLength?: number;
}

/** Did the config fix its chunk budget itself (preset or --set)? Then no table or window sizes it. */
export function hasOwnChunkBudget(config: PolicyConfig): boolean {
  return Number(config['chunk.budget'] ?? 0) > 0;
}

/**
 * The chunk budget a config asks for: its own value, else the length table's, else what the trained window
 * leaves after question and answer.
 */
export function chunkBudget(config: PolicyConfig, window: number, questionLen: number, maxNew: number, table?: number): number {
  if (hasOwnChunkBudget(config)) return Number(config['chunk.budget']);
  if (table) return table;
  const budget = window - questionLen - maxNew;
  if (budget < 16)
    throw new UserError(
      `chunk.budget: the trained window (${window} tokens) leaves ${budget} tokens per chunk after a ${questionLen}-token question and ${maxNew} new tokens`,
      { hint: 'set one explicitly with --set chunk.budget=N, or lower --max-new-tokens' },
    );
  return budget;
}

export function buildSample(input: SampleInput): Sample & { questionText: string } {
  return sampleFromParts(prepareRecord(input), input);
}

/**
 * The config-independent part of a sample: the record tokenized once (datasets/prompts.ts promptParts). A run
 * prepares each record once and builds every config's sample from it with sampleFromParts.
 */
export function prepareRecord(input: Pick<SampleInput, 'task' | 'record' | 'tok' | 'maxNew'> & { truncate?: number }): PromptParts {
  return promptParts(input.task, input.record, input.tok, { maxNew: input.maxNew ?? input.task.maxNewTokens, truncate: input.truncate });
}

export function sampleFromParts(parts: PromptParts, input: Omit<SampleInput, 'task' | 'record'>): Sample & { questionText: string } {
  const { tok, config, window } = input;
  const maxNew = parts.maxNew;
  const chunked = Boolean(config['chunk.enabled']);
  const split = (config['chunk.split'] as 'tokens' | 'chars' | undefined) ?? 'tokens';
  // The question's size sets the budget that cuts the context: what the trained window leaves after it.
  const budget = chunked ? chunkBudget(config, window, parts.question.length, maxNew, input.lengths?.chunkBudget) : Number.MAX_SAFE_INTEGER;
  // The table's window goes with the table's budget only: it cuts the question to fit after the longest chunk.
  const fromTable = chunked && !hasOwnChunkBudget(config) && Boolean(input.lengths?.chunkBudget);
  const rawMaxLength = fromTable ? input.lengths?.rawMaxLength : undefined;
  const count = Number(config['chunk.count'] ?? 0);
  const p = chunkParts(parts, tok, chunked ? { chunkBudget: budget, rawMaxLength, maxNew, split, count } : { chunkBudget: budget, maxNew });
  // The prompt builder encodes the question as the tokenizer does, BOS included. Unchunked configs read it as the
  // continuation of one sequence (no BOS mid-prompt); chunked ones keep it only under global.questionBos (the
  // reference code's tokenizer default), since the BOS's NLL after a chunk would otherwise count in the chunk score.
  const keepBos = chunked && Boolean(config['global.questionBos']);
  const question = !keepBos && tok.bosId !== null && p.question[0] === tok.bosId && p.question.length > 1 ? p.question.subarray(1) : p.question;
  return { chunks: p.chunks, question, maxNewTokens: maxNew, stopIds: p.stopIds, questionText: p.questionText };
}

export function buildChunkedSample(opts: {
  tok: Tok;
  context: string;
  question: string;
  config: PolicyConfig;
  maxNew: number;
  task?: string;
  window?: number;
}): Sample {
  const task = opts.task ? registry().get(opts.task) : PLAIN_TASK;
  const record = { context: opts.context, input: opts.question, answers: [], options: [], all_classes: null, length: 0, _id: 'cli' } as unknown as AnyRecord;
  return buildSample({ task, record, tok: opts.tok, config: opts.config, window: opts.window ?? 4096, maxNew: opts.maxNew });
}

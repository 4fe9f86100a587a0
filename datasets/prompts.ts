// Prompts exactly as the official scripts build them (LongBench pred.py, InfiniteBench eval_utils/create_prompt),
// and the ParallelComp form: a context template applied to every chunk, and the question kept apart.
import { UserError } from '../util/errors.js';
import type { TaskDef } from './registry.js';
import type { InfiniteBenchRecord, LongBenchRecord, AnyRecord } from './records.js';
import type { Tok } from './tokenizer.js';

/**
 * Python `template.format(**fields)` for templates whose only braces are placeholders (true of every official
 * template): one pass, substituted text is never re-scanned, and a missing field is an error as in Python.
 */
export function fillTemplate(template: string, fields: Record<string, string>, where = 'template'): string {
  return template.replace(/\{([A-Za-z_]+)\}/g, (_m, key: string) => {
    const v = fields[key];
    if (v === undefined) throw new UserError(`${where}: placeholder {${key}} has no value for this record`);
    return v;
  });
}

/** The fields create_prompt() derives from an InfiniteBench record (code_run's function call, math_find's prefix...). */
function infinitebenchFields(task: string, r: InfiniteBenchRecord): Record<string, string> {
  const f: Record<string, string> = { context: r.context, input: r.input, question: r.input };
  if (r.options.length >= 4) {
    ['A', 'B', 'C', 'D'].forEach((l, i) => { f[`OPTION_${l}`] = r.options[i]!; });
  }
  if (task === 'code_run') {
    const call = /func_[0-9]+\(-?[0-9]+\)/.exec(r.input)?.[0];
    if (call) { f.func_call = call; f.func = call.split('(')[0]!; }
  }
  if (task === 'math_find') {
    // Python: re.findall(r"The .+ of", input)[0].lower()[:-3] — greedy, and [:-3] drops " of".
    const m = /The .+ of/.exec(r.input)?.[0];
    if (m) f.prefix = `What is ${m.toLowerCase().slice(0, -3)} in the following list?`;
  }
  return f;
}

export function templateFields(task: TaskDef, record: AnyRecord): Record<string, string> {
  if (task.recordFormat === 'infinitebench') return infinitebenchFields(task.name, record as InfiniteBenchRecord);
  const r = record as LongBenchRecord;
  return { context: r.context, input: r.input };
}

/** The template for a task: LongBench's one, or InfiniteBench's of a model family (default yarn_mistral = open models). */
export function taskTemplate(task: TaskDef, family?: string): string {
  if (!task.templates || !family) return task.template;
  const t = task.templates[family];
  if (!t) throw new UserError(`task ${task.name} has no template for family "${family}" (known: ${Object.keys(task.templates).join(', ')})`);
  return t;
}

/** Ids that end generation: the model's eos ids, plus the newline token where the official script adds it (samsum). */
export function stopIdsFor(task: TaskDef, tok: Tok): number[] {
  const ids = [...tok.eosIds];
  if (task.stopOnNewline) {
    // pred.py: tokenizer.encode("\n", add_special_tokens=False)[-1]
    const nl = tok.encode('\n', { addSpecialTokens: false }).at(-1);
    if (nl !== undefined && !ids.includes(nl)) ids.push(nl);
  }
  return ids;
}

export type ChatMode = 'auto' | 'never';

/** Whether the chat template wraps this task's prompt: the official skip list, and only for models that have one. */
export function usesChatTemplate(task: TaskDef, tok: Tok, chat: ChatMode = 'auto'): boolean {
  return chat === 'auto' && !task.skipChatTemplate && tok.hasChatTemplate;
}

/**
 * Chat-templated text is tokenized without adding specials when the template already wrote the BOS (as
 * apply_chat_template does); plain text gets the tokenizer's specials (as `tokenizer(prompt)` does).
 */
function encodePrompt(tok: Tok, text: string, chatTemplated: boolean): Int32Array {
  const bosInText = chatTemplated && tok.bosToken !== null && tok.bosToken !== '' && text.startsWith(tok.bosToken);
  return tok.encode(text, { addSpecialTokens: !bosInText });
}

function wrapChat(tok: Tok, text: string): string {
  return tok.applyChatTemplate([{ role: 'user', content: text }], { addGenerationPrompt: true });
}

export interface BuiltPrompt {
  text: string;
  ids: Int32Array;
  /** Tokens of the filled template before truncation (BOS included). */
  fullTokens: number;
  truncated: boolean;
  chatTemplated: boolean;
  maxNew: number;
  stopIds: number[];
}

export interface PromptOptions {
  /** LongBench: model2maxlen budget; InfiniteBench: truncation length (128K for open models). */
  maxLength: number;
  chat?: ChatMode;
  /** InfiniteBench template family; default the registry's (yarn_mistral). */
  family?: string;
  maxNew?: number;
}

/** One prompt, built like the official scripts. */
export function buildPrompt(task: TaskDef, record: AnyRecord, tok: Tok, opts: PromptOptions): BuiltPrompt {
  const filled = fillTemplate(taskTemplate(task, opts.family), templateFields(task, record), `${task.name} template`);
  const ids = tok.encode(filled);
  const half = Math.floor(opts.maxLength / 2);
  const truncated = ids.length > opts.maxLength;
  let text: string;
  if (task.recordFormat === 'longbench') {
    // pred.py: decode(ids[:half]) + decode(ids[-half:]), both skipping special tokens; untouched when short enough.
    text = truncated ? tok.decode(ids.subarray(0, half), { skipSpecialTokens: true }) + tok.decode(ids.subarray(ids.length - half), { skipSpecialTokens: true }) : filled;
  } else {
    // eval_utils.truncate_by_tokens: always decodes (one decode of the kept ids), truncated or not.
    const kept = truncated ? concat(ids.subarray(0, half), ids.subarray(ids.length - half)) : ids;
    text = tok.decode(kept, { skipSpecialTokens: true });
  }
  const chatTemplated = usesChatTemplate(task, tok, opts.chat);
  if (chatTemplated) text = wrapChat(tok, text);
  // LongBench's untouched raw prompt is exactly what was just tokenized; everything else is re-tokenized as sent.
  const reuse = task.recordFormat === 'longbench' && !truncated && !chatTemplated;
  return {
    text,
    ids: reuse ? ids : encodePrompt(tok, text, chatTemplated),
    fullTokens: ids.length,
    truncated,
    chatTemplated,
    maxNew: opts.maxNew ?? task.maxNewTokens,
    stopIds: stopIdsFor(task, tok),
  };
}

function concat(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Keeps the first and last ⌊n/2⌋ ids (the official middle truncation, on ids). */
export function middleIds(ids: Int32Array, n: number): Int32Array {
  if (ids.length <= n) return ids;
  const h = Math.floor(n / 2);
  return concat(ids.subarray(0, h), ids.subarray(ids.length - h));
}

export interface ChunkedPrompt {
  /** Context template applied to each chunk, tokenized (BOS as the tokenizer adds it). */
  chunks: Int32Array[];
  /** The question template, tokenized; re-encoded after the chunks. */
  question: Int32Array;
  maxNew: number;
  stopIds: number[];
  chunkTexts: string[];
  questionText: string;
  chatTemplated: boolean;
}

export interface ChunkOptions {
  /** Tokens per chunk, template included (ParallelComp's context_max_len). */
  chunkBudget: number;
  /** The model window (ParallelComp's raw_model_max_len): enables the reference's overflow guards. */
  rawMaxLength?: number;
  /**
   * 'tokens' (default): the context is tokenized once and its ids are sliced evenly, so every chunk holds at most
   * chunkBudget tokens and none is re-tokenized. 'chars': the reference's rule — ⌈tokens/budget⌉ equal character
   * slices of the decoded context, each re-tokenized inside the template (chunks may then exceed the budget).
   */
  split?: 'tokens' | 'chars';
  /** Exactly this many chunks (token split only); 0 or absent: as many as the budget needs. */
  count?: number;
  chat?: ChatMode;
  family?: string;
  maxNew?: number;
}

/**
 * What a record contributes to every config's sample, tokenized once: the context template's head (prefix, BOS
 * as the tokenizer adds it), the context's ids, the template's tail, and the question apart. A run builds
 * this once per record and cuts each config's chunks from it (chunkParts), so tokenizing never repeats per config.
 */
export interface PromptParts {
  task: TaskDef;
  prefix: string;
  suffix: string;
  /** The context as the chunks see it (decoded back after `truncate` cut it, as the official scripts do). */
  context: string;
  head: Int32Array;
  body: Int32Array;
  tail: Int32Array;
  /** The question template, tokenized (chat-templated where the task and model use one). */
  question: Int32Array;
  questionText: string;
  chatTemplated: boolean;
  maxNew: number;
  stopIds: number[];
  /** Tokens of the whole prompt before `truncate` cut its middle; absent when nothing was cut. */
  truncatedFrom?: number;
}

export interface PartsOptions {
  chat?: ChatMode;
  maxNew?: number;
  /**
   * Middle-truncate the whole prompt (head + context + tail + question) to this many tokens, cutting from the
   * context's middle: InfiniteBench's truncate_by_tokens (128K for its open models) done on ids.
   */
  truncate?: number;
}

export function promptParts(task: TaskDef, record: AnyRecord, tok: Tok, opts: PartsOptions = {}): PromptParts {
  const fields = templateFields(task, record);
  const where = `${task.name} split`;
  const at = task.split.context.indexOf('{context}');
  const prefix = fillTemplate(task.split.context.slice(0, at), fields, where);
  const suffix = fillTemplate(task.split.context.slice(at + '{context}'.length), fields, where);
  let context = fields.context!;
  // Tokenize prefix+context together so the first chunk starts exactly as the single prompt does, then take the
  // ids past the longest run shared with the prefix alone as the context's ids.
  const joint = tok.encode(prefix + context);
  const alone = tok.encode(prefix);
  let p = 0;
  while (p < alone.length && p < joint.length && alone[p] === joint[p]) p++;
  const head = joint.subarray(0, p);
  let body = joint.subarray(p);
  const tail = suffix ? tok.encode(suffix, { addSpecialTokens: false }) : new Int32Array(0);

  const questionText = fillTemplate(task.split.question, fields, where);
  const chatTemplated = usesChatTemplate(task, tok, opts.chat);
  const qText = chatTemplated ? wrapChat(tok, questionText) : questionText;
  const question = encodePrompt(tok, qText, chatTemplated);

  let truncatedFrom: number | undefined;
  const total = head.length + body.length + tail.length + question.length;
  if (opts.truncate && total > opts.truncate) {
    // Whole prompt ids[:L/2] + ids[-L/2:]: the head and the tail + question stay, the context loses its middle.
    const half = Math.floor(opts.truncate / 2);
    const keepHead = Math.max(0, half - head.length);
    const keepTail = Math.max(0, half - tail.length - question.length);
    if (keepHead + keepTail < body.length) {
      body = concat(body.subarray(0, keepHead), body.subarray(body.length - keepTail));
      context = tok.decode(body, { skipSpecialTokens: true });
      truncatedFrom = total;
    }
  }
  return {
    task, prefix, suffix, context, head, body, tail, question, questionText: qText, chatTemplated,
    maxNew: opts.maxNew ?? task.maxNewTokens, stopIds: stopIdsFor(task, tok), truncatedFrom,
  };
}

/** The prompt of `record` split for a chunked method: per-chunk context template, and the question apart. */
export function buildChunkedPrompt(task: TaskDef, record: AnyRecord, tok: Tok, opts: ChunkOptions): ChunkedPrompt {
  return chunkParts(promptParts(task, record, tok, opts), tok, opts);
}

/** One config's chunks and question from a record's parts: slicing ids only, except under the 'chars' split. */
export function chunkParts(parts: PromptParts, tok: Tok, opts: ChunkOptions): ChunkedPrompt {
  const { task } = parts;
  const { chunks, chunkTexts } = (opts.split ?? 'tokens') === 'chars'
    ? charChunks(tok, parts.prefix, parts.suffix, parts.context, opts)
    : tokenChunks(tok, parts, opts.chunkBudget, task.name, opts.count);
  let question = parts.question;
  if (opts.rawMaxLength) {
    // pcw_generate: the question and answer restart after the longest chunk and must fit in the window.
    let longest = 0;
    for (const c of chunks) longest = Math.max(longest, c.length);
    if (question.length + longest > opts.rawMaxLength) {
      const room = opts.rawMaxLength - longest;
      if (room < 2) throw new UserError(`${task.name}: no room for the question after a ${longest}-token chunk in a ${opts.rawMaxLength}-token window`);
      question = middleIds(question, 2 * Math.floor(room / 2));
    }
  }
  return { chunks, question, maxNew: opts.maxNew ?? parts.maxNew, stopIds: parts.stopIds, chunkTexts, questionText: parts.questionText, chatTemplated: parts.chatTemplated };
}

function tokenChunks(tok: Tok, parts: PromptParts, budget: number, taskName: string, count = 0): { chunks: Int32Array[]; chunkTexts: string[] } {
  const { head, body, tail } = parts;
  const room = budget - head.length - tail.length;
  if (room < 1) throw new UserError(`${taskName}: chunk budget ${budget} leaves no room for context after the ${head.length + tail.length}-token template`);
  // count > 0 (PCW's fixed number of windows) overrides the budget-derived count.
  const n = count > 0 ? Math.min(count, Math.max(1, body.length)) : Math.max(1, Math.ceil(body.length / room));
  const chunks: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    // Even split: sizes differ by at most one token.
    const a = Math.floor((i * body.length) / n);
    const b = Math.floor(((i + 1) * body.length) / n);
    const ids = new Int32Array(head.length + (b - a) + tail.length);
    ids.set(head, 0);
    ids.set(body.subarray(a, b), head.length);
    ids.set(tail, head.length + (b - a));
    chunks.push(ids);
  }
  // The chunk texts are for showing (`pcomp data show`); decoded when first read, never on the eval path.
  let texts: string[] | undefined;
  const out = { chunks } as { chunks: Int32Array[]; chunkTexts: string[] };
  Object.defineProperty(out, 'chunkTexts', { enumerable: true, get: () => (texts ??= chunks.map((ids) => tok.decode(ids))) });
  return out;
}

function charChunks(tok: Tok, prefix: string, suffix: string, context: string, opts: ChunkOptions): { chunks: Int32Array[]; chunkTexts: string[] } {
  // experiment_manager.truncate_text: n = ceil(len(tok(context)) / budget) on the raw context (specials included),
  // decode without specials, cut into n slices of floor(len/n) code points, remainder to the last slice.
  const ids = tok.encode(context);
  const n = Math.max(1, Math.ceil(ids.length / opts.chunkBudget));
  const chars = Array.from(tok.decode(ids, { skipSpecialTokens: true }));
  const per = Math.floor(chars.length / n);
  const chunks: Int32Array[] = [];
  const chunkTexts: string[] = [];
  const firstMax = opts.rawMaxLength ? opts.chunkBudget + Math.floor((opts.rawMaxLength - opts.chunkBudget) / 2) : Infinity;
  for (let i = 0; i < n; i++) {
    const slice = chars.slice(i * per, i === n - 1 ? chars.length : (i + 1) * per).join('');
    let text = prefix + slice + suffix;
    let chunk = tok.encode(text);
    if (chunk.length > firstMax) {
      // get_window's guard: middle-truncate to first_max_len and re-tokenize.
      const h = Math.floor(firstMax / 2);
      text = tok.decode(chunk.subarray(0, h), { skipSpecialTokens: true }) + tok.decode(chunk.subarray(chunk.length - h), { skipSpecialTokens: true });
      chunk = tok.encode(text);
    }
    chunks.push(chunk);
    chunkTexts.push(text);
  }
  return { chunks, chunkTexts };
}

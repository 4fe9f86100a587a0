// What `pcomp eval` checks before any sample runs (and before a run directory exists), so a run never
// stops half-way on something that was visible at the start:
//   data     missing task files with no way to fetch them (offline, or the hub unreachable): one error
//            naming `pcomp data pull` and --data-dir, nothing created
//   records  every planned record is read: a malformed or incomplete one is refused with file and line,
//            as `pcomp score` refuses one, or with --skip-bad-records skipped and counted
//   sizes    each record's question against each config's chunk budget and the window (what buildSample
//            would refuse later), and each task's answer length against the window for unchunked configs
//   knobs    a --set knob the config does not use, a budget beyond the trained window: warnings
import type { Benchmark, TaskDef } from '../../datasets/registry.js';
import { streamRecords, type AnyRecord, type InfiniteBenchRecord, type LongBenchRecord } from '../../datasets/records.js';
import { scoreTask } from '../../datasets/score.js';
import { infiniteBenchLabel } from '../../datasets/metrics/infinitebench.js';
import { cachedTaskFile, pullCommand } from '../../datasets/store.js';
import { hubReachable, type HubEnv } from '../../datasets/hub.js';
import { fillTemplate, templateFields, usesChatTemplate } from '../../datasets/prompts.js';
import type { Tok } from '../../datasets/tokenizer.js';
import type { PolicyConfig } from '../../engine/policy-config.js';
import { UserError, isUserError } from '../../util/errors.js';
import { chunkBudget, hasOwnChunkBudget } from './sample.js';
import type { EvalLengths } from './eval-lengths.js';

/**
 * Without --data-dir, every task file must be in the cache or fetchable. Offline or with the hub unreachable
 * (probed with a short timeout, never a hang), the missing ones are an error before anything is written.
 */
export async function requireTaskData(benchmark: Benchmark, tasks: readonly TaskDef[], env: HubEnv, opts: { dataDir?: string; probeTimeoutMs?: number; wholeBenchmark?: boolean } = {}): Promise<void> {
  if (opts.dataDir) return;
  const missing: TaskDef[] = [];
  for (const t of tasks) if (!(await cachedTaskFile(t, env))) missing.push(t);
  if (missing.length === 0) return;
  const probe = await hubReachable(env, { type: 'dataset', name: missing[0]!.hub.repo }, opts.probeTimeoutMs);
  if (probe.ok) return; // locateTaskFiles pulls them before the first sample
  const all = missing.length === tasks.length && opts.wholeBenchmark === true;
  const names = missing.map((t) => t.name);
  const what = all ? `no ${benchmark} data in the cache` : `${missing.length} ${benchmark} task file${missing.length === 1 ? ' is' : 's are'} not in the cache (${names.join(', ')})`;
  throw new UserError(`${what} (${env.cacheDir}), and it cannot be downloaded: ${probe.reason}`, {
    hint: `run \`${pullCommand(benchmark, all ? undefined : names)}\` where the hub is reachable (it fills this cache), ` +
      `or give a folder of <task>.jsonl files with --data-dir DIR`,
  });
}

/** A failed download names the two ways to get data, whatever the hub said. */
export async function withDataHint<T>(benchmark: Benchmark, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (!isUserError(e) || !e.message.startsWith('hub:')) throw e;
    throw new UserError(e.message, {
      hint: `${e.hint ? `${e.hint}; ` : ''}\`pcomp data pull ${benchmark}\` retries the download alone, or --data-dir DIR reads a folder of <task>.jsonl files`,
      cause: e,
    });
  }
}

export interface PrecheckTask {
  task: TaskDef;
  file: string;
}

export interface PrecheckInput {
  tasks: readonly PrecheckTask[];
  configs: ReadonlyArray<{ name: string; config: PolicyConfig }>;
  /** The --set items as given (their knobs are checked against each config). */
  sets: readonly string[];
  /** config → task → the sizes chosen for it. */
  lengths: ReadonlyMap<string, ReadonlyMap<string, EvalLengths>>;
  tok: Tok;
  /** The model's trained window (max_position_embeddings). */
  window: number;
  maxNew?: number;
  limit?: number;
  skipBadRecords: boolean;
  warn: (message: string) => void;
}

export interface SkippedRecords {
  /** task → how many lines were skipped, and the first few as `file:line: reason`. */
  [task: string]: { count: number; lines: string[] };
}

/** How many refused records an error lists before it says "and N more". */
const SHOWN = 5;
/** The smallest prompt an unchunked config may be left with after the answer (as chunkBudget's minimum chunk). */
const MIN_PROMPT = 16;

/** Runs every check; throws the first kind of problem found (bad records, then sizes), warns about knobs. */
export async function precheckEval(x: PrecheckInput): Promise<{ skipped: SkippedRecords }> {
  for (const w of knobWarnings(x.configs, x.sets, x.window)) x.warn(w);
  const skipped: SkippedRecords = {};
  const bad: string[] = [];
  // One entry per task × config: its first refused record and how many more there are.
  const sizes = new Map<string, { first: string; more: number }>();
  const tooBig = (key: string, message: string) => {
    const seen = sizes.get(key);
    if (seen) seen.more++;
    else sizes.set(key, { first: message, more: 0 });
  };
  for (const { task, file } of x.tasks) {
    for (const { name, config } of x.configs) {
      const p = answerProblem(config, task, x.window, x.maxNew, x.lengths.get(name)?.get(task.name));
      if (p) tooBig(`${task.name}\0${name}`, `${task.name} (config ${name}): ${p}`);
    }
    const problems: string[] = [];
    if (x.limit === 0) continue;
    const chunked = x.configs.filter(({ config }) => config['chunk.enabled']);
    for await (const { record, line } of streamRecords(file, task.recordFormat, { limit: x.limit, onProblem: (m) => problems.push(m) })) {
      const unscorable = answerFormatProblem(task, record);
      if (unscorable) problems.push(`${file}:${line}: ${unscorable}`);
      if (chunked.length === 0) continue;
      const measured = promptParts(task, record, x.tok);
      for (const { name, config } of chunked) {
        const p = typeof measured === 'string' ? measured : questionProblem(measured, config, x.window, x.maxNew ?? task.maxNewTokens, x.lengths.get(name)?.get(task.name));
        if (p) tooBig(`${task.name}\0${name}`, `${file}:${line} (${task.name}, config ${name}): ${p}`);
      }
    }
    if (problems.length > 0) {
      bad.push(...problems);
      skipped[task.name] = { count: problems.length, lines: problems.slice(0, 20) };
    }
  }
  if (bad.length > 0 && !x.skipBadRecords)
    throw new UserError(`${bad.length} malformed or incomplete record${bad.length === 1 ? '' : 's'}, nothing was run:\n  ${listed(bad)}`, {
      hint: 'fix or remove those lines (`pcomp score` refuses the same), or pass --skip-bad-records to run the others and count these in the manifest and scores.md',
    });
  if (sizes.size > 0) {
    const lines = [...sizes.values()].map((s) => (s.more > 0 ? `${s.first} [and ${s.more} more record${s.more === 1 ? '' : 's'} of this task and config]` : s.first));
    const count = [...sizes.values()].reduce((n, s) => n + 1 + s.more, 0);
    throw new UserError(`${count} prompt${count === 1 ? '' : 's'} cannot fit, nothing was run:\n  ${listed(lines)}`, {
      hint: 'lower --max-new-tokens, set a budget with --set chunk.budget=N (chunked configs) or --set full.maxTokens=N, or leave those tasks out with --tasks',
    });
  }
  return { skipped };
}

function listed(lines: readonly string[]): string {
  const more = lines.length > SHOWN ? `\n  … and ${lines.length - SHOWN} more` : '';
  return lines.slice(0, SHOWN).join('\n  ') + more;
}

/**
 * Whether the official metric can score this record at all: its answers are scored against an empty prediction,
 * as the running score does after the first sample (a retrieval answer without its "Paragraph N" marker, an
 * InfiniteBench choice without options). What the metric refuses is a malformed record, found before any work.
 */
function answerFormatProblem(task: TaskDef, record: AnyRecord): string | undefined {
  try {
    if (task.recordFormat === 'longbench') {
      const r = record as LongBenchRecord;
      scoreTask(task.name, [{ pred: '', answers: r.answers, all_classes: r.all_classes, length: r.length }]);
    } else {
      let label: unknown;
      try {
        label = infiniteBenchLabel(task.name, record as InfiniteBenchRecord);
      } catch (e) {
        return (e as Error).message; // as eval-predict's officialFields reports it
      }
      scoreTask(task.name, [{ pred: '', answers: Array.isArray(label) ? label : [label], all_classes: null, length: 0 }]);
    }
    return undefined;
  } catch (e) {
    if (isUserError(e)) return e.message.replace(/^[\w-]+: prediction 0: /, '');
    throw e;
  }
}

/** An unchunked config middle-truncates any prompt, but it needs room for one before the answer. */
function answerProblem(config: PolicyConfig, task: TaskDef, window: number, maxNewFlag: number | undefined, lengths?: EvalLengths): string | undefined {
  if (config['chunk.enabled'] || config['streaming.enabled']) return undefined;
  if (Number(config['full.maxTokens'] ?? 0) > 0 || lengths?.fullMaxTokens) return undefined;
  const maxNew = maxNewFlag ?? task.maxNewTokens;
  const room = window - maxNew;
  if (room >= MIN_PROMPT) return undefined;
  return `the trained window (${window} tokens) leaves ${room} prompt tokens before the ${maxNew}-token answer`;
}

interface PromptParts {
  /** Question tokens as buildChunkedPrompt encodes them (template, chat wrapper, BOS as the tokenizer adds it). */
  question: number;
  /** Tokens of the context template around {context}, repeated on every chunk. */
  template: number;
}

/** The sizes of a record's prompt that do not depend on its context (cheap: the context is never tokenized), or why it cannot be built. */
function promptParts(task: TaskDef, record: Parameters<typeof templateFields>[1], tok: Tok): PromptParts | string {
  try {
    const fields = templateFields(task, record);
    const where = `${task.name} split`;
    const text = fillTemplate(task.split.question, fields, where);
    let question: number;
    if (usesChatTemplate(task, tok)) {
      const wrapped = tok.applyChatTemplate([{ role: 'user', content: text }], { addGenerationPrompt: true });
      const bosInText = tok.bosToken !== null && tok.bosToken !== '' && wrapped.startsWith(tok.bosToken);
      question = tok.encode(wrapped, { addSpecialTokens: !bosInText }).length;
    } else question = tok.encode(text).length;
    const at = task.split.context.indexOf('{context}');
    const head = tok.encode(fillTemplate(task.split.context.slice(0, at), fields, where)).length;
    const suffix = fillTemplate(task.split.context.slice(at + '{context}'.length), fields, where);
    const tail = suffix ? tok.encode(suffix, { addSpecialTokens: false }).length : 0;
    return { question, template: head + tail };
  } catch (e) {
    if (isUserError(e)) return e.message;
    throw e;
  }
}

/** Why a chunked config could not build this record's sample (what buildSample would throw), or undefined. */
function questionProblem(parts: PromptParts, config: PolicyConfig, window: number, maxNew: number, lengths?: EvalLengths): string | undefined {
  let budget: number;
  try {
    budget = chunkBudget(config, window, parts.question, maxNew, lengths?.chunkBudget);
  } catch (e) {
    if (isUserError(e)) return e.message;
    throw e;
  }
  if (budget - parts.template < 1) return `chunk budget ${budget} leaves no room for context after the ${parts.template}-token template`;
  return undefined;
}

/** Knob groups of the chunked pipeline, and the stages in it that have their own switch. */
const CHUNKED_GROUPS = new Set(['chunk', 'chunkEvict', 'kvEvict', 'calib', 'global']);
const SWITCHED = new Set(['chunkEvict', 'kvEvict', 'calib', 'streaming', 'snapkv']);

/** Why `config` runs without looking at knob `key`, or undefined when it uses it. */
export function ignoredBy(key: string, config: PolicyConfig): string | undefined {
  const group = key.slice(0, key.indexOf('.'));
  const chunked = Boolean(config['chunk.enabled']);
  if (key.endsWith('.enabled')) return undefined; // a switch always means something (checkConsistency guards the rest)
  if (CHUNKED_GROUPS.has(group) && !chunked) return `unchunked: ${group}.* needs chunk.enabled=true`;
  if (group === 'full' && chunked) return 'chunked: full.* applies to unchunked configs only';
  if (SWITCHED.has(group) && !config[`${group}.enabled`]) return `${group}.enabled is false`;
  if (key === 'rope.factor' && config['rope.scaling'] === 'none') return 'rope.scaling is none';
  return undefined;
}

/**
 * A --set knob that no chosen config uses (--set applies to every config, so one config ignoring a knob another
 * uses is expected), and a budget beyond the trained window, as warning lines.
 */
export function knobWarnings(configs: ReadonlyArray<{ name: string; config: PolicyConfig }>, sets: readonly string[], window: number): string[] {
  const out: string[] = [];
  for (const item of sets) {
    const key = item.slice(0, item.indexOf('=')).trim();
    const ignoring = configs.flatMap(({ name, config }) => {
      const why = ignoredBy(key, config);
      return why ? [`${name} (${why})`] : [];
    });
    if (ignoring.length > 0 && ignoring.length === configs.length) out.push(`--set ${item}: has no effect on ${ignoring.join(', ')}`);
  }
  for (const { name, config } of configs) {
    if (config['chunk.enabled'] && hasOwnChunkBudget(config) && Number(config['chunk.budget']) > window)
      out.push(`${name}: chunk.budget ${config['chunk.budget']} exceeds the model's trained window (${window} tokens): every chunk runs at positions it never saw`);
    const full = Number(config['full.maxTokens'] ?? 0);
    if (!config['chunk.enabled'] && full > window)
      out.push(`${name}: full.maxTokens ${full} exceeds the model's trained window (${window} tokens): the prompt runs at positions it never saw`);
  }
  return out;
}

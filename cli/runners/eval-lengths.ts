// Which lengths size a (config, task) of `pcomp eval`. The paper's numbers come from the reference's
// per-model tables (datasets/tasks/lengths.json), not from the trained window: ParallelComp's chunk
// budget and window (model2maxlen{,_parallel}.json, with per-dataset caps) and LongBench's whole-prompt
// budget for FullKV (pred.py's model2maxlen). A knob the config sets itself always wins; a model the
// tables do not know, or a table window beyond the model's, falls back to the trained window.
import type { PolicyConfig } from '../../engine/policy-config.js';
import { parallelCompTable } from '../../datasets/lengths.js';
import type { Lengths, TaskDef } from '../../datasets/registry.js';
import { hasOwnChunkBudget, type SampleLengths } from './sample.js';

/** paper: the reference's tables per model name; window: everything from the trained window. */
export type LengthsMode = 'paper' | 'window';

/**
 * The built-in models have no entry in the reference's tables, and a 512-token window that cannot hold
 * LongBench's 512-token summaries beside a prompt. Under --lengths paper they are sized as the tables size
 * Llama-2-7B-chat-4K (4096-token window: LongBench's 3500-token prompts; ParallelComp's 3600-token chunks in a
 * 3950-token window and its per-dataset caps), every number scaled by window / 4096, the answers running past
 * the window as the reference's own 512-token answers do after 3950 tokens.
 */
export const BUILTIN_LENGTHS = { modelName: 'llama2-7b-chat-4k', window: 4096 } as const;

export interface LengthsScale {
  /** window / BUILTIN_LENGTHS.window */
  factor: number;
  /** For the notes: who is scaled, e.g. "builtin:tiny". */
  model: string;
}

const scaled = (n: number, s?: LengthsScale) => (s ? Math.floor(n * s.factor) : n);
const scaleNote = (s?: LengthsScale) => (s ? `; × ${s.factor}: ${s.model} sized as ${BUILTIN_LENGTHS.modelName}, scaled to its window` : '');

export interface EvalLengths extends SampleLengths {
  /** Unchunked configs: the prompt is middle-truncated to this many tokens (sent as full.maxTokens). */
  fullMaxTokens?: number;
  /** Where the sizes come from, for the run's log. */
  note: string;
  /** A table entry was there but rejected. */
  warn: boolean;
}

export interface LengthsInput {
  mode: LengthsMode;
  config: PolicyConfig;
  task: TaskDef;
  /** The name the tables are matched against (--model-name). */
  modelName: string;
  /** The model's trained window (max_position_embeddings). */
  window: number;
  lengths: Lengths;
  /** The built-in models: the table entries of modelName, scaled (BUILTIN_LENGTHS). */
  scale?: LengthsScale;
}

export function chooseLengths(x: LengthsInput): EvalLengths {
  return x.config['chunk.enabled'] ? chunkedLengths(x) : unchunkedLengths(x);
}

function chunkedLengths(x: LengthsInput): EvalLengths {
  const fallback = (why: string, warn = false): EvalLengths =>
    ({ note: `chunk budget = trained window ${x.window} − question − answer${why}`, warn });
  if (hasOwnChunkBudget(x.config)) return { note: `chunk budget ${Number(x.config['chunk.budget'])} (chunk.budget)`, warn: false };
  if (x.mode === 'window') return fallback(' (--lengths window)');
  // LongBench-E variants share their base task's long query, hence its cap.
  const table = parallelCompTable(x.lengths, x.modelName, x.task.base ?? x.task.name);
  if (!table) return fallback(` (no ParallelComp length entry matches "${x.modelName}")`);
  const entry = { ...table, chunk: scaled(table.chunk, x.scale), raw: scaled(table.raw, x.scale), source: table.source + scaleNote(x.scale) };
  if (entry.raw > x.window)
    return fallback(`; ${entry.source} window ${entry.raw} exceeds the model's max_position_embeddings ${x.window}, not used`, true);
  return { chunkBudget: entry.chunk, rawMaxLength: entry.raw, note: `chunk budget ${entry.chunk}, window ${entry.raw} (${entry.source})`, warn: false };
}

function unchunkedLengths(x: LengthsInput): EvalLengths {
  if (x.config['streaming.enabled']) return { note: 'the whole prompt through the streaming cache (no truncation)', warn: false };
  const own = Number(x.config['full.maxTokens'] ?? 0);
  if (own > 0) return { note: `middle-truncate to ${own} (full.maxTokens)`, warn: false };
  const fallback = (why: string, warn = false): EvalLengths => ({ note: `middle-truncate to trained window ${x.window} − answer${why}`, warn });
  if (x.mode === 'window') return fallback(' (--lengths window)');
  if (x.task.recordFormat !== 'longbench') return fallback(` (LongBench's model2maxlen applies to LongBench tasks only)`);
  const entry = x.lengths.longbench.model2maxlen[x.modelName];
  const known = entry && scaled(entry, x.scale);
  const source = `LongBench model2maxlen["${x.modelName}"]${scaleNote(x.scale)}`;
  if (!known) return fallback(` (no LongBench model2maxlen entry "${x.modelName}")`);
  if (known > x.window) return fallback(`; ${source} = ${known} exceeds the model's max_position_embeddings ${x.window}, not used`, true);
  return { fullMaxTokens: known, note: `middle-truncate to ${known} (${source})`, warn: false };
}

/**
 * What a resumed run must match (manifest settings): the model name, when the tables size this model's prompts
 * for some config. That depends on the name, the window and the benchmark only, never on which configs run, so
 * a resumed run may still add configs. A run the tables leave to the trained window records nothing, like runs
 * made before these options and `pcomp reproduce`'s, so those continue under either --lengths.
 */
export function lengthsSettings(x: Omit<LengthsInput, 'config' | 'task'> & { benchmark: string }): { lengths?: 'paper'; lengthsModel?: string; lengthsScale?: number } {
  if (x.mode !== 'paper') return {};
  const chunked = parallelCompTable(x.lengths, x.modelName, '');
  const full = x.benchmark === 'infinitebench' ? undefined : x.lengths.longbench.model2maxlen[x.modelName];
  const used = (chunked !== undefined && scaled(chunked.raw, x.scale) <= x.window) || (full !== undefined && scaled(full, x.scale) <= x.window);
  if (!used) return {};
  return x.scale ? { lengths: 'paper', lengthsModel: x.modelName, lengthsScale: x.scale.factor } : { lengths: 'paper', lengthsModel: x.modelName };
}

/**
 * One log line per config and distinct choice: `parallelcomp: chunk budget 3600, window 3950 (…)`, naming the
 * tasks when a config's tasks differ (the per-dataset caps).
 */
export function describeLengths(choices: ReadonlyMap<string, ReadonlyMap<string, EvalLengths>>): Array<{ message: string; warn: boolean }> {
  const out: Array<{ message: string; warn: boolean }> = [];
  for (const [config, byTask] of choices) {
    const groups = new Map<string, { tasks: string[]; warn: boolean }>();
    for (const [task, c] of byTask) {
      const g = groups.get(c.note) ?? { tasks: [], warn: c.warn };
      g.tasks.push(task);
      groups.set(c.note, g);
    }
    for (const [note, g] of groups)
      out.push({ message: groups.size > 1 ? `${config} (${g.tasks.join(', ')}): ${note}` : `${config}: ${note}`, warn: g.warn });
  }
  return out;
}

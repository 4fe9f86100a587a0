// Per-model length budgets from datasets/tasks/lengths.json, with explicit numbers always winning: the reference
// code picks lengths by substring-matching model paths, which silently misfires on names it did not anticipate.
import { UserError } from '../util/errors.js';
import type { Lengths } from './registry.js';

export interface LengthChoice { value: number; source: string }

/**
 * LongBench's prompt budget (pred.py's model2maxlen). Unknown models get context window − 500, the convention
 * behind every entry of the official table.
 */
export function longbenchMaxLength(lengths: Lengths, model: string, opts: { override?: number; contextWindow?: number } = {}): LengthChoice {
  if (opts.override) return { value: opts.override, source: '--max-length' };
  const known = lengths.longbench.model2maxlen[model];
  if (known) return { value: known, source: `LongBench model2maxlen["${model}"]` };
  if (opts.contextWindow) {
    const margin = lengths.longbench.unknownModelMargin;
    return { value: opts.contextWindow - margin, source: `context window ${opts.contextWindow} − ${margin}` };
  }
  throw new UserError(`no maximum length known for model "${model}": pass --max-length N`);
}

/** InfiniteBench's truncation length (128K for its open models, 200K for the Yi-200K scripts). */
export function infinitebenchTruncate(lengths: Lengths, model: string, override?: number): LengthChoice {
  if (override) return { value: override, source: '--max-length' };
  const known = lengths.infinitebench.truncate[model];
  if (known) return { value: known, source: `InfiniteBench truncate["${model}"]` };
  return { value: lengths.infinitebench.default, source: 'InfiniteBench default (128K)' };
}

export interface ParallelCompBudget { raw: number; chunk: number; source: string }

/**
 * The ParallelComp table entry for a model and dataset, or undefined when no entry matches: model2maxlen{,_parallel}.json
 * matched by substring of the lower-cased model name (last match wins), then the per-dataset caps of truncate_text.
 */
export function parallelCompTable(lengths: Lengths, model: string, dataset: string): ParallelCompBudget | undefined {
  const name = model.toLowerCase();
  let found: ParallelCompBudget | undefined;
  for (const m of lengths.parallelcomp.models) {
    if (name.includes(m.match)) found = { raw: m.raw, chunk: m.chunk, source: `ParallelComp "${m.match}"` };
  }
  if (!found) return undefined;
  for (const cap of lengths.parallelcomp.datasetCaps) {
    if (!cap.datasets.includes(dataset)) continue;
    const rule = cap.rules.find((r) => r.match.some((s) => name.includes(s)));
    found.chunk = rule ? rule.chunk : cap.otherwise;
    found.source += `, ${dataset} cap ${found.chunk}`;
  }
  return found;
}

/** ParallelComp's window (raw) and chunk budget: the table entry (parallelCompTable), explicit numbers winning. */
export function parallelCompBudget(lengths: Lengths, model: string, dataset: string, opts: { raw?: number; chunk?: number } = {}): ParallelCompBudget {
  const table = parallelCompTable(lengths, model, dataset);
  let raw = table?.raw;
  let chunk = table?.chunk;
  let source = table?.source ?? '';
  if (opts.raw) { raw = opts.raw; source = '--max-length' + (opts.chunk ? '' : `; ${source || 'no table entry'}`); }
  if (opts.chunk) { chunk = opts.chunk; source = (opts.raw ? '--max-length, ' : '') + '--chunk-budget'; }
  if (raw === undefined || chunk === undefined) {
    throw new UserError(`no ParallelComp lengths known for model "${model}": pass --max-length N and --chunk-budget N`);
  }
  if (chunk > raw) throw new UserError(`chunk budget ${chunk} exceeds the model window ${raw} (${source})`);
  return { raw, chunk, source };
}

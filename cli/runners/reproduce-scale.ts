// How much of each table a `pcomp reproduce` run measures, and what every table module shares.
// Lengths are multiples of the model's trained window, so the same command means "1x..16x" on the
// built-in 512-token model (512..8K) and on a 4K-token Llama (4K..64K); the paper's columns are read
// at the same multiples (datasets/paper-numbers.ts pplAtSameMultiple).
import type { EngineModel } from '../../engine/index.js';
import type { Tok } from '../../datasets/tokenizer.js';
import type { ModelIdentity } from '../../results/manifest.js';
import type { ProvenanceFields } from '../../results/run-dir.js';
import { UserError } from '../../util/errors.js';
import type { ReproduceProgress } from './reproduce-progress.js';

export interface Scale {
  /** Config names each table runs (reproduce-configs.ts), in table order. */
  configs: { ppl: string[]; ib: string[]; speed: string[] };
  /** T-IB tasks (columns). */
  ibTasks: string[];
  pplLengths: number[];
  /** Story documents per T-PPL length. */
  pplDocuments: number;
  /** Tokens scored at the end of each T-PPL length (capped at L/2 as in `pcomp ppl`). */
  evalTokens: number;
  /** Context tokens before them that score the chunks. */
  queryTokens: number;
  ibLengths: number[];
  /** Records per T-IB task and length. */
  ibSamples: number;
  /** T-speed's context length and the chunk.parallel values it sweeps. */
  speedLength: number;
  speedWaves: number[];
  /** Timed runs per T-speed cell (the median is reported). */
  speedRepeats: number;
}

export interface ScaleOptions {
  quick: boolean;
  len?: number[];
  samples?: number;
  /** --config: only these configs, in every table that has them. */
  config?: string;
  /** --tasks: only these T-IB tasks. */
  tasks?: string;
}

export const ALL_CONFIGS = {
  ppl: ['full', 'ntk', 'dynamic-ntk', 'chunkllama', 'streaming', 'parallelcomp'],
  ib: ['full', 'extrapolate', 'ntk', 'dynamic-ntk', 'chunkllama', 'streaming', 'parallelcomp', 'parallelcomp-calib', 'parallelcomp-kv', 'parallelcomp-calib-kv'],
  speed: ['parallelcomp', 'parallelcomp-kv'],
};
export const IB_TASKS = ['passkey', 'number_string', 'kv_retrieval'];

/**
 * --quick keeps what the claims need (docs/reproduction.md): full attention with truncation, plain
 * extrapolation and ParallelComp, on passkey; whole-prompt attention at 16x is what costs the time.
 */
const QUICK_CONFIGS = {
  ppl: ['full', 'parallelcomp'],
  ib: ['full', 'extrapolate', 'parallelcomp'],
  speed: ['parallelcomp'],
};

function listOption(flag: string, value: string | undefined, known: readonly string[]): string[] | undefined {
  if (value === undefined) return undefined;
  const names = [...new Set(value.split(',').map((s) => s.trim()).filter(Boolean))];
  const unknown = names.filter((n) => !known.includes(n));
  if (names.length === 0 || unknown.length > 0)
    throw new UserError(`${flag}: ${names.length === 0 ? 'give at least one name' : `unknown ${unknown.map((n) => `"${n}"`).join(', ')}`} (one of ${known.join(', ')})`);
  return names;
}

function pickConfigs(opts: ScaleOptions): Scale['configs'] {
  const all = [...new Set(Object.values(ALL_CONFIGS).flat())];
  const chosen = listOption('--config', opts.config, all);
  const base = opts.quick && !chosen ? QUICK_CONFIGS : ALL_CONFIGS;
  const keep = (names: string[]) => (chosen ? names.filter((n) => chosen.includes(n)) : names);
  return { ppl: keep(base.ppl), ib: keep(base.ib), speed: keep(base.speed) };
}

const times = (window: number, multiples: number[]) => multiples.map((m) => m * window);

export function scaleFor(window: number, opts: ScaleOptions): Scale {
  const quick = opts.quick;
  return {
    configs: pickConfigs(opts),
    // whole-prompt attention at 16x costs seconds a record on 2 cores (docs/reproduction.md): passkey by default
    ibTasks: listOption('--tasks', opts.tasks, IB_TASKS) ?? ['passkey'],
    pplLengths: opts.len ?? times(window, quick ? [1, 4, 16] : [1, 2, 4, 8, 16]),
    pplDocuments: opts.samples ?? 1,
    // E and Q as `pcomp ppl` uses them on a 4K-8K model (1024, 64), scaled down so the chunk budget
    // (window - Q - E) keeps more than half of a small model's window for the chunk itself
    evalTokens: Math.min(1024, Math.floor(window / 4)),
    queryTokens: Math.min(64, Math.floor(window / 8)),
    ibLengths: opts.len ?? times(window, quick ? [16] : [1, 4, 16]),
    ibSamples: opts.samples ?? (quick ? 5 : 4),
    speedLength: 16 * window,
    speedWaves: [1, 4, 16],
    speedRepeats: quick ? 1 : 2,
  };
}

/** What every table module gets: the loaded model, where to write, and the one progress view. */
export interface ReproduceContext {
  model: EngineModel;
  tok: Tok;
  /** The --model spec as given, and the model's identity for run manifests. */
  modelSpec: string;
  identity: ModelIdentity;
  /** The trained window (max_position_embeddings). */
  window: number;
  out: string;
  scale: Scale;
  progress: ReproduceProgress;
  /** Manifest fields shared by every run directory (engine, git, host, command). */
  provenance: ProvenanceFields;
}

/** A prepared table: its runs are open and its cells planned; `run` measures what is pending. */
export interface TableJob<Result> {
  run(signal: AbortSignal): Promise<Result>;
  /** Releases run directories (writer locks) whatever happened. */
  close(): void;
}

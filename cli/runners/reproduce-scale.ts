// How much of each table a `pcomp reproduce` run measures, and what every table module shares.
// Lengths are multiples of the model's trained window, so the same command means "1x..16x" on the
// built-in 512-token model (512..8K) and on a 4K-token Llama (4K..64K); the paper's columns are read
// at the same multiples (datasets/paper-numbers.ts pplAtSameMultiple).
import type { EngineModel } from '../../engine/index.js';
import type { Tok } from '../../datasets/tokenizer.js';
import type { ModelIdentity } from '../../results/manifest.js';
import type { ProvenanceFields } from '../../results/run-dir.js';
import type { ReproduceProgress } from './reproduce-progress.js';

export interface Scale {
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
}

const times = (window: number, multiples: number[]) => multiples.map((m) => m * window);

export function scaleFor(window: number, opts: ScaleOptions): Scale {
  const quick = opts.quick;
  return {
    pplLengths: opts.len ?? times(window, quick ? [1, 4, 16] : [1, 2, 4, 8, 16]),
    pplDocuments: opts.samples ?? (quick ? 1 : 2),
    // E and Q as `pcomp ppl` uses them on a 4K-8K model (1024, 64), scaled down so the chunk budget
    // (window - Q - E) keeps more than half of a small model's window for the chunk itself
    evalTokens: Math.min(1024, Math.floor(window / 4)),
    queryTokens: Math.min(64, Math.floor(window / 8)),
    ibLengths: opts.len ?? times(window, quick ? [16] : [1, 4, 16]),
    ibSamples: opts.samples ?? (quick ? 6 : 10),
    speedLength: 16 * window,
    speedWaves: quick ? [1, 4, 16] : [1, 2, 4, 8, 16],
    speedRepeats: quick ? 1 : 3,
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

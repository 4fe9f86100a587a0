// `pcomp reproduce [TABLE]`: the paper's tables at CI scale on the built-in model, each printed in the
// paper's layout with the paper's own numbers beside. The eval/ppl run directories it fills under --out
// are ordinary ones, so running it again continues where it stopped. docs/reproduction.md has the tables.
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseIntOption } from '../options.js';
import { parseLengths } from '../runners/ppl-lengths.js';

export const REPRODUCE_TABLES = ['t-ppl', 't-ib', 't-speed', 't-score'] as const;
export type ReproduceTable = (typeof REPRODUCE_TABLES)[number];

export interface ReproduceOptions {
  model: string;
  out: string;
  quick: boolean;
  len?: number[];
  samples?: number;
  config?: string;
  tasks?: string;
  benchSamples?: string;
  threads: number;
  quiet: boolean;
  json: boolean;
}

const EXAMPLES = `
Examples:
  pcomp reproduce                         every table on the built-in model (a few minutes on 2 cores)
  pcomp reproduce t-ib --quick            synthetic retrieval at 16x the trained length only, fewer samples
  pcomp reproduce t-ppl --len 512..32k    perplexity up to 64x the built-in model's 512 tokens
  pcomp reproduce t-score                 official scores of the real predictions in ../shared/bench-samples
  pcomp reproduce t-ib --tasks passkey,number_string,kv_retrieval --samples 10     Table 2's three columns
  pcomp reproduce all --model ./models/llama --out runs/repro-llama --samples 20

Tables (docs/reproduction.md has the measured ones next to the paper's):
  t-ppl    Table 3's layout: perplexity vs context length for full, ntk, dynamic-ntk, streaming, parallelcomp
  t-ib     Table 2's layout: passkey / number_string / kv_retrieval accuracy vs length, calibration variants too
  t-speed  Table 7's layout: prefill time and peak KV-cache memory vs chunks prefilled in parallel
  t-score  Table 1/2 rows scored from real published predictions, beside the official and paper numbers
Configs: full, extrapolate (full attention past the window, T-IB only), ntk, dynamic-ntk, streaming,
parallelcomp, parallelcomp-calib, parallelcomp-kv, parallelcomp-calib-kv (T-IB), parallelcomp and
parallelcomp-kv (T-SPEED). T-IB runs passkey unless --tasks adds number_string and kv_retrieval
(whole-prompt attention at 16x costs seconds a record); --quick runs only full, extrapolate and
parallelcomp, at 16x.
Lengths are multiples of the model's trained window (default 1x..16x; --quick fewer). Each table's
runs live under --out (t-ppl/, t-ib/<length>/, t-speed/); running the same command again continues them.`;

function parseTable(value: string): ReproduceTable | 'all' {
  const v = value.toLowerCase();
  if (v === 'all' || (REPRODUCE_TABLES as readonly string[]).includes(v)) return v as ReproduceTable | 'all';
  throw new InvalidArgumentError(`expected one of ${[...REPRODUCE_TABLES, 'all'].join(', ')}, got "${value}"`);
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command('reproduce')
    .description("reproduce the paper's tables at CI scale (default: the built-in model, offline) beside the paper's numbers")
    .argument('[table]', `${REPRODUCE_TABLES.join(' | ')} | all`, parseTable, 'all')
    .option('-m, --model <model>', 'model folder, Hub id or builtin:tiny', 'builtin:tiny')
    .option('--out <dir>', 'where the run directories and tables go', 'runs/reproduce')
    .option('--quick', 'fewer lengths, samples and repeats (what CI runs)', false)
    .option('--len <lengths>', 'T-PPL and T-IB lengths instead of 1x..16x the trained window: 512,2k or 512..32k', parseLengths)
    .option('--samples <n>', 'T-IB records per task and length, T-PPL documents', parsePositive)
    .option('-c, --config <names>', 'only these configs, in every table that runs them (see the list below)')
    .option('--tasks <a,b>', 'only these T-IB tasks: passkey, number_string, kv_retrieval')
    .option('--bench-samples <dir>', 'real prediction files for T-SCORE (default: ../shared/bench-samples beside the package)')
    .option('-t, --threads <n>', 'CPU threads (0 = one per core)', parseIntOption, 0)
    .addOption(new Option('-q, --quiet', 'print only the tables, warnings and errors').default(false))
    .option('--json', 'print progress as JSON lines (one event per line)', false)
    .addHelpText('after', EXAMPLES)
    .action(async (table: ReproduceTable | 'all', opts: ReproduceOptions) => {
      const { runReproduce } = await import('../runners/reproduce.js');
      await runReproduce(table, opts);
    });
}

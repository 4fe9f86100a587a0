// `pcomp attn`: where the prompt's last query rows put their attention, per layer and head, under
// each config (the analysis behind ParallelComp's Figures 1, 3 and 4). docs/attention.md.
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseIntOption, parseTokenCount } from '../options.js';

export interface AttnOptions {
  model?: string;
  config?: string;
  contextFile?: string;
  question?: string;
  task?: string;
  index?: number;
  len?: number;
  window: number;
  bins: number;
  after: 'calib' | 'kv';
  out?: string;
  set: string[];
  maxNewTokens?: number;
  dataDir?: string;
  threads: number;
  device: 'auto' | 'cpu' | 'cuda';
  offline: boolean;
  quiet: boolean;
}

function parsePositive(flag: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${flag} must be an integer in 1..${max}, got "${value}"`);
    return n;
  };
}

const EXAMPLES = `
Examples:
  $ pcomp attn --model builtin:tiny --config full,parallelcomp --context-file book.txt --question "Who is Ada?"
  $ pcomp attn --model M --config parallelcomp-calib-kv --context-file book.txt --question Q --after kv --bins 128
  $ pcomp attn --model M --config full,parallelcomp --task narrativeqa --index 3 --out runs/attn-nqa3
  $ pcomp attn --model M --config full,parallelcomp --context-file book.txt --question Q --len 8k

The observation rows are the last --window query rows of the prompt as each config finally encodes it
(the whole prompt under full attention; the question re-encoded over the kept chunks under chunked
configs). --after calib (default): each layer's cache as that layer's attention sees it, after its
calibration; --after kv: before it, after chunk and KV eviction (the paper's Fig. 4). Regions: sink =
the first 100 cache entries, recent = the last 100, middle = the rest (--set trace.sinkSize=N changes
them), over the cache and within each chunk. The run directory (default runs/attn/<model>-<source>)
gets attn_bins / attn_regions / attn_chunks as .csv and .arrow, heatmap-<config>.svg/.png, regions.svg/.png,
summary.txt and the raw traces; the head classes (U-shape, mountain, uniform) follow docs/attention.md.`;

export function register(program: Command): void {
  const attn = program
    .command('attn')
    .enablePositionalOptions() // `attn sweep --model M`: options after `sweep` are the sweep's
    .description('attention of the prompt\'s last query rows per layer and head: position bins, sink/middle/recent shares, heatmaps')
    // not requiredOption: commander checks a parent's mandatory options for its subcommands too (sweep)
    .option('-m, --model <model>', 'model folder, Hub id or builtin:tiny (required)')
    .option('-c, --config <names>', 'policy presets, comma-separated (see `pcomp configs`; required)')
    .option('--context-file <file>', 'the long context (with --question)')
    .option('--question <text>', 'the question asked about the context')
    .option('--task <name>', 'a task (with --index): its record, templates and chunking as eval builds them')
    .option('--index <i>', 'record index in the task file', parseIntOption)
    .option('--len <tokens>', 'with --context-file: keep the first N context tokens (8k, 512)', parseTokenCount)
    .option('--window <n>', 'observation rows: the last n query rows', parsePositive('--window', 4096), 8)
    .option('--bins <n>', 'position bins over the prompt', parsePositive('--bins', 4096), 64)
    .addOption(new Option('--after <stage>', 'the cache as the rows see it after calibration, or before it (after KV eviction)').choices(['calib', 'kv']).default('calib'))
    .option('-o, --out <dir>', 'run directory (default runs/attn/<model>-<source>)')
    .option('--set <key=value>', 'override a config knob for every config (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-n, --max-new-tokens <n>', 'new tokens the layout leaves room for (default: the task\'s; plain: 128)', parseIntOption)
    .option('--data-dir <dir>', 'with --task: the folder holding <task>.jsonl')
    .option('-t, --threads <n>', 'CPU threads (0 = one per core)', parseIntOption, 0)
    .addOption(new Option('--device <device>', 'auto = cuda when a usable GPU is present, else cpu').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('--offline', 'never touch the network (also HF_HUB_OFFLINE=1)', false)
    .option('-q, --quiet', 'no terminal summary', false)
    .addHelpText('after', EXAMPLES)
    .action(async (opts: AttnOptions) => {
      const { runAttn } = await import('../runners/attn.js');
      await runAttn(opts);
    });
  attn
    .command('sweep')
    .description('the paper\'s layer-range ablation (Tables 6/8): evict one region in one quarter of the layers at a time, score a task')
    .requiredOption('-m, --model <model>', 'model folder, Hub id or builtin:tiny')
    .requiredOption('--task <name>', 'the task to score (see `pcomp data ls`)')
    .option('--samples <n>', 'records of the task to score (the first n)', parsePositive('--samples', 100000), 20)
    .option('--base <preset>', 'the calibrated config whose calib.rules the sweep replaces', 'parallelcomp-calib')
    .option('--set <key=value>', 'override a knob of the base config (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-o, --out <dir>', 'output folder (default runs/attn-sweep/<model>-<task>)')
    .option('--data-dir <dir>', 'the folder holding <task>.jsonl')
    .option('-n, --max-new-tokens <n>', 'override the task\'s answer length', parseIntOption)
    .option('-t, --threads <n>', 'CPU threads (0 = one per core)', parseIntOption, 0)
    .addOption(new Option('--device <device>', 'auto = cuda when a usable GPU is present, else cpu').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('--offline', 'never touch the network (also HF_HUB_OFFLINE=1)', false)
    .option('-q, --quiet', 'no progress lines or table on the terminal', false)
    .addHelpText('after', `
Example:
  $ pcomp attn sweep --model builtin:tiny --task passkey --data-dir ./synth --samples 10

Rows: the evicted region (recent, sink, middle); columns: the model's depth in four ranges (32 layers:
1-8, 9-16, 17-24, 25-32, as the paper's tables); each cell is the base config with calib.rules set to
that one rule. The baseline is the base config with calib.enabled=false. Writes sweep.md, sweep.csv
and sweep.json.`)
    .action(async (o: import('../runners/attn-sweep.js').AttnSweepOptions) => {
      const { runAttnSweep } = await import('../runners/attn-sweep.js');
      await runAttnSweep(o);
    });
}

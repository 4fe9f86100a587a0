// `pcomp eval BENCHMARK --model M --config a,b`: every config × task × sample through the engine,
// one appended prediction line per sample, official scores and the paper-style tables at the end.
// Re-running the same command continues the same run directory.
import { Command, Option } from 'commander';
import { parseIntOption } from '../options.js';

export interface EvalOptions {
  model: string;
  config: string;
  tasks?: string;
  limit?: number;
  dataDir?: string;
  out?: string;
  shard?: string;
  set: string[];
  maxNewTokens?: number;
  threads: number;
  device: 'auto' | 'cpu' | 'cuda';
  quiet: boolean;
  json: boolean;
  offline: boolean;
}

const EXAMPLES = `
Examples:
  pcomp eval longbench --model meta-llama/Llama-2-7b-chat-hf --config full,parallelcomp
  pcomp eval longbench --model ./models/llama --config parallelcomp --tasks qasper,trec --limit 20
  pcomp eval longbench-e --model M --config parallelcomp --out runs/lbe-llama
  pcomp eval infinitebench --model M --config parallelcomp --tasks passkey,kv_retrieval --set chunk.budget=7600
  pcomp eval longbench --model M --config parallelcomp --shard 2/8     one of 8 processes (see docs/scaling.md)
  pcomp eval longbench --model M --config full --data-dir ./LongBench/data --offline

The run directory (default runs/<benchmark>/<model>[-shard-i-of-n]) holds manifest.json, plans/,
predictions/<config>/<task>.jsonl, scores.csv, scores.arrow and scores.md. Running the same command
again continues where it stopped (Ctrl-C or a kill loses at most the sample in flight); a directory
started with another model, config or setting is refused with the field that differs.
Data comes from --data-dir, or from the Hugging Face cache (missing tasks are pulled before the
first sample unless --offline).`;

export function register(program: Command): void {
  program
    .command('eval')
    .description('run benchmark tasks through the engine for each config, score them officially, write tables')
    .argument('<benchmark>', 'longbench | longbench-e | infinitebench')
    .requiredOption('-m, --model <model>', 'model folder or Hub id (org/name[@revision])')
    .requiredOption('-c, --config <names>', 'policy presets, comma-separated (see `pcomp configs`)')
    .option('--tasks <a,b>', 'only these tasks (default: every task of the benchmark)')
    .option('--limit <n>', 'only the first n samples of each task', parseIntOption)
    .option('--data-dir <dir>', 'a local folder of <task>.jsonl files instead of the Hugging Face cache')
    .option('--out <dir>', 'run directory (default: runs/<benchmark>/<model>)')
    .option('--shard <i/n>', 'run only shard i of n (0-based); merge the shard directories with `pcomp merge`')
    .option('--set <key=value>', 'override a knob of every config (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--max-new-tokens <n>', "cap every task's answer length (default: the official per-task value)", parseIntOption)
    .option('-t, --threads <n>', 'CPU threads (0 = one per core)', parseIntOption, 0)
    .addOption(new Option('--device <device>', 'compute device').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('-q, --quiet', 'print only warnings and errors', false)
    .option('--json', 'print progress as JSON lines (one event per line)', false)
    .option('--offline', 'never touch the network (also HF_HUB_OFFLINE=1)', false)
    .addHelpText('after', EXAMPLES)
    .action(async (benchmark: string, opts: EvalOptions) => {
      const { runEval } = await import('../runners/eval.js');
      await runEval(benchmark, opts);
    });
}

// `pcomp eval BENCHMARK --model M --config a,b`: every config × task × sample through the engine,
// one appended prediction line per sample, official scores and the paper-style tables at the end.
// Re-running the same command continues the same run directory.
import { Command, Option } from 'commander';
import { parseIntOption } from '../options.js';
import type { LengthsMode } from '../runners/eval-lengths.js';

export interface EvalOptions {
  /** Absent: builtin:tiny (the runner says so). */
  model?: string;
  config: string;
  tasks?: string;
  limit?: number;
  dataDir?: string;
  out?: string;
  shard?: string;
  set: string[];
  maxNewTokens?: number;
  modelName?: string;
  lengths: LengthsMode;
  threads: number;
  device: 'auto' | 'cpu' | 'cuda';
  quiet: boolean;
  json: boolean;
  offline: boolean;
  /** Skip malformed or incomplete records (counted in the manifest and the tables) instead of refusing the file. */
  skipBadRecords?: boolean;
}

const EXAMPLES = `
Examples:
  pcomp eval longbench     every LongBench task, full and parallelcomp, on builtin:tiny (data from the cache or the hub)
  pcomp eval longbench --model meta-llama/Llama-2-7b-chat-hf --config full,parallelcomp
  pcomp eval longbench --model ./models/llama --config parallelcomp --tasks qasper,trec --limit 20
  pcomp eval longbench-e --model M --config parallelcomp --out runs/lbe-llama
  pcomp eval infinitebench --model M --config parallelcomp --tasks passkey,kv_retrieval --set chunk.budget=7600
  pcomp eval longbench --model M --config parallelcomp --shard 2/8     one of 8 processes (see docs/scaling.md)
  pcomp eval longbench --model M --config full --data-dir ./LongBench/data --offline
  pcomp eval longbench --model ./llama2-folder --model-name llama2-7b-chat-4k --config full,parallelcomp
      (paper lengths: 3600-token chunks in a 3950-token window; FullKV middle-truncated to 3500)
  pcomp eval longbench --model M --config parallelcomp --lengths window     size from the trained window
  pcomp eval longbench --model M --config full,parallelcomp-calib-kv --device cuda     on the GPU

Lengths (--lengths paper, the default) follow the reference code's per-model tables, matched against
--model-name (default: the model's name): ParallelComp's chunk budget and window (a substring of the
lower-cased name, last match wins; repobench-p/triviaqa and samsum/passage_retrieval_en have their own
caps), and LongBench's model2maxlen (exact name) for unchunked configs on LongBench tasks. A model the
tables do not know, or whose table window exceeds max_position_embeddings, is sized from the trained
window instead, as --lengths window does for every model: chunk budget = window − question − answer,
truncation to window − answer. --set chunk.budget=N or --set full.maxTokens=N always wins. The run
prints which source each config uses; when the tables were used, the manifest records the choice and a
resumed run must make the same one.

--device cuda uploads the model to the GPU once and runs each sample there: the same engine and
pipeline as on the CPU (every preset and knob), only the ops run on the GPU. auto, the default, picks
cuda when a usable GPU is present. The manifest records the device.

The run directory (default runs/<benchmark>/<model>[-shard-i-of-n]) holds manifest.json, plans/,
predictions/<config>/<task>.jsonl, scores.csv, scores.arrow and scores.md. Running the same command
again continues where it stopped (Ctrl-C or a kill loses at most the sample in flight); a directory
started with another model, config or setting is refused with the field that differs.
Data comes from --data-dir, or from the Hugging Face cache (missing tasks are pulled before the
first sample unless --offline; \`pcomp data pull longbench\` fills the cache ahead of time). Before
any sample runs, every planned record is read: a malformed or incomplete one stops the run with its
file and line (or, with --skip-bad-records, is skipped and counted in the manifest and scores.md), and
a question that cannot fit the chunk budget or the window stops it the same way. A --set knob the
chosen config does not use, or a budget beyond the model's window, gets a warning.

Defaults: --model builtin:tiny (a 512-token toy model, so the command runs offline on a fresh clone;
its scores measure the pipeline, not a real model) and --config full,parallelcomp. The built-in
model's prompts are sized as the reference sizes Llama-2-7B-chat-4K, scaled to its 512-token window.`;

export function register(program: Command): void {
  program
    .command('eval')
    .description('run benchmark tasks through the engine for each config, score them officially, write tables')
    .argument('<benchmark>', 'longbench | longbench-e | infinitebench')
    .option('-m, --model <model>', 'model folder, Hub id (org/name[@revision]) or builtin:tiny (the default: a toy model, said on the first line)')
    .option('-c, --config <names>', 'policy presets, comma-separated (see `pcomp configs`)', 'full,parallelcomp')
    .option('--tasks <a,b>', 'only these tasks (default: every task of the benchmark)')
    .option('--limit <n>', 'only the first n samples of each task', parseIntOption)
    .option('--data-dir <dir>', 'a local folder of <task>.jsonl files instead of the Hugging Face cache')
    .option('--out <dir>', 'run directory (default: runs/<benchmark>/<model>)')
    .option('--shard <i/n>', 'run only shard i of n (0-based); merge the shard directories with `pcomp merge`')
    .option('--set <key=value>', 'override a knob of every config (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--max-new-tokens <n>', "cap every task's answer length (default: the official per-task value)", parseIntOption)
    .option('--model-name <name>', 'the name the length tables are matched against (default: the model folder or Hub name)')
    .addOption(new Option('--lengths <source>', 'prompt lengths: the reference tables per model name, or the trained window').choices(['paper', 'window']).default('paper'))
    .option('-t, --threads <n>', 'CPU threads (0 = one per core)', parseIntOption, 0)
    .addOption(new Option('--device <device>', 'where samples run: auto = cuda when a usable GPU is present, else cpu; every preset and knob runs on either').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('-q, --quiet', 'print only warnings and errors', false)
    .option('--json', 'print progress as JSON lines (one event per line)', false)
    .option('--offline', 'never touch the network (also HF_HUB_OFFLINE=1)', false)
    .option('--skip-bad-records', 'skip malformed or incomplete records (counted in the manifest and scores.md) instead of refusing the file', false)
    .addHelpText('after', EXAMPLES)
    .action(async (benchmark: string, opts: EvalOptions) => {
      const { runEval } = await import('../runners/eval.js');
      await runEval(benchmark, opts);
    });
}

// `pcomp ppl --model M --len 2k..128k --config full,parallelcomp`: perplexity against context length,
// each config processing the context the way eval does, into a resumable run directory; ppl.csv,
// ppl.arrow, ppl.md, ppl.svg, ppl.png and a terminal chart at the end. docs/ppl.md has the protocol.
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseIntOption } from '../options.js';
import { parseLengths } from '../runners/ppl-lengths.js';

export interface PplOptions {
  /** Absent: builtin:tiny (the runner says so). */
  model?: string;
  len: number[];
  config: string;
  /** Absent: PG19 when cached or the hub is reachable, else the built-in story document (the runner says which). */
  data?: string;
  /** Absent: 10 documents (1 of the built-in story document). */
  samples?: number;
  /** Absent: 1024 and 64, capped at a quarter and an eighth of the trained window. */
  evalTokens?: number;
  queryTokens?: number;
  protocol: 'default' | 'paper';
  out?: string;
  shard?: string;
  set: string[];
  threads: number;
  device?: 'auto' | 'cpu' | 'cuda';  // absent (programmatic callers): cpu
  quiet: boolean;
  json: boolean;
  offline: boolean;
}

const EXAMPLES = `
Examples:
  pcomp ppl --len 128k     full and parallelcomp at 128K tokens on builtin:tiny (PG19, or offline the built-in story document)
  pcomp ppl --model meta-llama/Llama-2-7b-hf --len 2k..128k --config full,parallelcomp,ntk
  pcomp ppl --model ./models/llama --len 4k,8k,16k --config parallelcomp --data narrativeqa --samples 20
  pcomp ppl --model M --len 8k,32k --config full,parallelcomp --data ./book.txt --eval-tokens 512
  pcomp ppl --model M --len 2k..32k --config full,parallelcomp --data narrativeqa --protocol paper
  pcomp ppl --model M --len 128k --config parallelcomp --shard 0/4     one of 4 processes (pcomp merge)
  pcomp ppl --model M --len 8k..64k --config full,parallelcomp --device cuda     on the GPU

Protocol (default): for each document and length L, the first L - E tokens are the context, processed
by the config as eval processes a context (chunked, evicted, calibrated); its last Q tokens are the
query that scores the chunks; the last E tokens are scored one by one against the resulting cache.
Perplexity = exp(mean NLL). E is capped at L/2. E and Q default to 1024 and 64, at most a quarter
and an eighth of the trained window (builtin:tiny, 512 tokens: 128 and 64). Documents shorter than L are skipped and counted,
never padded. Unchunked configs read the whole context unless --set full.maxTokens=N says otherwise.
--protocol paper: NarrativeQA stories cut to L tokens, perplexity of the question tokens in the
re-encoding step (ParallelComp, Table 3). See docs/ppl.md.

Data: pg19 (emozilla/pg19-test from the Hugging Face hub), narrativeqa (LongBench, as pcomp data
pulls it), stories (long documents of pcomp's seeded story generator, datasets/synth/stories.ts: no
download), or a file: .txt (one document), .jsonl (field "text" or "context"), .parquet (column "text").
Without --data: PG19 when it is in the cache or the hub answers within a few seconds, else (offline,
--offline, HF_HUB_OFFLINE=1, or the hub unreachable) one stories document; a line says which, and the
manifest records it (settings.data.kind).

Defaults: --model builtin:tiny (a 512-token toy model, so the command runs offline on a fresh clone)
and --config full,parallelcomp. full reads the whole context: at 128K tokens that is minutes of CPU
per document, parallelcomp seconds.
The run directory (default runs/ppl-<data>/<model>) holds manifest.json, plans/, nll/<config>/<L>.jsonl
(one line per document) and the tables and plots; running the same command again continues it, and
new lengths or configs may be added to it.`;

export function register(program: Command): void {
  program
    .command('ppl')
    .description('perplexity against context length for each config: tables, plots and a terminal chart')
    .option('-m, --model <model>', 'model folder, Hub id (org/name[@revision]) or builtin:tiny (the default: a toy model, said on the first line)')
    .requiredOption('--len <lengths>', 'context lengths: 2k,4k,131072 or a doubling range 2k..128k', parseLengths)
    .option('-c, --config <names>', 'policy presets, comma-separated (see `pcomp configs`)', 'full,parallelcomp')
    .option('--data <source>', 'pg19 | narrativeqa | stories | a .txt, .jsonl or .parquet file (default: pg19, or stories offline; narrativeqa under --protocol paper)')
    .option('--samples <n>', 'documents to use, the first n of the source (default: 10; 1 of stories)', parsePositive)
    .option('--eval-tokens <n>', 'tokens scored at the end of each length, capped at L/2 (default: 1024, at most window/4)', parsePositive)
    .option('--query-tokens <n>', 'context tokens before them that score the chunks (default: 64, at most window/8)', parsePositive)
    .addOption(new Option('--protocol <name>', 'default, or the ParallelComp paper\'s question perplexity on NarrativeQA').choices(['default', 'paper']).default('default'))
    .option('--out <dir>', 'run directory (default: runs/ppl-<data>/<model>)')
    .option('--shard <i/n>', 'run only shard i of n of the documents (0-based); merge with `pcomp merge`')
    .option('--set <key=value>', 'override a knob of every config (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-t, --threads <n>', 'CPU threads (0 = one per core)', parseIntOption, 0)
    .addOption(new Option('--device <device>', 'where samples run: auto = cuda when a usable GPU is present, else cpu; every preset and knob runs on either').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('-q, --quiet', 'print only warnings and errors', false)
    .option('--json', 'print progress as JSON lines (one event per line)', false)
    .option('--offline', 'never touch the network (also HF_HUB_OFFLINE=1)', false)
    .addHelpText('after', EXAMPLES)
    .action(async (opts: PplOptions) => {
      const { runPpl } = await import('../runners/ppl.js');
      await runPpl(opts);
    });
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

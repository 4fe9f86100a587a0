// pcomp generate: one prompt through the engine, continuation to stdout.
import { Command, Option } from 'commander';
import { parseIntOption } from '../options.js';

export interface GenerateOptions {
  model: string;
  prompt?: string;
  promptFile?: string;
  maxNewTokens: number;
  chat: boolean;
  threads: number;
  device: 'auto' | 'cpu' | 'cuda';
  config?: string;
  set: string[];
  contextFile?: string;
  question?: string;
  trace?: string;
  task?: string;
  offline: boolean;
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('Generate a continuation of a prompt greedily (or run one sample through a policy config)')
    .requiredOption('-m, --model <model>', 'model folder or Hub id (org/name[@revision])')
    .option('-p, --prompt <text>', 'prompt text; an empty prompt means BOS alone', '')
    .option('--prompt-file <file>', 'read the prompt from a file')
    .option('-n, --max-new-tokens <n>', 'maximum number of new tokens', parseIntOption, 128)
    .option('--chat', "wrap the prompt in the model's chat template", false)
    .option('--config <name>', 'run through a policy preset (see `pcomp configs`) instead of plain decoding')
    .option('--set <key=value>', 'override a config knob (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--context-file <file>', 'with --config: the long context, chunked by the policy')
    .option('--question <text>', 'with --config: the question asked about the context')
    .option('--task <name>', 'with --config: use this task\'s context/question templates (default: plain)')
    .option('--trace <file>', 'with --config: write the per-sample trace JSON here')
    .option('-t, --threads <n>', 'CPU threads (0 = one per core)', parseIntOption, 0)
    .addOption(new Option('--device <device>', 'where samples run: auto = cuda when a usable GPU is present, else cpu; every preset and knob runs on either').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('--offline', 'never touch the network (also HF_HUB_OFFLINE=1)', false)
    .addHelpText(
      'after',
      `
Examples:
  $ pcomp generate --model ../shared/models/stories260K/hf --prompt "" -n 200
  $ pcomp generate --model Qwen/Qwen2.5-0.5B-Instruct --prompt "Why is the sky blue?" --chat
  $ pcomp generate --model M --config parallelcomp --context-file book.txt --question "Who is Ada?" --trace t.json
  $ pcomp generate --model M --config parallelcomp --context-file book.txt --question "Who is Ada?" --device cuda

--device cuda runs plain prompts and --config samples alike (auto picks it when a usable GPU is present).`,
    )
    .action(async (opts: GenerateOptions) => {
      const { runGenerate } = await import('../runners/generate.js');
      await runGenerate(opts);
    });
}

// `pcomp score DIR`: scores a directory of prediction files in the official formats with the official
// metrics and prints a table (or JSON). LongBench: <task>.jsonl files of {pred, answers, all_classes,
// length}, as LongBench's pred.py writes them; InfiniteBench: preds_<task>.jsonl files, as its
// eval_*.py scripts write them.
import type { Command } from 'commander';

export interface ScoreCommandOptions {
  benchmark?: string;
  e: boolean;
  json: boolean;
  modelName?: string;
  codeSim: string;
}

const EXAMPLES = `
Examples:
  pcomp score pred/llama2-7b-chat-4k                   LongBench: one <task>.jsonl per task
  pcomp score pred_e/llama2-7b-chat-4k --e             LongBench-E: scores per length bucket (0-4k, 4-8k, 8k+)
  pcomp score results/gpt4 --benchmark infinitebench   InfiniteBench: preds_<task>.jsonl files
  pcomp score pred/llama2-7b-chat-4k --json > result.json

Scores equal the official scripts' to the last digit: LongBench eval.py (rounded half-to-even to
2 decimals) and InfiniteBench compute_scores.py (mean x 100, not rounded). Category and overall
averages follow the LongBench leaderboard (Avg = mean of category means).`;

export function register(program: Command): void {
  program
    .command('score')
    .description('score prediction files with the official LongBench / InfiniteBench metrics')
    .argument('<dir>', 'directory of prediction files')
    .option('--benchmark <name>', 'longbench or infinitebench (default: guessed from the file names)')
    .option('--e', 'LongBench-E: score by length bucket', false)
    .option('--json', 'print {task: score, ..., categories, overall} as JSON', false)
    .option('--code-sim <flavour>', 'lcc/repobench-p similarity: difflib (as published) or levenshtein (python-Levenshtein installed)', 'difflib')
    .option('--model-name <name>', 'InfiniteBench model name (math_calc drops gpt4\'s first number); default: the directory name')
    .addHelpText('after', EXAMPLES)
    .action(async (dir: string, opts: ScoreCommandOptions) => {
      const { text, warnings } = await scoreCommandOutput(dir, opts);
      for (const w of warnings) process.stderr.write(`pcomp: warning: ${w}\n`);
      process.stdout.write(text);
    });
}

/** What `pcomp score` prints on stdout, and warnings for stderr. */
export async function scoreCommandOutput(dir: string, opts: ScoreCommandOptions): Promise<{ text: string; warnings: string[] }> {
  const { UserError } = await import('../../util/errors.js');
  const path = await import('node:path');
  const { scoreDirectory } = await import('../../datasets/score.js');
  const { summarize, summaryJson, summaryTable } = await import('../../datasets/score-summary.js');
  if (opts.benchmark !== undefined && opts.benchmark !== 'longbench' && opts.benchmark !== 'infinitebench')
    throw new UserError(`--benchmark must be longbench or infinitebench, not "${opts.benchmark}"`);
  const benchmark = opts.benchmark as 'longbench' | 'infinitebench' | undefined;
  if (opts.e && benchmark === 'infinitebench') throw new UserError('--e applies to LongBench only');
  if (opts.codeSim !== 'difflib' && opts.codeSim !== 'levenshtein')
    throw new UserError(`--code-sim must be difflib or levenshtein, not "${opts.codeSim}"`);
  const model = opts.modelName ?? path.basename(path.resolve(dir));
  const scores = scoreDirectory(dir, { benchmark, e: opts.e, model, codeSim: opts.codeSim });
  const summary = summarize(scores);
  const warnings = scores.skipped.length > 0 && opts.json ? [`skipped files that name no ${scores.benchmark} task: ${scores.skipped.join(', ')}`] : [];
  const text = opts.json ? `${JSON.stringify(summaryJson(summary), null, 2)}\n` : summaryTable(scores, summary);
  return { text, warnings };
}

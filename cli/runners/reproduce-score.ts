// T-score: the official scores reproduced from real published predictions, with no model run:
//   LongBench      Llama2-7B-chat-4k predictions (pred/llama2-7b-chat-4k of a LongBench checkout), scored
//                  by datasets/score.ts, beside that checkout's result.json (the official eval.py) and the
//                  paper's Table 1 FullKV(4k) row
//   InfiniteBench  GPT-4's predictions (InfiniteBench results/gpt4), Table 2's six columns, beside the
//                  official compute_scores.py output and the paper's GPT-4 row
// The predictions are research material in ../shared/bench-samples (never copied into the package);
// without them the table is skipped with a message that says where they were looked for.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readPredictionFile, scoreTask } from '../../datasets/score.js';
import { TABLE1_FULLKV_LLAMA2, TABLE2_GPT4 } from '../../datasets/paper-numbers.js';
import { PCOMP_ROOT } from '../../results/provenance.js';
import { UserError } from '../../util/errors.js';

export const DEFAULT_BENCH_SAMPLES = path.resolve(PCOMP_ROOT, '..', 'shared', 'bench-samples');
const LONGBENCH_PREDS = path.join('longbench', 'preds-llama2-7b-chat-4k');
const INFINITEBENCH_PREDS = path.join('infinitebench', 'preds-gpt4');
const INFINITEBENCH_OFFICIAL = path.join('infinitebench', 'reference_scores.json');

export interface ScoreRow {
  task: string;
  /** Scored here from the prediction file. */
  ours: number;
  /** The official script's number for the same file. */
  official?: number;
  /** The paper's number for that model and task (not the same predictions: the authors' own run). */
  paper?: number;
  samples: number;
}

export interface ScoreTable {
  title: string;
  source: string;
  officialSource: string;
  paperCite: string;
  /** What the paper's column is relative to these predictions. */
  paperNote: string;
  /** The paper's printed average over the same task columns. */
  paperAvg?: number;
  rows: ScoreRow[];
}

export type ScoreResult = { skipped: string } | { tables: ScoreTable[] };

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${file}: cannot read JSON: ${(e as Error).message}`);
  }
}

function scoreFile(task: string, file: string, model?: string): { score: number; samples: number } {
  const { records, lines } = readPredictionFile(file);
  const s = scoreTask(task, records, { model, source: { file, lines } });
  return { score: s.score, samples: s.samples };
}

function longbenchTable(root: string): ScoreTable {
  const dir = path.join(root, LONGBENCH_PREDS);
  const officialFile = path.join(dir, 'result.json');
  const official = readJson(officialFile);
  const rows = Object.keys(TABLE1_FULLKV_LLAMA2.scores).flatMap((task) => {
    const file = path.join(dir, `${task}.jsonl`);
    if (!existsSync(file)) return [];
    const { score, samples } = scoreFile(task, file);
    const o = official[task];
    return [{ task, ours: score, official: typeof o === 'number' ? o : undefined, paper: TABLE1_FULLKV_LLAMA2.scores[task], samples }];
  });
  return { title: 'LongBench · Llama2-7B-chat-4k predictions', source: dir, officialSource: officialFile, paperCite: TABLE1_FULLKV_LLAMA2.cite, paperNote: "the authors' own run of the same model, not these predictions", paperAvg: TABLE1_FULLKV_LLAMA2.avg, rows };
}

function infinitebenchTable(root: string): ScoreTable {
  const dir = path.join(root, INFINITEBENCH_PREDS);
  const officialFile = path.join(root, INFINITEBENCH_OFFICIAL);
  const official = (readJson(officialFile).gpt4 ?? {}) as Record<string, unknown>;
  const rows = Object.entries(TABLE2_GPT4.scores).flatMap(([task, paper]) => {
    const file = path.join(dir, `preds_${task}.jsonl`);
    if (!existsSync(file)) return [];
    // compute_scores.py is told the model name: its math_calc scorer treats GPT-4 specially
    const { score, samples } = scoreFile(task, file, 'gpt4');
    const o = official[task];
    return [{ task, ours: score, official: typeof o === 'number' ? o : undefined, paper, samples }];
  });
  return { title: 'InfiniteBench · GPT-4 predictions', source: dir, officialSource: officialFile, paperCite: TABLE2_GPT4.cite, paperNote: 'InfiniteBench\'s published scores, which the paper quotes: these very predictions', paperAvg: TABLE2_GPT4.avg, rows };
}

export function reproduceScores(benchSamples = DEFAULT_BENCH_SAMPLES): ScoreResult {
  const needed = [LONGBENCH_PREDS, INFINITEBENCH_PREDS, INFINITEBENCH_OFFICIAL].map((p) => path.join(benchSamples, p));
  const missing = needed.filter((p) => !existsSync(p));
  if (missing.length === needed.length)
    return { skipped: `T-SCORE skipped: no published predictions under ${benchSamples} (give --bench-samples DIR holding ${LONGBENCH_PREDS} and ${INFINITEBENCH_PREDS})` };
  const tables: ScoreTable[] = [];
  if (existsSync(needed[0]!)) tables.push(longbenchTable(benchSamples));
  if (existsSync(needed[1]!) && existsSync(needed[2]!)) tables.push(infinitebenchTable(benchSamples));
  return { tables };
}

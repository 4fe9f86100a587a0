// Scores prediction files exactly as the official scripts do:
//  - LongBench (eval.py): per task, max over answers of the task's metric, summed left to right,
//    `round(100 * total / n, 2)` half-to-even; LongBench-E (`--e`): per length bucket,
//    `round(100 * numpy.mean(scores), 2)` — numpy's rounding, since the value is a numpy.float64 —
//    NaN for an empty bucket.
//  - InfiniteBench (compute_scores.py): mean of per-example scores, reported ×100 and not rounded.
// Category and overall averages are ours (the official scripts print per-task numbers only); they are
// formed the way the LongBench leaderboard forms them (see `averages`).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import {
  INFINITEBENCH_TASKS,
  LONGBENCH_E_BUCKETS,
  LONGBENCH_TASKS,
  lengthBucket,
  longBenchBaseTask,
  type LongBenchEBucket,
} from './metrics/longbench-categories.js';
import { lstripNewlines, pyNumber, pyStrip } from './metrics/python-compat.js';
import { parsePythonJson } from './metrics/python-json.js';
import { numpyMean, numpyRound, pyRound, pySum } from './metrics/py-round.js';
import { getMetric } from './metrics/registry.js';

export type ScoreBenchmark = 'longbench' | 'longbench-e' | 'infinitebench';

/** One prediction: LongBench's `{pred, answers, all_classes, length}`, or an InfiniteBench preds row. */
export interface PredictionInput {
  pred?: unknown;
  prediction?: unknown;
  answers?: unknown;
  ground_truth?: unknown;
  label?: unknown;
  all_classes?: unknown;
  length?: unknown;
}

export type BucketScores = Record<LongBenchEBucket, number>;

export interface TaskScore {
  task: string;
  benchmark: ScoreBenchmark;
  /**
   * The official task score: LongBench rounded to 2 decimals; InfiniteBench ×100, unrounded. For LongBench-E
   * (which eval.py scores per bucket only) the same rounding over all records, for convenience.
   */
  score: number;
  /** LongBench-E only: the official per-bucket scores. */
  buckets?: BucketScores;
  /** Per-record scores in input order (0..1), before any averaging. */
  perRecord: number[];
  samples: number;
}

export interface ScoreOptions {
  /** LongBench-E bucketing (eval.py --e). */
  e?: boolean;
  /** InfiniteBench model name: the official math_calc scorer drops GPT-4's first number. */
  model?: string;
  /**
   * code_sim_score flavour for lcc/repobench-p: 'difflib' (default; what the published scores used) or
   * 'levenshtein' (fuzzywuzzy with python-Levenshtein installed).
   */
  codeSim?: 'difflib' | 'levenshtein';
  /** Where the records came from, for error messages (`file`, 1-based line per record). */
  source?: { file: string; lines: number[] };
}

export function benchmarkOfTask(task: string): 'longbench' | 'infinitebench' | undefined {
  if (LONGBENCH_TASKS[longBenchBaseTask(task)]) return 'longbench';
  if (INFINITEBENCH_TASKS[task]) return 'infinitebench';
  return undefined;
}

function where(opts: ScoreOptions, task: string, index: number): string {
  return opts.source ? `${opts.source.file}:${opts.source.lines[index]}` : `${task}: prediction ${index}`;
}

function stringField(rec: PredictionInput, key: 'pred' | 'prediction', at: string): string {
  const value = rec[key];
  if (typeof value !== 'string') throw new UserError(`${at}: field "${key}" must be a string`);
  return value;
}

function scoreLongBench(task: string, preds: readonly PredictionInput[], opts: ScoreOptions): TaskScore {
  const base = longBenchBaseTask(task);
  const info = LONGBENCH_TASKS[base];
  const metricName = info.metric === 'code_sim_score' && opts.codeSim === 'levenshtein' ? 'code_sim_score_levenshtein' : info.metric;
  const metric = getMetric(metricName);
  // eval.py passes the *last* record's all_classes for every record (harmless: it is constant per task).
  const lastClasses = preds.length > 0 ? preds[preds.length - 1].all_classes : null;
  if (lastClasses != null && (!Array.isArray(lastClasses) || !lastClasses.every((c) => typeof c === 'string')))
    throw new UserError(`${where(opts, task, preds.length - 1)}: field "all_classes" must be null or an array of strings`);
  const allClasses = (lastClasses ?? []) as string[];
  const perRecord = preds.map((rec, i) => {
    const at = where(opts, task, i);
    let pred = stringField(rec, 'pred', at);
    const answers = rec.answers;
    if (!Array.isArray(answers) || !answers.every((a) => typeof a === 'string'))
      throw new UserError(`${at}: field "answers" must be an array of strings`);
    if (info.firstLineOnly) pred = lstripNewlines(pred).split('\n')[0];
    try {
      return metric.fn(pred, answers, { all_classes: allClasses });
    } catch (e) {
      throw new UserError(`${at}: ${metricName}: ${(e as Error).message}`, { cause: e });
    }
  });
  if (!opts.e) {
    if (perRecord.length === 0) throw new UserError(`${opts.source?.file ?? task}: no predictions to score`);
    const score = pyRound((100 * pySum(perRecord)) / perRecord.length, 2);
    return { task: base, benchmark: 'longbench', score, perRecord, samples: perRecord.length };
  }
  const inBucket: Record<LongBenchEBucket, number[]> = { '0-4k': [], '4-8k': [], '8k+': [] };
  preds.forEach((rec, i) => {
    const length = pyNumber(rec.length);
    if (length === undefined) throw new UserError(`${where(opts, task, i)}: field "length" must be a number for LongBench-E`);
    inBucket[lengthBucket(length)].push(perRecord[i]);
  });
  const buckets = Object.fromEntries(
    LONGBENCH_E_BUCKETS.map((b) => [b, numpyRound(100 * numpyMean(inBucket[b]), 2)]),
  ) as BucketScores;
  const all = numpyMean(perRecord);
  return { task: base, benchmark: 'longbench-e', score: numpyRound(100 * all, 2), buckets, perRecord, samples: perRecord.length };
}

function firstKey(rec: PredictionInput, keys: readonly (keyof PredictionInput)[]): keyof PredictionInput | undefined {
  return keys.find((k) => k in rec);
}

function scoreInfiniteBench(task: string, preds: readonly PredictionInput[], opts: ScoreOptions): TaskScore {
  if (preds.length === 0) throw new UserError(`${opts.source?.file ?? task}: no predictions to score`);
  const metric = getMetric(INFINITEBENCH_TASKS[task].metric);
  // compute_scores.get_labels picks the label key from the first row only; a row without it gets "XXXXXXXXXX".
  const labelKey = firstKey(preds[0], ['ground_truth', 'label', 'answers']);
  if (!labelKey) throw new UserError(`${where(opts, task, 0)}: no "ground_truth", "label" or "answers" field`);
  const perRecord = preds.map((rec, i) => {
    const at = where(opts, task, i);
    const predKey = firstKey(rec, ['prediction', 'pred']);
    if (!predKey) throw new UserError(`${at}: no "prediction" or "pred" field`);
    const prediction = stringField(rec, predKey as 'pred' | 'prediction', at);
    const label = labelKey in rec ? rec[labelKey] : 'XXXXXXXXXX';
    const answers = Array.isArray(label) ? label.map(String) : [String(label)];
    try {
      return metric.fn(prediction, answers, { label, model: opts.model ?? '' });
    } catch (e) {
      throw new UserError(`${at}: ${task}: ${(e as Error).message}`, { cause: e });
    }
  });
  // Python's sum() (left to right in CPython <= 3.11), then ×100 as the README reports it.
  const score = (pySum(perRecord) / perRecord.length) * 100;
  return { task, benchmark: 'infinitebench', score, perRecord, samples: perRecord.length };
}

/**
 * The official score of one task from its predictions. The task name picks the benchmark
 * (`qasper`, `qasper_e`, `passkey`, ...). This is the API the eval runner uses.
 */
export function scoreTask(taskName: string, predictions: readonly PredictionInput[], opts: ScoreOptions = {}): TaskScore {
  const benchmark = benchmarkOfTask(taskName);
  if (benchmark === 'longbench') return scoreLongBench(taskName, predictions, opts);
  if (benchmark === 'infinitebench') return scoreInfiniteBench(taskName, predictions, opts);
  throw new UserError(`unknown task "${taskName}": not a LongBench or InfiniteBench task`);
}

/** Reads a JSON-lines file; blank lines are skipped, as InfiniteBench's reader does. */
export function readPredictionFile(file: string): { records: PredictionInput[]; lines: number[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read: ${(e as Error).message}`);
  }
  const records: PredictionInput[] = [];
  const lines: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (pyStrip(line) === '') return;
    let value: unknown;
    try {
      value = parsePythonJson(line);
    } catch (e) {
      throw new UserError(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new UserError(`${file}:${i + 1}: expected a JSON object`);
    records.push(value as PredictionInput);
    lines.push(i + 1);
  });
  return { records, lines };
}

export interface DirectoryScores {
  benchmark: ScoreBenchmark;
  dir: string;
  /** In the benchmark's canonical task order. */
  tasks: TaskScore[];
  /** Files that name no known task (eval.py would crash on them; we list them instead). */
  skipped: string[];
}

function taskOfFile(fileName: string, benchmark: 'longbench' | 'infinitebench'): string | undefined {
  if (!fileName.endsWith('.jsonl')) return undefined;
  if (benchmark === 'infinitebench') {
    const m = /^preds_(.+)\.jsonl$/.exec(fileName);
    return m && INFINITEBENCH_TASKS[m[1]] ? m[1] : undefined;
  }
  // eval.py: dataset = filename.split('.')[0]
  const name = fileName.split('.')[0];
  return LONGBENCH_TASKS[longBenchBaseTask(name)] ? name : undefined;
}

/** Scores every task file in a prediction directory. */
export function scoreDirectory(
  dir: string,
  opts: { benchmark?: 'longbench' | 'infinitebench'; e?: boolean; model?: string; codeSim?: ScoreOptions['codeSim'] } = {},
): DirectoryScores {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    names = readdirSync(dir).sort();
  } catch (e) {
    throw new UserError(`${dir}: cannot read prediction directory: ${(e as Error).message}`);
  }
  const benchmark = opts.benchmark ?? (names.some((n) => /^preds_.+\.jsonl$/.test(n)) ? 'infinitebench' : 'longbench');
  const order = Object.keys(benchmark === 'infinitebench' ? INFINITEBENCH_TASKS : LONGBENCH_TASKS);
  const found: Array<{ task: string; file: string }> = [];
  const skipped: string[] = [];
  for (const name of names.filter((n) => n.endsWith('.jsonl'))) {
    const task = taskOfFile(name, benchmark);
    if (task) found.push({ task, file: path.join(dir, name) });
    else skipped.push(name);
  }
  if (found.length === 0)
    throw new UserError(`${dir}: no ${benchmark} prediction files found`, {
      hint: benchmark === 'infinitebench' ? 'expected preds_<task>.jsonl files' : 'expected <task>.jsonl files such as qasper.jsonl',
    });
  const rank = (t: string) => order.indexOf(benchmark === 'longbench' ? longBenchBaseTask(t) : t);
  found.sort((a, b) => rank(a.task) - rank(b.task));
  const tasks = found.map(({ task, file }) => {
    const { records, lines } = readPredictionFile(file);
    return scoreTask(task, records, { e: opts.e, model: opts.model, codeSim: opts.codeSim, source: { file, lines } });
  });
  return { benchmark: benchmark === 'longbench' && opts.e ? 'longbench-e' : benchmark, dir, tasks, skipped };
}

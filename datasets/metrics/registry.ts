// Every metric by name: `{ name, direction, fn }`, where fn is pure
// `(prediction, answers, record?) => number`. Names are the official function names, which the
// task definitions in datasets/tasks/*.json refer to.
//
// LongBench fns take the max over the answers starting from 0, as eval.py does. The task-level
// post-processing (first line only for trec/triviaqa/samsum/lsht) is not a metric's business; it is
// applied by datasets/score.ts. InfiniteBench fns read the raw label from `record.label` when given
// (a str, a number or a list — the official code behaves differently for each) and fall back to `answers`.
import { classificationScore } from './classification.js';
import { codeSimScore, codeSimScoreLevenshtein } from './code-sim.js';
import { INFINITEBENCH_SCORERS } from './infinitebench.js';
import { qaF1Score, qaF1ZhScore } from './qa-f1.js';
import { countScore, retrievalScore, retrievalZhScore } from './retrieval.js';
import { rougeScore, rougeZhScore } from './rouge.js';

export interface MetricRecord {
  /** LongBench classification tasks: the label set. */
  all_classes?: readonly string[] | null;
  /** InfiniteBench: the preds file's raw `ground_truth`/`label` value. */
  label?: unknown;
  /** InfiniteBench: the model name; math_calc drops GPT-4's first number, as the official scorer does. */
  model?: string;
}

export type MetricFn = (prediction: string, answers: readonly string[], record?: MetricRecord) => number;

export interface Metric {
  name: string;
  direction: 'higher-is-better' | 'lower-is-better';
  fn: MetricFn;
}

type PairMetric = (prediction: string, groundTruth: string, allClasses: readonly string[]) => number;

function maxOverAnswers(pair: PairMetric): MetricFn {
  return (prediction, answers, record) => {
    const allClasses = record?.all_classes ?? [];
    let score = 0;
    for (const answer of answers) score = Math.max(score, pair(prediction, answer, allClasses));
    return score;
  };
}

const longBench: Record<string, PairMetric> = {
  qa_f1_score: qaF1Score,
  qa_f1_zh_score: qaF1ZhScore,
  rouge_score: (p, g) => rougeScore(p, g),
  rouge_zh_score: (p, g) => rougeZhScore(p, g),
  classification_score: classificationScore,
  retrieval_score: retrievalScore,
  retrieval_zh_score: retrievalZhScore,
  count_score: countScore,
  code_sim_score: codeSimScore,
  /** code_sim_score as it comes out when python-Levenshtein is installed (not the published setup). */
  code_sim_score_levenshtein: codeSimScoreLevenshtein,
};

const metrics = new Map<string, Metric>();
for (const [name, pair] of Object.entries(longBench)) {
  metrics.set(name, { name, direction: 'higher-is-better', fn: maxOverAnswers(pair) });
}
for (const [task, scorer] of Object.entries(INFINITEBENCH_SCORERS)) {
  const name = `get_score_one_${task}`;
  metrics.set(name, {
    name,
    direction: 'higher-is-better',
    fn: (prediction, answers, record) =>
      scorer(prediction, record && 'label' in record ? record.label : answers, record?.model ?? ''),
  });
}

export const METRICS: ReadonlyMap<string, Metric> = metrics;

export function getMetric(name: string): Metric {
  const metric = metrics.get(name);
  if (!metric) throw new Error(`unknown metric "${name}" (known: ${[...metrics.keys()].join(', ')})`);
  return metric;
}

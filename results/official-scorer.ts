// The glue between run directories and the official metrics (datasets/score.ts): a TaskScorer for
// rebuilding tables, and the category map tables.ts takes as data. Kept apart from tables.ts so
// the table code stays independent of the task registry.
import { scoreTask } from '../datasets/score.js';
import { LONGBENCH_CATEGORY_LABELS, LONGBENCH_TASKS } from '../datasets/metrics/longbench-categories.js';
import type { TaskScorer } from './score-run.js';

/** Scores exactly as `pcomp score` does (LongBench-E buckets with the official bucket rounding). */
export const officialScorer: TaskScorer = (task, lines, lengthBuckets) => {
  const result = scoreTask(task, lines, { e: lengthBuckets });
  return { score: result.score, buckets: result.buckets };
};

/** LongBench task → category label, in the paper's task order. */
export function longbenchCategories(): Record<string, string> {
  return Object.fromEntries(Object.entries(LONGBENCH_TASKS).map(([task, info]) => [task, LONGBENCH_CATEGORY_LABELS[info.category]]));
}

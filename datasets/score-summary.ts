// Category and overall averages of a scored prediction directory, its `--json` form and its text table.
// The official scripts print per-task numbers only; averages follow the LongBench leaderboard:
// a category is the mean of its tasks' (already rounded) scores, and Avg is the mean of the category
// means. The leaderboard keeps an English and a Chinese table (code counts in both), given under
// `languages`. InfiniteBench defines no average; ours is the mean over tasks.
import {
  INFINITEBENCH_TASKS,
  LONGBENCH_CATEGORIES,
  LONGBENCH_CATEGORY_LABELS,
  LONGBENCH_E_BUCKETS,
  LONGBENCH_TASKS,
  type LongBenchEBucket,
} from './metrics/longbench-categories.js';
import { pyRound } from './metrics/py-round.js';
import type { DirectoryScores, TaskScore } from './score.js';

/** A number, or per-bucket numbers for LongBench-E; null where a bucket is empty (NaN) or a part is missing. */
export type ScoreValue = number | null | Partial<Record<LongBenchEBucket, number | null>>;

export interface Averages {
  categories: Record<string, ScoreValue>;
  overall: ScoreValue;
}

export interface ScoreSummary extends Averages {
  benchmark: DirectoryScores['benchmark'];
  tasks: Record<string, ScoreValue>;
  /** LongBench only: the leaderboard's per-language tables. */
  languages?: Record<string, Averages>;
}

const finite = (x: number) => (Number.isFinite(x) ? x : null);

/** Mean of values rounded to 2 decimals; null when any value is missing, since a partial mean would mislead. */
function mean2(values: ReadonlyArray<number | null>): number | null {
  if (values.length === 0 || values.some((v) => v === null)) return null;
  return pyRound((values as number[]).reduce((a, b) => a + b, 0) / values.length, 2);
}

function taskValue(t: TaskScore): ScoreValue {
  if (!t.buckets) return finite(t.score);
  return Object.fromEntries(LONGBENCH_E_BUCKETS.map((b) => [b, finite(t.buckets![b])]));
}

/** Averages a list of values that are all numbers or all bucket maps. */
function average(values: readonly ScoreValue[], bucketed: boolean): ScoreValue {
  if (!bucketed) return mean2(values as Array<number | null>);
  return Object.fromEntries(
    LONGBENCH_E_BUCKETS.map((b) => [b, mean2(values.map((v) => (v as Record<string, number | null>)[b] ?? null))]),
  );
}

function groupAverages(tasks: readonly TaskScore[], categoryOf: (task: string) => string, order: readonly string[], overall: 'categories' | 'tasks'): Averages {
  const bucketed = tasks.some((t) => t.buckets);
  const categories: Record<string, ScoreValue> = {};
  for (const category of order) {
    const members = tasks.filter((t) => categoryOf(t.task) === category);
    if (members.length > 0) categories[category] = average(members.map(taskValue), bucketed);
  }
  const parts = overall === 'categories' ? Object.values(categories) : tasks.map(taskValue);
  return { categories, overall: average(parts, bucketed) };
}

export function summarize(scores: DirectoryScores): ScoreSummary {
  const tasks = Object.fromEntries(scores.tasks.map((t) => [t.task, taskValue(t)]));
  if (scores.benchmark === 'infinitebench') {
    const order = [...new Set(Object.values(INFINITEBENCH_TASKS).map((i) => i.category))];
    return { benchmark: scores.benchmark, tasks, ...groupAverages(scores.tasks, (t) => INFINITEBENCH_TASKS[t].category, order, 'tasks') };
  }
  const categoryOf = (t: string) => LONGBENCH_TASKS[t].category;
  const summary: ScoreSummary = {
    benchmark: scores.benchmark,
    tasks,
    ...groupAverages(scores.tasks, categoryOf, LONGBENCH_CATEGORIES, 'categories'),
  };
  const languages: Record<string, Averages> = {};
  for (const language of ['en', 'zh'] as const) {
    const members = scores.tasks.filter((t) => [language, 'code'].includes(LONGBENCH_TASKS[t.task].language));
    if (members.some((t) => LONGBENCH_TASKS[t.task].language === language))
      languages[language] = groupAverages(members, categoryOf, LONGBENCH_CATEGORIES, 'categories');
  }
  summary.languages = languages;
  return summary;
}

/** `--json`: `{task: score, ...}` with `categories`, `overall` (and `languages` for LongBench) beside them. */
export function summaryJson(summary: ScoreSummary): Record<string, unknown> {
  const out: Record<string, unknown> = { ...summary.tasks, categories: summary.categories, overall: summary.overall };
  if (summary.languages) out.languages = summary.languages;
  return out;
}

function formatValue(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined ? '–' : v.toFixed(digits);
}

function cells(v: ScoreValue, digits: number): string[] {
  if (v === null || typeof v === 'number') return [formatValue(v, digits)];
  return LONGBENCH_E_BUCKETS.map((b) => formatValue(v[b], digits));
}

function categoryLabel(benchmark: ScoreSummary['benchmark'], category: string): string {
  return benchmark === 'infinitebench' ? category : (LONGBENCH_CATEGORY_LABELS as Record<string, string>)[category] ?? category;
}

/** The text table `pcomp score` prints. LongBench values as the official scripts round them (2 decimals). */
export function summaryTable(scores: DirectoryScores, summary: ScoreSummary): string {
  const bucketed = scores.benchmark === 'longbench-e';
  const ib = scores.benchmark === 'infinitebench';
  const header = ['task', ib ? 'name' : 'category', ...(bucketed ? [...LONGBENCH_E_BUCKETS] : ['score']), 'n'];
  const rows: string[][] = scores.tasks.map((t) => [
    t.task,
    ib ? INFINITEBENCH_TASKS[t.task].label : categoryLabel(scores.benchmark, LONGBENCH_TASKS[t.task].category),
    ...cells(summary.tasks[t.task], 2),
    String(t.samples),
  ]);
  const blank = () => header.map(() => '');
  rows.push(blank());
  for (const [category, value] of Object.entries(summary.categories))
    rows.push([`${categoryLabel(scores.benchmark, category)} (avg)`, '', ...cells(value, 2), '']);
  rows.push([ib ? 'Average over tasks' : 'Avg (mean of categories)', '', ...cells(summary.overall, 2), '']);
  for (const [language, averages] of Object.entries(summary.languages ?? {})) {
    if (Object.keys(summary.languages ?? {}).length < 2) break;
    rows.push([`Avg ${language} (leaderboard)`, '', ...cells(averages.overall, 2), '']);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const title = `${scores.benchmark} scores: ${scores.dir}`;
  const notes = scores.skipped.length > 0 ? [`skipped (no such task): ${scores.skipped.join(', ')}`] : [];
  return [title, '', line(header), ...rows.map(line), ...(notes.length ? ['', ...notes] : [])].join('\n') + '\n';
}

// Score tables, all derived from score records (one per run × config × task [× length bucket]):
//   scores.csv   (csv-stringify)   scores.arrow (Arrow IPC file)   scores.md (the paper's layout)
// Scores are percentages (0–100), as the official scripts report them. Category membership is
// passed in as data ({task → category}), so this module does not depend on the task registry.
import { stringify } from 'csv-stringify/sync';
import { Float64, Int32, Table, Utf8, tableFromIPC, tableToIPC, vectorFromArray } from 'apache-arrow';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { formatFixed, mean } from './format.js';

export type LengthBucket = '0-4k' | '4-8k' | '8k+';
export const LENGTH_BUCKETS: readonly LengthBucket[] = ['0-4k', '4-8k', '8k+'];

/** LongBench-E's split of a record's `length` (words/characters, as the dataset counts them). */
export function lengthBucket(length: number): LengthBucket {
  return length < 4000 ? '0-4k' : length < 8000 ? '4-8k' : '8k+';
}

export interface ScoreRecord {
  /** Run label, set when several run directories are compared side by side. */
  run?: string;
  config: string;
  task: string;
  /** Set for LongBench-E scores of one length bucket. */
  bucket?: LengthBucket;
  /** Percentage, 0–100. */
  score: number;
  samples: number;
}

export type Benchmark = 'longbench' | 'longbench-e' | 'infinitebench';

/** The paper's column names for LongBench (Table 1) and the Chinese tasks in the same style. */
export const LONGBENCH_LABELS: Readonly<Record<string, string>> = {
  narrativeqa: 'NQA', qasper: 'Qsp', multifieldqa_en: 'MF-en', multifieldqa_zh: 'MF-zh',
  hotpotqa: 'Hot', '2wikimqa': '2W', musique: 'Mus', dureader: 'DuR',
  gov_report: 'Gov', qmsum: 'QMS', multi_news: 'MN', vcsum: 'VCS',
  trec: 'TREC', triviaqa: 'TQA', samsum: 'SAM', lsht: 'LSHT',
  passage_count: 'PC', passage_retrieval_en: 'PRe', passage_retrieval_zh: 'PRz',
  lcc: 'Lcc', 'repobench-p': 'RBP',
};

/** InfiniteBench's abbreviations, in the order its tables use. */
export const INFINITEBENCH_LABELS: Readonly<Record<string, string>> = {
  passkey: 'R.PK', number_string: 'R.Num', kv_retrieval: 'R.KV',
  longbook_choice_eng: 'En.MC', longbook_qa_eng: 'En.QA', longbook_sum_eng: 'En.Sum', longbook_qa_chn: 'Zh.QA',
  longdialogue_qa_eng: 'En.Dia', code_debug: 'Code.Debug', code_run: 'Code.Run', math_calc: 'Math.Calc', math_find: 'Math.F',
};

export interface TableOptions {
  benchmark: Benchmark;
  /** Lines printed under the table in scores.md (records skipped, a toy model's caveat). */
  notes?: readonly string[];
  /** task → category, in display order (LongBench); tasks missing from it fall under "Other". */
  categories?: Readonly<Record<string, string>>;
  /** task → column label; defaults to the benchmark's abbreviations. */
  labels?: Readonly<Record<string, string>>;
  /**
   * How LongBench's Avg is formed: 'tasks' (mean over tasks, the ParallelComp paper's AVG) or
   * 'categories' (mean of category means, the LongBench leaderboard's Avg).
   */
  overall?: 'tasks' | 'categories';
  title?: string;
}

const MISSING = '–';
/** LongBench-E runs may name tasks `qasper_e`; labels and categories are keyed by the base name. */
const lookup = (map: Readonly<Record<string, string>>, task: string) => map[task] ?? map[task.replace(/_e$/, '')];
const rowKey = (r: ScoreRecord) => (r.run ? `${r.config}@${r.run}` : r.config);
const cell = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? MISSING : formatFixed(x, 2));
const unique = <T>(xs: Iterable<T>) => [...new Set(xs)];

function markdownTable(header: string[], rows: string[][], alignFirstLeft = true): string {
  const sep = header.map((_, i) => (i === 0 && alignFirstLeft ? '---' : '---:'));
  return [header, sep, ...rows].map((cols) => `| ${cols.join(' | ')} |`).join('\n') + '\n';
}

/** Mean over values only when every one is present: a partial average would mislead. */
function completeMean(values: Array<number | undefined>): number | undefined {
  return values.length > 0 && values.every((v) => v !== undefined && !Number.isNaN(v)) ? mean(values as number[]) : undefined;
}

function scoreLookup(records: readonly ScoreRecord[]): (row: string, task: string, bucket?: LengthBucket) => number | undefined {
  const map = new Map(records.map((r) => [`${rowKey(r)}\u0000${r.task}\u0000${r.bucket ?? ''}`, r.score]));
  return (row, task, bucket) => map.get(`${row}\u0000${task}\u0000${bucket ?? ''}`);
}

/** Tasks in category order, then any others in the order first seen. */
function orderTasks(tasks: readonly string[], categories: Readonly<Record<string, string>> = {}, labels: Readonly<Record<string, string>> = {}): string[] {
  const known = [...Object.keys(categories), ...Object.keys(labels)];
  const base = (t: string) => (known.includes(t) ? t : t.replace(/_e$/, ''));
  const rank = (t: string) => (known.includes(base(t)) ? known.indexOf(base(t)) : known.length + tasks.indexOf(t));
  return [...tasks].sort((a, b) => rank(a) - rank(b));
}

/** Rows configs, columns tasks, then category averages and the overall average. */
export function longbenchMarkdown(records: readonly ScoreRecord[], opts: Omit<TableOptions, 'benchmark'> = {}): string {
  const plain = records.filter((r) => r.bucket === undefined);
  const labels = opts.labels ?? LONGBENCH_LABELS;
  const categories = opts.categories ?? {};
  const tasks = orderTasks(unique(plain.map((r) => r.task)), categories, labels);
  const categoryOf = (t: string) => lookup(categories, t) ?? 'Other';
  // without a category map there is nothing to group by: tasks and Avg only
  const groups = Object.keys(categories).length > 0 ? unique(tasks.map(categoryOf)) : [];
  const score = scoreLookup(plain);
  const rows = unique(plain.map(rowKey)).map((row) => {
    const perTask = tasks.map((t) => score(row, t));
    const perCategory = groups.map((g) => completeMean(tasks.filter((t) => categoryOf(t) === g).map((t) => score(row, t))));
    const overall = opts.overall === 'categories' ? completeMean(perCategory) : completeMean(perTask);
    return [row, ...perTask.map(cell), ...perCategory.map(cell), cell(overall)];
  });
  const header = ['config', ...tasks.map((t) => lookup(labels, t) ?? t), ...groups, 'Avg'];
  const note = opts.overall === 'categories' ? 'Avg is the mean of the category averages (LongBench leaderboard).'
    : 'Avg is the mean over tasks (the ParallelComp paper\'s AVG); category columns average their tasks.';
  return `${opts.title ? `## ${opts.title}\n\n` : ''}${markdownTable(header, rows)}\n${note}\n`;
}

/** LongBench-E: per config, the task-averaged score in each length bucket; then each task's buckets. */
export function longbenchEMarkdown(records: readonly ScoreRecord[], opts: Omit<TableOptions, 'benchmark'> = {}): string {
  const bucketed = records.filter((r) => r.bucket !== undefined);
  const labels = opts.labels ?? LONGBENCH_LABELS;
  const tasks = orderTasks(unique(bucketed.map((r) => r.task)), opts.categories, labels);
  const rowsKeys = unique(bucketed.map(rowKey));
  const score = scoreLookup(bucketed);
  const summary = rowsKeys.map((row) => [
    row,
    ...LENGTH_BUCKETS.map((b) => cell(completeMean(tasks.map((t) => score(row, t, b))))),
    cell(completeMean(tasks.flatMap((t) => LENGTH_BUCKETS.map((b) => score(row, t, b))))),
  ]);
  const detailHeader = ['task', ...rowsKeys.flatMap((row) => LENGTH_BUCKETS.map((b) => `${row} ${b}`))];
  const detail = tasks.map((t) => [lookup(labels, t) ?? t, ...rowsKeys.flatMap((row) => LENGTH_BUCKETS.map((b) => cell(score(row, t, b))))]);
  return (
    `${opts.title ? `## ${opts.title}\n\n` : ''}` +
    markdownTable(['config', ...LENGTH_BUCKETS, 'Avg'], summary) +
    `\nEach bucket column is the mean over ${tasks.length} task${tasks.length === 1 ? '' : 's'} of that bucket's score; Avg is the mean of all task × bucket scores.\n\n` +
    markdownTable(detailHeader, detail)
  );
}

/** InfiniteBench: rows configs, columns the abbreviated tasks in the benchmark's order, then Avg. */
export function infinitebenchMarkdown(records: readonly ScoreRecord[], opts: Omit<TableOptions, 'benchmark'> = {}): string {
  const plain = records.filter((r) => r.bucket === undefined);
  const labels = opts.labels ?? INFINITEBENCH_LABELS;
  const tasks = orderTasks(unique(plain.map((r) => r.task)), {}, labels);
  const score = scoreLookup(plain);
  const rows = unique(plain.map(rowKey)).map((row) => {
    const perTask = tasks.map((t) => score(row, t));
    return [row, ...perTask.map(cell), cell(completeMean(perTask))];
  });
  return `${opts.title ? `## ${opts.title}\n\n` : ''}${markdownTable(['config', ...tasks.map((t) => lookup(labels, t) ?? t), 'Avg'], rows)}`;
}

export function scoresMarkdown(records: readonly ScoreRecord[], opts: TableOptions): string {
  switch (opts.benchmark) {
    case 'longbench': return longbenchMarkdown(records, opts);
    case 'longbench-e': return longbenchEMarkdown(records, opts);
    case 'infinitebench': return infinitebenchMarkdown(records, opts);
  }
}

const COLUMNS = ['run', 'config', 'task', 'category', 'bucket', 'score', 'samples'] as const;

function flatRows(records: readonly ScoreRecord[], categories: Readonly<Record<string, string>> = {}) {
  return records.map((r) => ({
    run: r.run ?? null, config: r.config, task: r.task, category: lookup(categories, r.task) ?? null,
    bucket: r.bucket ?? null, score: r.score, samples: r.samples,
  }));
}

/** Full precision scores (the markdown rounds; the CSV does not). */
export function scoresCsv(records: readonly ScoreRecord[], categories?: Readonly<Record<string, string>>): string {
  return stringify(flatRows(records, categories), { header: true, columns: [...COLUMNS], cast: { number: (x) => String(x) } });
}

export function scoresArrow(records: readonly ScoreRecord[], categories?: Readonly<Record<string, string>>): Uint8Array {
  const rows = flatRows(records, categories);
  const table = new Table({
    run: vectorFromArray(rows.map((r) => r.run), new Utf8()),
    config: vectorFromArray(rows.map((r) => r.config), new Utf8()),
    task: vectorFromArray(rows.map((r) => r.task), new Utf8()),
    category: vectorFromArray(rows.map((r) => r.category), new Utf8()),
    bucket: vectorFromArray(rows.map((r) => r.bucket), new Utf8()),
    score: vectorFromArray(rows.map((r) => r.score), new Float64()),
    samples: vectorFromArray(rows.map((r) => r.samples), new Int32()),
  });
  return tableToIPC(table, 'file');
}

/** Reads scores.arrow back into records (what `pcomp report` compares). */
export function readScoresArrow(bytes: Uint8Array): { records: ScoreRecord[]; categories: Record<string, string> } {
  const table = tableFromIPC(bytes);
  const records: ScoreRecord[] = [];
  const categories: Record<string, string> = {};
  for (const row of table.toArray()) {
    const r = row.toJSON() as Record<string, unknown>;
    const record: ScoreRecord = { config: String(r.config), task: String(r.task), score: Number(r.score), samples: Number(r.samples) };
    if (r.run != null) record.run = String(r.run);
    if (r.bucket != null) record.bucket = r.bucket as LengthBucket;
    if (r.category != null) categories[record.task] = String(r.category);
    records.push(record);
  }
  return { records, categories };
}

/** Writes scores.csv, scores.arrow and scores.md into a run directory (each write-then-rename). */
export function writeScoreTables(dir: string, records: readonly ScoreRecord[], opts: TableOptions): string[] {
  const notes = opts.notes?.length ? `\n${opts.notes.map((n) => `- ${n}`).join('\n')}\n` : '';
  const files = { 'scores.csv': scoresCsv(records, opts.categories), 'scores.arrow': scoresArrow(records, opts.categories), 'scores.md': scoresMarkdown(records, opts) + notes };
  for (const [name, data] of Object.entries(files)) writeFileAtomic(join(dir, name), data);
  return Object.keys(files).map((name) => join(dir, name));
}

// Which metric and category each benchmark task uses, for scoring prediction directories.
// Names match the task registry in datasets/tasks/*.json (metric = the official function name,
// category = its kebab-case key); test/metrics/categories.test.ts checks the two agree. The table is
// kept here too so `pcomp score` works on prediction files alone, without loading prompt templates.

export const LONGBENCH_CATEGORIES = [
  'single-doc-qa',
  'multi-doc-qa',
  'summarization',
  'few-shot',
  'synthetic',
  'code',
] as const;
export type LongBenchCategory = (typeof LONGBENCH_CATEGORIES)[number];

/** Display names, as the LongBench leaderboard writes them. */
export const LONGBENCH_CATEGORY_LABELS: Readonly<Record<LongBenchCategory, string>> = {
  'single-doc-qa': 'Single-Doc QA',
  'multi-doc-qa': 'Multi-Doc QA',
  summarization: 'Summarization',
  'few-shot': 'Few-shot',
  synthetic: 'Synthetic',
  code: 'Code',
};

export interface LongBenchTaskInfo {
  metric: string;
  category: LongBenchCategory;
  language: 'en' | 'zh' | 'code';
  /** eval.py keeps only the first line (after leading newlines) of the prediction for these. */
  firstLineOnly: boolean;
}

const task = (metric: string, category: LongBenchCategory, language: LongBenchTaskInfo['language'], firstLineOnly = false) =>
  ({ metric, category, language, firstLineOnly }) satisfies LongBenchTaskInfo;

/** The 21 LongBench v1 tasks in the paper's column order. */
export const LONGBENCH_TASKS: Readonly<Record<string, LongBenchTaskInfo>> = {
  narrativeqa: task('qa_f1_score', 'single-doc-qa', 'en'),
  qasper: task('qa_f1_score', 'single-doc-qa', 'en'),
  multifieldqa_en: task('qa_f1_score', 'single-doc-qa', 'en'),
  multifieldqa_zh: task('qa_f1_zh_score', 'single-doc-qa', 'zh'),
  hotpotqa: task('qa_f1_score', 'multi-doc-qa', 'en'),
  '2wikimqa': task('qa_f1_score', 'multi-doc-qa', 'en'),
  musique: task('qa_f1_score', 'multi-doc-qa', 'en'),
  dureader: task('rouge_zh_score', 'multi-doc-qa', 'zh'),
  gov_report: task('rouge_score', 'summarization', 'en'),
  qmsum: task('rouge_score', 'summarization', 'en'),
  multi_news: task('rouge_score', 'summarization', 'en'),
  vcsum: task('rouge_zh_score', 'summarization', 'zh'),
  trec: task('classification_score', 'few-shot', 'en', true),
  triviaqa: task('qa_f1_score', 'few-shot', 'en', true),
  samsum: task('rouge_score', 'few-shot', 'en', true),
  lsht: task('classification_score', 'few-shot', 'zh', true),
  passage_count: task('count_score', 'synthetic', 'en'),
  passage_retrieval_en: task('retrieval_score', 'synthetic', 'en'),
  passage_retrieval_zh: task('retrieval_zh_score', 'synthetic', 'zh'),
  lcc: task('code_sim_score', 'code', 'code'),
  'repobench-p': task('code_sim_score', 'code', 'code'),
};

/** The 13 LongBench-E tasks (hub configs `<name>_e`; same metric as the base task). */
export const LONGBENCH_E_TASKS = [
  'qasper', 'multifieldqa_en', 'hotpotqa', '2wikimqa', 'gov_report', 'multi_news', 'trec', 'triviaqa',
  'samsum', 'passage_count', 'passage_retrieval_en', 'lcc', 'repobench-p',
] as const;

/** LongBench-E length buckets, by the record's `length` field (words for en, characters for zh). */
export const LONGBENCH_E_BUCKETS = ['0-4k', '4-8k', '8k+'] as const;
export type LongBenchEBucket = (typeof LONGBENCH_E_BUCKETS)[number];

export function lengthBucket(length: number): LongBenchEBucket {
  if (length < 4000) return '0-4k';
  if (length < 8000) return '4-8k';
  return '8k+';
}

/** `narrativeqa_e` → `narrativeqa`; a base name stays as it is. */
export function longBenchBaseTask(name: string): string {
  return name.endsWith('_e') && LONGBENCH_TASKS[name.slice(0, -2)] ? name.slice(0, -2) : name;
}

/** `task → category` for results/tables.ts, in display order. */
export function longBenchCategoryMap(): Record<string, LongBenchCategory> {
  return Object.fromEntries(Object.entries(LONGBENCH_TASKS).map(([name, info]) => [name, info.category]));
}

export interface InfiniteBenchTaskInfo {
  metric: string;
  /** The abbreviation the InfiniteBench paper's tables use. */
  label: string;
  category: 'retrieval' | 'novel' | 'dialogue' | 'math' | 'code';
}

/** InfiniteBench tasks in the paper's column order. */
export const INFINITEBENCH_TASKS: Readonly<Record<string, InfiniteBenchTaskInfo>> = {
  passkey: { metric: 'get_score_one_passkey', label: 'Retrieve.PassKey', category: 'retrieval' },
  number_string: { metric: 'get_score_one_number_string', label: 'Retrieve.Number', category: 'retrieval' },
  kv_retrieval: { metric: 'get_score_one_kv_retrieval', label: 'Retrieve.KV', category: 'retrieval' },
  longbook_sum_eng: { metric: 'get_score_one_longbook_sum_eng', label: 'En.Sum', category: 'novel' },
  longbook_choice_eng: { metric: 'get_score_one_longbook_choice_eng', label: 'En.MC', category: 'novel' },
  longbook_qa_eng: { metric: 'get_score_one_longbook_qa_eng', label: 'En.QA', category: 'novel' },
  longbook_qa_chn: { metric: 'get_score_one_longbook_qa_chn', label: 'Zh.QA', category: 'novel' },
  longdialogue_qa_eng: { metric: 'get_score_one_longdialogue_qa_eng', label: 'En.Dia', category: 'dialogue' },
  math_find: { metric: 'get_score_one_math_find', label: 'Math.Find', category: 'math' },
  math_calc: { metric: 'get_score_one_math_calc', label: 'Math.Calc', category: 'math' },
  code_run: { metric: 'get_score_one_code_run', label: 'Code.Run', category: 'code' },
  code_debug: { metric: 'get_score_one_code_debug', label: 'Code.Debug', category: 'code' },
};

// Task definitions live in datasets/tasks/*.json (data, not code); this module loads and validates them, so a typo
// in a template or a metric name is reported with the file and key instead of surfacing as a wrong score.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';

export type Benchmark = 'longbench' | 'longbench-e' | 'infinitebench';
export const BENCHMARKS: Benchmark[] = ['longbench', 'longbench-e', 'infinitebench'];

export interface HubSource {
  repo: string;
  type: 'dataset';
  revision: string;
  /** LongBench: the archive holding every task file, and the member path pattern inside it. */
  archive?: string;
  member?: string;
  /** InfiniteBench: the per-task file pattern at the repo root. */
  file?: string;
}

export interface ChunkSplit {
  /** Applied to every chunk; holds `{context}` once. */
  context: string;
  /** Re-encoded after the chunks; the fields of the record other than context. */
  question: string;
  source: string;
  /** max_new_tokens the reference used with this split, where it differs from the official one. */
  maxNewTokens?: number;
}

export interface TaskDef {
  name: string;
  benchmark: Benchmark;
  recordFormat: 'longbench' | 'infinitebench';
  language: string;
  category: string;
  displayName?: string;
  records: number;
  /** The official single-prompt template (for InfiniteBench, the default family's). */
  template: string;
  /** InfiniteBench: templates per model family (gpt4, yarn_mistral, claude2, kimi). */
  templates?: Record<string, string>;
  split: ChunkSplit;
  maxNewTokens: number;
  metric: string;
  skipChatTemplate: boolean;
  postprocess: 'first_line' | null;
  /** samsum: generation also stops at the first newline token (pred.py passes it as an extra eos). */
  stopOnNewline: boolean;
  answerField: string;
  hub: HubSource;
  /** LongBench-E: the base task whose definition this variant shares. */
  base?: string;
}

export interface ParallelCompLengths {
  models: Array<{ match: string; raw: number; chunk: number }>;
  datasetCaps: Array<{ datasets: string[]; rules: Array<{ match: string[]; chunk: number }>; otherwise: number }>;
}

export interface Lengths {
  longbench: { model2maxlen: Record<string, number>; unknownModelMargin: number };
  parallelcomp: ParallelCompLengths;
  infinitebench: { truncate: Record<string, number>; default: number };
}

export interface InfiniteBenchMeta {
  defaultTemplateFamily: string;
  modelToTemplateFamily: Record<string, string>;
  systemMessages: Record<string, string>;
}

export interface Registry {
  tasks: TaskDef[];
  lengths: Lengths;
  infinitebench: InfiniteBenchMeta;
  get(name: string): TaskDef;
  byBenchmark(b: Benchmark): TaskDef[];
}

export const LONGBENCH_METRICS = ['qa_f1_score', 'qa_f1_zh_score', 'rouge_score', 'rouge_zh_score', 'classification_score',
  'retrieval_score', 'retrieval_zh_score', 'count_score', 'code_sim_score'];
export const INFINITEBENCH_TASKS = ['passkey', 'number_string', 'kv_retrieval', 'longbook_sum_eng', 'longbook_choice_eng',
  'longbook_qa_eng', 'longbook_qa_chn', 'longdialogue_qa_eng', 'math_find', 'math_calc', 'code_run', 'code_debug'];
/** compute_scores.py's per-task scoring functions. */
export const INFINITEBENCH_METRICS = INFINITEBENCH_TASKS.map((t) => `get_score_one_${t}`);

const PLACEHOLDERS: Record<'longbench' | 'infinitebench', Set<string>> = {
  longbench: new Set(['context', 'input']),
  infinitebench: new Set(['context', 'input', 'question', 'OPTION_A', 'OPTION_B', 'OPTION_C', 'OPTION_D', 'prefix', 'func', 'func_call']),
};

export function placeholders(template: string): string[] {
  return [...template.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => m[1]!);
}

/** Reads fields with errors that say `<file>: <key path> ...`. */
class Reader {
  constructor(readonly file: string) {}
  fail(key: string, msg: string): never {
    throw new UserError(`${this.file}: ${key} ${msg}`);
  }
  obj(v: unknown, key: string): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(key, 'must be an object');
    return v as Record<string, unknown>;
  }
  str(o: Record<string, unknown>, k: string, key: string): string {
    if (typeof o[k] !== 'string') this.fail(`${key}.${k}`, 'must be a string');
    return o[k] as string;
  }
  int(o: Record<string, unknown>, k: string, key: string): number {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) this.fail(`${key}.${k}`, 'must be a positive integer');
    return v;
  }
  bool(o: Record<string, unknown>, k: string, key: string): boolean {
    if (typeof o[k] !== 'boolean') this.fail(`${key}.${k}`, 'must be true or false');
    return o[k] as boolean;
  }
  oneOf<T extends string>(o: Record<string, unknown>, k: string, key: string, allowed: readonly T[]): T {
    const v = o[k];
    if (typeof v !== 'string' || !allowed.includes(v as T)) this.fail(`${key}.${k}`, `must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
    return v as T;
  }
  template(t: string, key: string, format: 'longbench' | 'infinitebench', needsContext: boolean): string {
    for (const p of placeholders(t)) if (!PLACEHOLDERS[format].has(p)) this.fail(key, `uses unknown placeholder {${p}}`);
    const n = placeholders(t).filter((p) => p === 'context').length;
    if (needsContext && n !== 1) this.fail(key, `must contain {context} exactly once (found ${n})`);
    if (!needsContext && n !== 0) this.fail(key, 'must not contain {context}');
    return t;
  }
}

function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

function parseHub(r: Reader, v: unknown): HubSource {
  const o = r.obj(v, 'hub');
  const hub: HubSource = { repo: r.str(o, 'repo', 'hub'), type: 'dataset', revision: r.str(o, 'revision', 'hub') };
  if (o.archive !== undefined) { hub.archive = r.str(o, 'archive', 'hub'); hub.member = r.str(o, 'member', 'hub'); }
  if (o.file !== undefined) hub.file = r.str(o, 'file', 'hub');
  if (!hub.member && !hub.file) r.fail('hub', 'needs "archive"+"member" or "file"');
  return hub;
}

function parseTask(r: Reader, v: unknown, i: number, benchmark: Benchmark, format: 'longbench' | 'infinitebench', hub: HubSource, defaultFamily: string | null): TaskDef {
  const raw = r.obj(v, `tasks[${i}]`);
  const key = `tasks[${i}] (${typeof raw.name === 'string' ? raw.name : '?'})`;
  const name = r.str(raw, 'name', key);
  const metrics = format === 'longbench' ? LONGBENCH_METRICS : INFINITEBENCH_METRICS;
  let templates: Record<string, string> | undefined;
  let template: string;
  if (format === 'infinitebench') {
    const t = r.obj(raw.templates, `${key}.templates`);
    templates = {};
    for (const [fam, s] of Object.entries(t)) {
      if (typeof s !== 'string') r.fail(`${key}.templates.${fam}`, 'must be a string');
      // Other families are kept verbatim even where upstream is broken (kimi's {document}, {fcontext});
      // prompts.ts reports an unfillable placeholder when such a family is actually used.
      templates[fam] = fam === defaultFamily ? r.template(s, `${key}.templates.${fam}`, format, true) : s;
    }
    if (!defaultFamily || !templates[defaultFamily]) r.fail(`${key}.templates`, `lacks the default family "${defaultFamily}"`);
    template = templates[defaultFamily];
  } else {
    template = r.template(r.str(raw, 'template', key), `${key}.template`, format, true);
  }
  const s = r.obj(raw.split, `${key}.split`);
  const split: ChunkSplit = {
    context: r.template(r.str(s, 'context', `${key}.split`), `${key}.split.context`, format, true),
    question: r.template(r.str(s, 'question', `${key}.split`), `${key}.split.question`, format, false),
    source: r.str(s, 'source', `${key}.split`),
  };
  if (s.maxNewTokens !== undefined) split.maxNewTokens = r.int(s, 'maxNewTokens', `${key}.split`);
  if (raw.postprocess !== null && raw.postprocess !== 'first_line') r.fail(`${key}.postprocess`, 'must be null or "first_line"');
  const task: TaskDef = {
    name, benchmark, recordFormat: format, hub,
    language: r.oneOf(raw, 'language', key, ['en', 'zh', 'code'] as const),
    category: r.str(raw, 'category', key),
    records: r.int(raw, 'records', key),
    template, templates, split,
    maxNewTokens: r.int(raw, 'maxNewTokens', key),
    metric: r.oneOf(raw, 'metric', key, metrics),
    skipChatTemplate: r.bool(raw, 'skipChatTemplate', key),
    postprocess: raw.postprocess as 'first_line' | null,
    stopOnNewline: r.bool(raw, 'stopOnNewline', key),
    answerField: r.str(raw, 'answerField', key),
  };
  if (raw.displayName !== undefined) task.displayName = r.str(raw, 'displayName', key);
  return task;
}

function parseLengths(r: Reader, v: unknown): Lengths {
  const o = r.obj(v, '(root)');
  const lb = r.obj(o.longbench, 'longbench');
  const m2l = r.obj(lb.model2maxlen, 'longbench.model2maxlen');
  for (const k of Object.keys(m2l)) r.int(m2l, k, 'longbench.model2maxlen');
  const pc = r.obj(o.parallelcomp, 'parallelcomp');
  if (!Array.isArray(pc.models)) r.fail('parallelcomp.models', 'must be a list');
  (pc.models as unknown[]).forEach((m, i) => {
    const e = r.obj(m, `parallelcomp.models[${i}]`);
    r.str(e, 'match', `parallelcomp.models[${i}]`); r.int(e, 'raw', `parallelcomp.models[${i}]`); r.int(e, 'chunk', `parallelcomp.models[${i}]`);
  });
  if (!Array.isArray(pc.datasetCaps)) r.fail('parallelcomp.datasetCaps', 'must be a list');
  const ib = r.obj(o.infinitebench, 'infinitebench');
  const tr = r.obj(ib.truncate, 'infinitebench.truncate');
  for (const k of Object.keys(tr)) r.int(tr, k, 'infinitebench.truncate');
  return {
    longbench: { model2maxlen: m2l as Record<string, number>, unknownModelMargin: r.int(lb, 'unknownModelMargin', 'longbench') },
    parallelcomp: pc as unknown as ParallelCompLengths,
    infinitebench: { truncate: tr as Record<string, number>, default: r.int(ib, 'default', 'infinitebench') },
  };
}

export const DEFAULT_TASKS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tasks');

/** Loads every benchmark file in `dir` (default datasets/tasks). Throws UserError naming the file and key. */
export function loadRegistry(dir: string = DEFAULT_TASKS_DIR): Registry {
  const rel = (f: string) => path.relative(process.cwd(), path.join(dir, f)) || f;
  const tasks: TaskDef[] = [];
  let lengths: Lengths | null = null;
  let ib: InfiniteBenchMeta = { defaultTemplateFamily: 'yarn_mistral', modelToTemplateFamily: {}, systemMessages: {} };
  const variants: Array<{ r: Reader; i: number; raw: Record<string, unknown>; hub: HubSource }> = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const r = new Reader(rel(f));
    const data = r.obj(readJsonFile(path.join(dir, f)), '(root)');
    if (f === 'lengths.json') { lengths = parseLengths(r, data); continue; }
    const benchmark = r.oneOf(data, 'benchmark', '(root)', BENCHMARKS);
    const format = r.oneOf(data, 'recordFormat', '(root)', ['longbench', 'infinitebench'] as const);
    const hub = parseHub(r, data.hub);
    if (!Array.isArray(data.tasks)) r.fail('tasks', 'must be a list');
    let family: string | null = null;
    if (format === 'infinitebench') {
      family = r.str(data, 'defaultTemplateFamily', '(root)');
      ib = {
        defaultTemplateFamily: family,
        modelToTemplateFamily: r.obj(data.modelToTemplateFamily, 'modelToTemplateFamily') as Record<string, string>,
        systemMessages: r.obj(data.systemMessages, 'systemMessages') as Record<string, string>,
      };
    }
    (data.tasks as unknown[]).forEach((t, i) => {
      const raw = r.obj(t, `tasks[${i}]`);
      if (raw.base !== undefined) variants.push({ r, i, raw, hub });
      else tasks.push(parseTask(r, t, i, benchmark, format, hub, family));
    });
  }
  for (const { r, i, raw, hub } of variants) {
    const key = `tasks[${i}]`;
    const base = tasks.find((t) => t.name === r.str(raw, 'base', key));
    if (!base) throw new UserError(`${r.file}: ${key}.base names no known task (${JSON.stringify(raw.base)})`);
    tasks.push({ ...base, name: r.str(raw, 'name', key), benchmark: 'longbench-e', records: r.int(raw, 'records', key), hub, base: base.name });
  }
  const seen = new Set<string>();
  for (const t of tasks) {
    if (seen.has(t.name)) throw new UserError(`${rel('.')}: task "${t.name}" is defined twice`);
    seen.add(t.name);
  }
  if (!lengths) throw new UserError(`${rel('lengths.json')}: missing (per-model maximum lengths)`);
  const lengthsDone = lengths;
  return {
    tasks,
    lengths: lengthsDone,
    infinitebench: ib,
    get(name: string): TaskDef {
      const t = tasks.find((x) => x.name === name);
      if (t) return t;
      const close = tasks.filter((x) => x.name.includes(name) || name.includes(x.name)).map((x) => x.name);
      throw new UserError(`unknown task "${name}"${close.length ? ` (did you mean ${close.slice(0, 5).join(', ')}?)` : ''}; \`pcomp data ls\` lists them`);
    },
    byBenchmark: (b) => tasks.filter((t) => t.benchmark === b),
  };
}

let cached: Registry | null = null;
/** The built-in registry, loaded once per process. */
export function registry(): Registry {
  cached ??= loadRegistry();
  return cached;
}

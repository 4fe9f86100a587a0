// Benchmark records read line by line (InfiniteBench's Zh.QA file is 863 MB, beyond V8's longest string).
// A bad line never stops a run: it is reported as `file:line: reason` and the remaining lines are still used.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { UserError } from '../util/errors.js';

export interface LongBenchRecord {
  input: string;
  context: string;
  answers: string[];
  length: number;
  dataset: string;
  language: string;
  all_classes: string[] | null;
  _id: string;
}

export interface InfiniteBenchRecord {
  id: number | string;
  context: string;
  input: string;
  /** Kept with its JSON types: numbers for math_find / code_run, a list of ints for math_calc. */
  answer: unknown[];
  /** Four strings for longbook_choice_eng and code_debug; [] elsewhere (older kv_retrieval files lack it). */
  options: string[];
}

export type AnyRecord = LongBenchRecord | InfiniteBenchRecord;
export type RecordFormat = 'longbench' | 'infinitebench';

export interface NumberedRecord<R = AnyRecord> { line: number; record: R }

type Obj = Record<string, unknown>;

const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Returns the reason a parsed line is not a record of `format`, or null when it is one. */
function invalidReason(v: unknown, format: RecordFormat): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const o = v as Obj;
  if (typeof o.context !== 'string') return 'field "context" must be a string';
  if (typeof o.input !== 'string') return 'field "input" must be a string';
  if (format === 'longbench') {
    if (!isStrArray(o.answers)) return 'field "answers" must be an array of strings';
    if (o.all_classes !== null && o.all_classes !== undefined && !isStrArray(o.all_classes)) return 'field "all_classes" must be null or an array of strings';
    if (o.length !== undefined && typeof o.length !== 'number') return 'field "length" must be a number';
    return null;
  }
  if (o.answer === undefined) return 'field "answer" is missing';
  if (o.options !== undefined && !isStrArray(o.options)) return 'field "options" must be an array of strings';
  return null;
}

function normalize(v: Obj, format: RecordFormat): AnyRecord {
  if (format === 'longbench') {
    return {
      input: v.input as string, context: v.context as string, answers: v.answers as string[],
      length: typeof v.length === 'number' ? v.length : 0, dataset: typeof v.dataset === 'string' ? v.dataset : '',
      language: typeof v.language === 'string' ? v.language : '', all_classes: (v.all_classes as string[] | null | undefined) ?? null,
      _id: typeof v._id === 'string' ? v._id : '',
    };
  }
  return {
    id: (v.id as number | string | undefined) ?? '',
    context: v.context as string,
    input: v.input as string,
    answer: Array.isArray(v.answer) ? v.answer : [v.answer],
    options: (v.options as string[] | undefined) ?? [],
  };
}

export interface ReadOptions {
  /** Only these 0-based record indices (counting valid records), in file order. */
  indices?: Set<number>;
  limit?: number;
  /** Called for each bad line; by default problems are collected into the result. */
  onProblem?: (msg: string) => void;
  /** The name used in messages (a path relative to the cwd reads better than the cache path). */
  displayName?: string;
}

/** Streams valid records of a jsonl file. `index` counts valid records only, so it is stable across bad lines. */
export async function* streamRecords(file: string, format: RecordFormat, opts: ReadOptions = {}): AsyncGenerator<NumberedRecord & { index: number }> {
  const name = opts.displayName ?? file;
  const input = createReadStream(file, { encoding: 'utf8' });
  const failOpen = new Promise<never>((_, reject) => input.once('error', (e) => reject(new UserError(`${name}: cannot read (${e.message})`))));
  failOpen.catch(() => undefined);
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let index = 0;
  let yielded = 0;
  const iter = lines[Symbol.asyncIterator]();
  try {
    while (true) {
      const next = await Promise.race([iter.next(), failOpen]);
      if (next.done) break;
      lineNo++;
      const text = next.value;
      if (text.trim() === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        opts.onProblem?.(`${name}:${lineNo}: invalid JSON (${(e as Error).message})`);
        continue;
      }
      const why = invalidReason(parsed, format);
      if (why) {
        opts.onProblem?.(`${name}:${lineNo}: ${why}`);
        continue;
      }
      const i = index++;
      if (opts.indices && !opts.indices.has(i)) continue;
      yield { line: lineNo, index: i, record: normalize(parsed as Obj, format) };
      yielded++;
      if (opts.limit !== undefined && yielded >= opts.limit) break;
      if (opts.indices && yielded === opts.indices.size) break;
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/** Reads a whole (small or filtered) file into memory, collecting problems instead of throwing. */
export async function readRecords(file: string, format: RecordFormat, opts: ReadOptions = {}): Promise<{ records: Array<NumberedRecord & { index: number }>; problems: string[] }> {
  const problems: string[] = [];
  const records: Array<NumberedRecord & { index: number }> = [];
  for await (const r of streamRecords(file, format, { ...opts, onProblem: (m) => { problems.push(m); opts.onProblem?.(m); } })) records.push(r);
  return { records, problems };
}

// What an eval run works through: the benchmark's tasks (or the --tasks subset), the jsonl of each,
// the ordered sample ids that make a task's plan, and the records of the samples still to run.
import { UserError } from '../../util/errors.js';
import { registry, BENCHMARKS, type Benchmark, type TaskDef } from '../../datasets/registry.js';
import { streamRecords, type AnyRecord, type InfiniteBenchRecord, type LongBenchRecord } from '../../datasets/records.js';
import { cachedTaskFile, pullTasks, taskFiles } from '../../datasets/store.js';
import type { HubEnv } from '../../datasets/hub.js';
import { longBenchBaseTask } from '../../datasets/metrics/longbench-categories.js';

export function checkBenchmark(name: string): Benchmark {
  if (!BENCHMARKS.includes(name as Benchmark)) throw new UserError(`unknown benchmark "${name}" (one of ${BENCHMARKS.join(', ')})`);
  return name as Benchmark;
}

/** The benchmark's tasks in registry order, or the --tasks list in the order given. */
export function selectTasks(benchmark: Benchmark, tasksFlag?: string): TaskDef[] {
  const reg = registry();
  if (tasksFlag === undefined) return reg.byBenchmark(benchmark);
  const names = tasksFlag.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UserError('--tasks: give at least one task name (see `pcomp data ls`)');
  const seen = new Set<string>();
  return names.flatMap((name) => {
    const task = reg.get(name);
    if (task.benchmark !== benchmark) throw new UserError(`--tasks: "${name}" belongs to ${task.benchmark}, not ${benchmark}`);
    if (seen.has(name)) return [];
    seen.add(name);
    return [task];
  });
}

/**
 * The jsonl of every task. From --data-dir as is; from the cache otherwise, pulling what is missing
 * first (never half-way through a run) unless offline, where the error names the pull command.
 */
export async function locateTaskFiles(
  benchmark: Benchmark, tasks: TaskDef[], opts: { dataDir?: string; env: HubEnv; onLog: (msg: string) => void },
): Promise<Map<string, string>> {
  if (opts.dataDir || opts.env.offline) return taskFiles(tasks, { dataDir: opts.dataDir, env: opts.env });
  const missing: TaskDef[] = [];
  for (const t of tasks) if (!(await cachedTaskFile(t, opts.env))) missing.push(t);
  if (missing.length > 0) {
    opts.onLog(`downloading ${missing.length} task file${missing.length === 1 ? '' : 's'} (${missing.map((t) => t.name).join(', ')}) into ${opts.env.cacheDir}`);
    await pullTasks(benchmark, missing, { env: opts.env });
  }
  return taskFiles(tasks, { env: opts.env });
}

/** Retrieval tasks keep chunkEvict.kRetrieval chunks (ParallelComp App. C; the reference forces k = 1 for these). */
const RETRIEVAL_TASKS = new Set(['passage_retrieval_en', 'passkey', 'kv_retrieval', 'number_string']);

export function isRetrievalTask(task: TaskDef): boolean {
  return RETRIEVAL_TASKS.has(task.recordFormat === 'longbench' ? longBenchBaseTask(task.name) : task.name);
}

function recordId(task: TaskDef, record: AnyRecord): string {
  const raw = task.recordFormat === 'longbench' ? (record as LongBenchRecord)._id : (record as InfiniteBenchRecord).id;
  return raw === '' || raw === undefined || raw === null ? '' : String(raw);
}

export interface TaskIds {
  /** One id per sample in file order: the record's own id, or `#<index>` where it has none or repeats one. */
  ids: string[];
  /** Lines that are not records, as `file:line: reason` (they are skipped, not run). */
  problems: string[];
}

/** The plan of a task: the ids of its first `limit` valid records. Reads ids only, so huge files stay cheap. */
export async function readTaskIds(task: TaskDef, file: string, limit?: number): Promise<TaskIds> {
  const problems: string[] = [];
  if (limit === 0) return { ids: [], problems };
  const own: string[] = [];
  for await (const { record } of streamRecords(file, task.recordFormat, { limit, onProblem: (m) => problems.push(m) })) own.push(recordId(task, record));
  const counts = new Map<string, number>();
  for (const id of own) counts.set(id, (counts.get(id) ?? 0) + 1);
  // Shards and resumes key on the id, so it must be unique: a missing or repeated id falls back to the position.
  const ids = own.map((id, i) => (id !== '' && counts.get(id) === 1 && !id.startsWith('#') ? id : `#${i}`));
  return { ids, problems };
}

export interface PendingRecord {
  index: number;
  id: string;
  line: number;
  record: AnyRecord;
}

/** The records at the plan positions of `pendingIds`, streamed in file order. */
export async function* pendingRecords(task: TaskDef, file: string, planIds: readonly string[], pendingIds: readonly string[]): AsyncGenerator<PendingRecord> {
  if (pendingIds.length === 0) return;
  const position = new Map(planIds.map((id, i) => [id, i]));
  const indices = new Set(pendingIds.map((id) => position.get(id)!));
  for await (const { index, line, record } of streamRecords(file, task.recordFormat, { indices })) yield { index, id: planIds[index]!, line, record };
}

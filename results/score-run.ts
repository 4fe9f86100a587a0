// Tables are derived data: this rebuilds every score record of a run directory from its prediction
// lines. The metric is injected (results/ does not know the task registry), so the runner, `pcomp
// merge` and `pcomp report` all score exactly as `pcomp score` does.
import { UserError } from '../util/errors.js';
import { readManifest, readRunLines, type PredictionLine } from './run-dir.js';
import { LENGTH_BUCKETS, lengthBucket, writeScoreTables, type LengthBucket, type ScoreRecord, type TableOptions } from './tables.js';

/**
 * Official score (0–100) of a task's prediction lines. With `lengthBuckets`, a scorer may also return
 * LongBench-E's per-bucket scores; if it does not, each bucket is scored from its own lines.
 */
export type TaskScorer = (
  task: string,
  lines: readonly PredictionLine[],
  lengthBuckets: boolean,
) => number | { score: number; buckets?: Partial<Record<LengthBucket, number>> };

function scoreOf(result: ReturnType<TaskScorer>): { score: number; buckets?: Partial<Record<LengthBucket, number>> } {
  return typeof result === 'number' ? { score: result } : result;
}

export function scoreRunLines(
  groups: ReadonlyArray<{ config: string; unit: string; lines: PredictionLine[] }>,
  scoreTask: TaskScorer,
  byLengthBucket: boolean,
): ScoreRecord[] {
  const records: ScoreRecord[] = [];
  for (const { config, unit: task, lines } of groups) {
    if (lines.length === 0) continue;
    const ordered = [...lines].sort((a, b) => a.index - b.index); // score in plan order whatever the write order
    const { score, buckets } = scoreOf(scoreTask(task, ordered, byLengthBucket));
    records.push({ config, task, score, samples: ordered.length });
    if (!byLengthBucket) continue;
    for (const bucket of LENGTH_BUCKETS) {
      const inBucket = ordered.filter((l) => lengthBucket(l.length) === bucket);
      if (inBucket.length === 0) continue; // the official scorer's NaN: no cell rather than a number
      const bucketScore = buckets?.[bucket] ?? scoreOf(scoreTask(task, inBucket, false)).score;
      records.push({ config, task, bucket, score: bucketScore, samples: inBucket.length });
    }
  }
  return records;
}

/** Rescores a run directory and rewrites scores.csv, scores.arrow and scores.md. */
export function rebuildScoreTables(dir: string, scoreTask: TaskScorer, opts: Omit<TableOptions, 'benchmark'> = {}): ScoreRecord[] {
  const manifest = readManifest(dir);
  if (manifest.kind !== 'eval') throw new UserError(`${dir}/manifest.json: field "kind" is ${JSON.stringify(manifest.kind)}; scores come from an eval run`);
  const benchmark = manifest.settings?.benchmark;
  if (benchmark !== 'longbench' && benchmark !== 'longbench-e' && benchmark !== 'infinitebench')
    throw new UserError(`${dir}/manifest.json: field "settings.benchmark" must be longbench, longbench-e or infinitebench`);
  const records = scoreRunLines(readRunLines<PredictionLine>(dir), scoreTask, benchmark === 'longbench-e');
  writeScoreTables(dir, records, { ...opts, benchmark, notes: [...(opts.notes ?? []), ...runNotes(manifest)] });
  return records;
}

/** What the tables must say about how the run was made: skipped records (--skip-bad-records), a built-in toy model. */
export function runNotes(manifest: { model?: { id?: unknown }; skippedRecords?: unknown }): string[] {
  const notes: string[] = [];
  const skipped = (manifest.skippedRecords ?? {}) as Record<string, { count?: number; lines?: string[] }>;
  for (const [task, s] of Object.entries(skipped))
    if (s.count) notes.push(`${task}: ${s.count} malformed or incomplete record${s.count === 1 ? '' : 's'} skipped (--skip-bad-records; not scored), first: ${s.lines?.[0] ?? '?'}`);
  const id = manifest.model?.id;
  if (typeof id === 'string' && id.startsWith('builtin:')) notes.push(builtinModelNote(id));
  return notes;
}

/** Said beside every score of a built-in model: its numbers show the pipeline works, not what a real model scores. */
export function builtinModelNote(id: string): string {
  return `${id} is a 512-token toy model: these scores measure the pipeline (prompts, chunking, eviction, decoding, official scoring), not a real model`;
}

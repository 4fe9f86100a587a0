// Tables are derived data: this rebuilds every score record of a run directory from its prediction
// lines. The metric is injected (results/ does not know the task registry), so the runner, `pcomp
// merge` and `pcomp report` all score exactly as `pcomp score` does.
import { UserError } from '../util/errors.js';
import { readManifest, readRunLines, type PredictionLine } from './run-dir.js';
import { LENGTH_BUCKETS, lengthBucket, writeScoreTables, type ScoreRecord, type TableOptions } from './tables.js';

/** Official task score (0–100) of a set of prediction lines. */
export type TaskScorer = (task: string, lines: readonly PredictionLine[]) => number;

export function scoreRunLines(
  groups: ReadonlyArray<{ config: string; unit: string; lines: PredictionLine[] }>,
  scoreTask: TaskScorer,
  byLengthBucket: boolean,
): ScoreRecord[] {
  const records: ScoreRecord[] = [];
  for (const { config, unit: task, lines } of groups) {
    if (lines.length === 0) continue;
    const ordered = [...lines].sort((a, b) => a.index - b.index); // score in plan order whatever the write order
    records.push({ config, task, score: scoreTask(task, ordered), samples: ordered.length });
    if (!byLengthBucket) continue;
    for (const bucket of LENGTH_BUCKETS) {
      const inBucket = ordered.filter((l) => lengthBucket(l.length) === bucket);
      if (inBucket.length > 0) records.push({ config, task, bucket, score: scoreTask(task, inBucket), samples: inBucket.length });
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
  writeScoreTables(dir, records, { ...opts, benchmark });
  return records;
}

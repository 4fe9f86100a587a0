// `pcomp merge`: assemble the shard directories of one run into a single run directory, checking
// that the shards belong together (same identity, shards 0..n-1 each once, same plans) and that
// every planned sample of every config is present exactly once. Lines are written in plan order,
// so the merged files equal those an unsharded run would have written.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { writeFileAtomic, writeJsonAtomic } from './atomic-file.js';
import { readLines, type IdentifiedLine } from './line-store.js';
import { describeValue, firstDifference, type RunManifest } from './manifest.js';
import { SECTION, plannedUnits, readManifest, readPlan, type Plan } from './run-dir.js';
import { assignShards, formatShard, WHOLE } from './shard.js';

export interface MergeReport {
  outDir: string;
  shards: number;
  configs: string[];
  units: string[];
  lines: number;
}

const MAX_LISTED = 20;

export function mergeRunDirs(shardDirs: readonly string[], outDir: string): MergeReport {
  if (shardDirs.length === 0) throw new UserError('merge: give at least one shard directory');
  if (existsSync(outDir) && readdirSync(outDir).length > 0)
    throw new UserError(`${outDir}: the output directory already exists and is not empty`);

  const manifests = shardDirs.map((dir) => readManifest(dir));
  checkShardSet(shardDirs, manifests);
  const first = manifests[0];
  const units = checkPlans(shardDirs);
  const configs = Object.keys(first.configs);
  const section = SECTION[first.kind];

  const problems: string[] = [];
  const merged = new Map<string, string>(); // file path relative to outDir → contents
  let total = 0;
  for (const [unit, plan] of units) {
    const owner = assignShards(plan.ids, first.shard.count);
    const position = new Map(plan.ids.map((id, i) => [id, i]));
    for (const config of configs) {
      const found = new Map<string, { line: IdentifiedLine; dir: string }>();
      shardDirs.forEach((dir, s) => {
        const file = join(dir, section, config, `${unit}.jsonl`);
        for (const line of readLines(file).lines) {
          const where = `${file}: sample ${JSON.stringify(line._id)}`;
          if (!position.has(line._id)) problems.push(`${where} is not in the plan of ${unit}`);
          else if (owner.get(line._id) !== manifests[s].shard.index)
            problems.push(`${where} belongs to shard ${owner.get(line._id)}/${first.shard.count}, not ${formatShard(manifests[s].shard)}`);
          const prior = found.get(line._id);
          if (prior) problems.push(`${where} is also recorded in ${prior.dir}`);
          else found.set(line._id, { line, dir });
        }
      });
      const missing = plan.ids.filter((id) => !found.has(id));
      if (missing.length > 0)
        problems.push(
          `${config}/${unit}: ${missing.length} of ${plan.ids.length} samples missing ` +
            `(${missing.slice(0, 5).map((id) => `${JSON.stringify(id)} from shard ${owner.get(id)}`).join(', ')}${missing.length > 5 ? ', ...' : ''})`,
        );
      const ordered = [...found.values()].filter((f) => position.has(f.line._id))
        .sort((a, b) => position.get(a.line._id)! - position.get(b.line._id)!);
      total += ordered.length;
      merged.set(join(section, config, `${unit}.jsonl`), ordered.map((f) => JSON.stringify(f.line) + '\n').join(''));
    }
  }
  if (problems.length > 0)
    throw new UserError(
      `merge: the shards do not add up to one complete run:\n  ${problems.slice(0, MAX_LISTED).join('\n  ')}` +
        (problems.length > MAX_LISTED ? `\n  ... and ${problems.length - MAX_LISTED} more` : ''),
      { hint: 'finish the incomplete shards (re-run the same command with the same --shard and --out), then merge again' },
    );

  for (const [rel, text] of merged) writeFileAtomic(join(outDir, rel), text);
  for (const [unit, plan] of units) writeJsonAtomic(join(outDir, 'plans', `${unit}.json`), { unit, ids: plan.ids } satisfies Plan);
  writeJsonAtomic(join(outDir, 'manifest.json'), mergedManifest(shardDirs, manifests));
  return { outDir, shards: shardDirs.length, configs, units: [...units.keys()], lines: total };
}

function checkShardSet(dirs: readonly string[], manifests: RunManifest[]): void {
  const first = manifests[0];
  const count = first.shard.count;
  const byIndex = new Map<number, string>();
  manifests.forEach((m, i) => {
    const where = join(dirs[i], 'manifest.json');
    const d =
      firstDifference(first.kind, m.kind, 'kind') ??
      firstDifference(first.model, m.model, 'model') ??
      firstDifference(first.configs, m.configs, 'configs') ??
      firstDifference(first.settings, m.settings, 'settings') ??
      firstDifference(count, m.shard.count, 'shard.count');
    if (d)
      throw new UserError(`${where}: not a shard of the same run as ${dirs[0]}: ${d.path} is ${describeValue(d.given)} there, ${describeValue(d.stored)} in ${dirs[0]}`);
    const prior = byIndex.get(m.shard.index);
    if (prior !== undefined) throw new UserError(`${where}: shard ${formatShard(m.shard)} is given twice (also ${prior})`);
    byIndex.set(m.shard.index, dirs[i]);
  });
  const absent = Array.from({ length: count }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (absent.length > 0)
    throw new UserError(`merge: shard${absent.length > 1 ? 's' : ''} ${absent.map((i) => `${i}/${count}`).join(', ')} not given (${count} shards expected)`);
}

function checkPlans(dirs: readonly string[]): Map<string, Plan> {
  const units = plannedUnits(dirs[0]);
  const plans = new Map<string, Plan>();
  for (const dir of dirs) {
    const here = plannedUnits(dir);
    const d = firstDifference(units, here, 'plans');
    if (d) throw new UserError(`${join(dir, 'plans')}: planned tasks ${describeValue(here)} differ from ${describeValue(units)} in ${dirs[0]}`);
    for (const unit of units) {
      const path = join(dir, 'plans', `${unit}.json`);
      const plan = readPlan(path);
      const known = plans.get(unit);
      if (!known) plans.set(unit, plan);
      else if (firstDifference(known.ids, plan.ids, 'ids'))
        throw new UserError(`${path}: the sample list differs from ${join(dirs[0], 'plans', `${unit}.json`)}; the shards were run on different data`);
    }
  }
  return plans;
}

function mergedManifest(dirs: readonly string[], manifests: RunManifest[]): RunManifest {
  const first = manifests[0];
  const sessions = manifests.flatMap((m) => m.sessions);
  const starts = manifests.map((m) => m.startedAt).sort();
  const ends = manifests.map((m) => m.endedAt).filter((e): e is string => typeof e === 'string').sort();
  return {
    ...first,
    shard: WHOLE,
    startedAt: starts[0],
    endedAt: ends.length === manifests.length ? ends[ends.length - 1] : undefined,
    sessions,
    mergedFrom: manifests.map((m, i) => ({
      dir: dirs[i],
      shard: m.shard,
      device: m.device,
      startedAt: m.startedAt,
      endedAt: m.endedAt,
      tokensPerSec: m.tokensPerSec,
      peakMemoryBytes: m.peakMemoryBytes,
    })),
    tokensPerSec: undefined,
    peakMemoryBytes: manifests.reduce<number | undefined>(
      (max, m) => (typeof m.peakMemoryBytes === 'number' ? Math.max(max ?? 0, m.peakMemoryBytes) : max), undefined),
  };
}

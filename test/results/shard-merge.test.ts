import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDir, mergeRunDirs, parseShard, selectShard, readManifest } from '../../results/run-dir.js';
import { UserError } from '../../util/errors.js';
import { identity, predictionFor, sampleIds } from './fixtures/synthetic-run.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'pcomp-shard-'));
const TASKS = { qasper: 23, trec: 17, lcc: 5 };
const CONFIGS = ['full', 'parallelcomp'];

function run(dir: string, shard = { index: 0, count: 1 }, skip?: { config: string; task: string; id: string }): void {
  const r = RunDir.open(dir, identity({ shard }), { device: `gpu${shard.index}` });
  for (const [task, n] of Object.entries(TASKS)) {
    const ids = sampleIds(task, n);
    r.plan(task, ids);
    for (const config of CONFIGS)
      for (const id of r.pending(config, task)) {
        if (skip && skip.config === config && skip.task === task && skip.id === id) continue;
        r.append(config, task, predictionFor(config, task, id, ids.indexOf(id)));
      }
  }
  r.finish({ tokensPerSec: 10 + shard.index, peakMemoryBytes: 1000 * (shard.index + 1) });
}

describe('--shard i/n', () => {
  it('parses i/n and rejects anything else with the flag named', () => {
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    expect(() => parseShard('4/4')).toThrow(/--shard 4\/4: the index must be below 4/);
    expect(() => parseShard('1-4')).toThrow(/--shard "1-4": expected i\/n/);
    expect(() => parseShard('0/0')).toThrow(/at least 1/);
  });

  it('splits ids into disjoint, covering, balanced shards independent of input order', () => {
    const ids = sampleIds('narrativeqa', 203);
    const shards = [0, 1, 2, 3].map((index) => selectShard(ids, { index, count: 4 }));
    const all = shards.flat();
    expect(new Set(all).size).toBe(ids.length);
    expect(all.length).toBe(ids.length);
    for (const s of shards) expect([50, 51]).toContain(s.length);
    const reversed = [...ids].reverse();
    for (let index = 0; index < 4; index++)
      expect(new Set(selectShard(reversed, { index, count: 4 }))).toEqual(new Set(shards[index]));
    // shard members keep the plan order
    expect(shards[1]).toEqual(ids.filter((id) => shards[1].includes(id)));
  });
});

describe('pcomp merge', () => {
  it('three shards merged equal one unsharded run, byte for byte', () => {
    const whole = tmp();
    run(whole);
    const shardDirs = [0, 1, 2].map((index) => {
      const dir = tmp();
      run(dir, { index, count: 3 });
      return dir;
    });
    const out = join(tmp(), 'merged');
    const report = mergeRunDirs([shardDirs[2], shardDirs[0], shardDirs[1]], out);
    expect(report.lines).toBe(2 * (23 + 17 + 5));
    for (const task of Object.keys(TASKS))
      for (const config of CONFIGS) {
        const rel = `predictions/${config}/${task}.jsonl`;
        expect(readFileSync(join(out, rel), 'utf8')).toBe(readFileSync(join(whole, rel), 'utf8'));
      }
    const m = readManifest(out);
    expect(m.shard).toEqual({ index: 0, count: 1 });
    expect(m.mergedFrom?.map((s) => s.shard.index)).toEqual([2, 0, 1]);
    expect(m.peakMemoryBytes).toBe(3000);
    // the merged directory is itself a run that a re-run finds complete
    const again = RunDir.open(out, identity());
    again.plan('qasper', sampleIds('qasper', 23));
    expect(again.pending('full', 'qasper')).toEqual([]);
    again.close();
  });

  it('reports a missing sample with its shard, and writes nothing', () => {
    const dirs = [0, 1].map(() => tmp());
    const owner0 = selectShard(sampleIds('trec', 17), { index: 0, count: 2 });
    run(dirs[0], { index: 0, count: 2 }, { config: 'parallelcomp', task: 'trec', id: owner0[3] });
    run(dirs[1], { index: 1, count: 2 });
    const out = join(tmp(), 'merged');
    expect(() => mergeRunDirs(dirs, out)).toThrow(
      new RegExp(`parallelcomp/trec: 1 of 17 samples missing \\("${owner0[3]}" from shard 0\\)`),
    );
    expect(() => readFileSync(join(out, 'manifest.json'))).toThrow();
  });

  it('refuses duplicated, absent or foreign shards', () => {
    const dirs = [0, 1].map(() => tmp());
    run(dirs[0], { index: 0, count: 2 });
    run(dirs[1], { index: 1, count: 2 });
    expect(() => mergeRunDirs([dirs[0], dirs[0]], join(tmp(), 'o'))).toThrow(/shard 0\/2 is given twice/);
    expect(() => mergeRunDirs([dirs[1]], join(tmp(), 'o'))).toThrow(/shard 0\/2 not given/);
    const other = tmp();
    const r = RunDir.open(other, identity({ shard: { index: 1, count: 2 }, settings: { benchmark: 'infinitebench' } }));
    r.close();
    expect(() => mergeRunDirs([dirs[0], other], join(tmp(), 'o'))).toThrow(/settings\.benchmark is "infinitebench" there/);
    expect(() => mergeRunDirs([dirs[0], dirs[1]], dirs[0])).toThrow(UserError);
  });

  it('finds a sample recorded by two shards', () => {
    const dirs = [0, 1].map(() => tmp());
    run(dirs[0], { index: 0, count: 2 });
    run(dirs[1], { index: 1, count: 2 });
    // a stray line from shard 0 copied into shard 1's file
    const line = readFileSync(join(dirs[0], 'predictions/full/lcc.jsonl'), 'utf8').split('\n')[0];
    const target = join(dirs[1], 'predictions/full/lcc.jsonl');
    writeFileSync(target, readFileSync(target, 'utf8') + line + '\n');
    expect(() => mergeRunDirs(dirs, join(tmp(), 'o'))).toThrow(/belongs to shard 0\/2, not 1\/2[\s\S]*is also recorded in/);
  });
});


// `--shard i/n`: two processes, each with its own run directory, cover every sample once; `pcomp
// merge` of the two equals one unsharded run, predictions and tables alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readScoresArrow } from '../../results/tables.js';
import { cliEnv, pcomp, predictionsWithoutTime, readPredictions, tempRoot, writeDataDir, writeModel, removeTempRoots } from './helpers.js';

afterAll(removeTempRoots);

describe('pcomp eval --shard i/n and pcomp merge', () => {
  const root = tempRoot();
  const dataDir = path.join(root, 'data');
  const model = path.join(root, 'model');
  const env = cliEnv(path.join(root, 'cache'));
  const args = (out: string, extra: string[] = []) => ['eval', 'longbench', '--model', model, '--config', 'full,parallelcomp',
    '--tasks', 'trec,passage_retrieval_en', '--data-dir', dataDir, '--out', out, '--set', 'chunk.budget=200', '--max-new-tokens', '6', '--threads', '1', ...extra];
  const whole = path.join(root, 'whole');
  const shards = [0, 1].map((i) => path.join(root, `shard${i}`));

  beforeAll(async () => {
    writeDataDir(dataDir, { trec: 5, passage_retrieval_en: 3 }, { contextWords: 100 });
    writeModel(model);
    const runs = [await pcomp(args(whole), env), ...(await Promise.all(shards.map((dir, i) => pcomp(args(dir, ['--shard', `${i}/2`]), env))))];
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('splits the samples between the shards without overlap', () => {
    for (const task of ['trec', 'passage_retrieval_en']) {
      const ids = shards.map((dir) => readPredictions(dir, 'full', task).map((l) => l._id));
      expect(ids[0]!.length).toBeGreaterThan(0);
      expect(ids[1]!.length).toBeGreaterThan(0);
      expect(ids[0]!.filter((id) => ids[1]!.includes(id))).toEqual([]);
      expect([...ids[0]!, ...ids[1]!].sort()).toEqual(readPredictions(whole, 'full', task).map((l) => l._id).sort());
    }
  });

  it('merges into predictions and tables equal to the unsharded run', async () => {
    const merged = path.join(root, 'merged');
    const r = await pcomp(['merge', ...shards, '--out', merged], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/merged 2 shards: 2 configs × 2 tasks, 16 lines/);
    expect(predictionsWithoutTime(merged)).toEqual(predictionsWithoutTime(whole));
    const scores = (dir: string) => readScoresArrow(readFileSync(path.join(dir, 'scores.arrow'))).records;
    expect(scores(merged)).toEqual(scores(whole));
    expect(readFileSync(path.join(merged, 'scores.md'), 'utf8')).toBe(readFileSync(path.join(whole, 'scores.md'), 'utf8'));
  });

  it('refuses to merge a shard set with a shard missing', async () => {
    const r = await pcomp(['merge', shards[0]!, '--out', path.join(root, 'half')], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('merge: shard 1/2 not given (2 shards expected)');
  });
});

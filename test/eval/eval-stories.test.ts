// `pcomp eval` on a real pretrained model (stories260K from ../shared) with synthetic LongBench
// records that the loopback hub serves as LongBench's data.zip: the data is pulled into the cache
// before the first sample, and the run ends with predictions, scores and every table file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { registry } from '../../datasets/registry.js';
import { scoreTask } from '../../datasets/score.js';
import { readScoresArrow } from '../../results/tables.js';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub.js';
import { cliEnv, hasStories, longBenchZip, pcomp, readJson, readPredictions, SKIP_STORIES, stories260K, tempRoot, type CliRun, removeTempRoots } from './helpers.js';

afterAll(removeTempRoots);

describe('pcomp eval on stories260K with data from the loopback hub', () => {
  if (!hasStories) {
    it.skip(SKIP_STORIES, () => {});
    console.warn(SKIP_STORIES);
    return;
  }
  const root = tempRoot();
  const out = path.join(root, 'run');
  const cache = path.join(root, 'cache');
  const tasks = { trec: 3, passage_retrieval_en: 2 };
  let hub: FakeHub;
  let run: CliRun;
  const args = ['eval', 'longbench', '--model', stories260K, '--config', 'full,parallelcomp', '--tasks', 'trec,passage_retrieval_en',
    '--out', out, '--set', 'chunk.budget=160', '--max-new-tokens', '24'];

  beforeAll(async () => {
    const lb = registry().get('trec').hub;
    hub = await startFakeHub([{ type: 'dataset', name: lb.repo, commit: lb.revision, files: { [lb.archive!]: longBenchZip(tasks, { contextWords: 150 }) } }]);
    run = await pcomp(args, cliEnv(cache, { HF_ENDPOINT: hub.url }));
  });
  afterAll(async () => {
    await hub?.close();
  });

  it('pulls the task files, then predicts, scores and writes scores.csv, scores.arrow and scores.md', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(hub.requests.some((r) => r.path.endsWith('/data.zip'))).toBe(true);
    expect(run.stdout).toContain('downloading 2 task files (trec, passage_retrieval_en)');
    for (const config of ['full', 'parallelcomp'])
      for (const [task, n] of Object.entries(tasks)) {
        const lines = readPredictions(out, config, task);
        expect(lines).toHaveLength(n);
        // A pretrained model writes words, not noise.
        for (const l of lines) expect(l.pred).toMatch(/[a-z]{2,}/i);
        if (config === 'parallelcomp') expect(lines.every((l) => l.chunks > 1 && l.kept_chunks!.length === Math.min(l.chunks, task === 'trec' ? 3 : 1))).toBe(true);
      }
    for (const f of ['scores.csv', 'scores.arrow', 'scores.md', 'manifest.json']) expect(existsSync(path.join(out, f)), f).toBe(true);
    const { records } = readScoresArrow(readFileSync(path.join(out, 'scores.arrow')));
    expect(records.find((r) => r.config === 'full' && r.task === 'trec')!.score).toBe(scoreTask('trec', readPredictions(out, 'full', 'trec')).score);
    const md = readFileSync(path.join(out, 'scores.md'), 'utf8');
    expect(md).toMatch(/\| config \|.*TREC.*PRe/);
    const m = readJson(path.join(out, 'manifest.json')) as Record<string, any>;
    expect(m.model.id).toBe(stories260K);
    expect(m.model.weights['model.safetensors']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('runs again offline from the cache, resuming with nothing left to do', async () => {
    const again = await pcomp([...args, '--offline'], cliEnv(cache));
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('(10 already done, resuming)');
  });
});

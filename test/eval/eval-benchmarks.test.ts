// The other two benchmarks end to end on the seeded random model: LongBench-E (tables by length
// bucket) and InfiniteBench (labels as its preds files store them, its abbreviations in the table).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { scoreTask } from '../../datasets/score.js';
import { readScoresArrow } from '../../results/tables.js';
import { startFakeHub } from '../helpers/fake-hub.js';
import { cliEnv, pcomp, readJson, readPredictions, synthJsonl, tempRoot, writeDataDir, writeModel, removeTempRoots } from './helpers.js';

afterAll(removeTempRoots);

describe('pcomp eval longbench-e and infinitebench', () => {
  const root = tempRoot();
  const model = path.join(root, 'model');
  const env = cliEnv(path.join(root, 'cache'));
  const common = ['--model', model, '--config', 'full', '--max-new-tokens', '4', '--threads', '1'];

  beforeAll(() => {
    writeModel(model);
  });

  it('LongBench-E: scores each length bucket and writes the bucket table', async () => {
    const dataDir = path.join(root, 'lbe');
    mkdirSync(dataDir);
    // LongBench-E's length field decides the bucket: two records per bucket 0-4k, 4-8k, 8k+.
    const lengths = [1000, 3000, 5000, 7000, 9000, 12000];
    const records = synthJsonl('trec', lengths.length).trim().split('\n').map((l, i) => ({ ...JSON.parse(l), length: lengths[i] }));
    writeFileSync(path.join(dataDir, 'trec_e.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = path.join(root, 'lbe-run');
    const r = await pcomp(['eval', 'longbench-e', ...common, '--tasks', 'trec_e', '--data-dir', dataDir, '--out', out], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = readPredictions(out, 'full', 'trec_e');
    expect(lines.map((l) => l.length)).toEqual(lengths);
    const official = scoreTask('trec_e', lines, { e: true });
    const { records: scores } = readScoresArrow(readFileSync(path.join(out, 'scores.arrow')));
    for (const bucket of ['0-4k', '4-8k', '8k+'] as const)
      expect(scores.find((s) => s.task === 'trec_e' && s.bucket === bucket)).toMatchObject({ score: official.buckets![bucket], samples: 2 });
    expect(readFileSync(path.join(out, 'scores.md'), 'utf8')).toMatch(/0-4k[\s\S]*4-8k[\s\S]*8k\+/);
  });

  it('InfiniteBench: stores the official label (with the option letter for choice tasks) and scores with its metric', async () => {
    const dataDir = path.join(root, 'ib');
    mkdirSync(dataDir);
    const noise = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ';
    const passkey = [11111, 22222].map((key, id) => ({ id, context: `${noise.repeat(3)}The pass key is ${key}. Remember it. ${noise.repeat(3)}`, input: 'What is the pass key?', answer: [String(key)], options: [] }));
    const options = ['a red door', 'a blue door', 'a green door', 'a yellow door'];
    const choice = [{ id: 0, context: noise.repeat(4), input: 'Which door was open?', answer: ['a green door'], options }];
    writeFileSync(path.join(dataDir, 'passkey.jsonl'), passkey.map((r) => JSON.stringify(r)).join('\n') + '\n');
    writeFileSync(path.join(dataDir, 'longbook_choice_eng.jsonl'), choice.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = path.join(root, 'ib-run');
    const r = await pcomp(['eval', 'infinitebench', ...common, '--tasks', 'passkey,longbook_choice_eng', '--data-dir', dataDir, '--out', out], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const pk = readPredictions(out, 'full', 'passkey');
    expect(pk.map((l) => [l._id, l.answers])).toEqual([['0', ['11111']], ['1', ['22222']]]);
    expect(readPredictions(out, 'full', 'longbook_choice_eng')[0]!.answers).toEqual(['a green door', 'C']);
    const { records: scores } = readScoresArrow(readFileSync(path.join(out, 'scores.arrow')));
    expect(scores.find((s) => s.task === 'passkey')!.score).toBe(scoreTask('passkey', pk).score);
    expect(readFileSync(path.join(out, 'scores.md'), 'utf8')).toMatch(/R\.PK[\s\S]*En\.MC/);
  });

  it('takes a Hub model id: records its revision and weight hashes, and names the default run directory after it', async () => {
    const commit = 'c0ffee'.padEnd(40, '0');
    const files = Object.fromEntries(readdirSync(model).map((f) => [f, readFileSync(path.join(model, f))]));
    const hub = await startFakeHub([{ type: 'model', name: 'pcomp-test/tiny-llama', commit, files }]);
    try {
      const work = path.join(root, 'hub-cwd');
      writeDataDir(path.join(work, 'data'), { trec: 2 });
      const r = await pcomp(['eval', 'longbench', ...common.map((a) => (a === model ? 'pcomp-test/tiny-llama' : a)), '--tasks', 'trec', '--data-dir', 'data'],
        cliEnv(path.join(root, 'hub-cache'), { HF_ENDPOINT: hub.url }), work);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = path.join(work, 'runs', 'longbench', 'tiny-llama');
      expect(readPredictions(out, 'full', 'trec')).toHaveLength(2);
      const sha = createHash('sha256').update(files['model.safetensors']!).digest('hex');
      expect((readJson(path.join(out, 'manifest.json')) as { model: unknown }).model).toEqual({ id: 'pcomp-test/tiny-llama', revision: commit, weights: { 'model.safetensors': sha } });
    } finally {
      await hub.close();
    }
  });
});

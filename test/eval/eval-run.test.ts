// `pcomp eval` end to end on a seeded random model and synthetic LongBench records (--data-dir):
// every config × task × sample lands once with the official fields, the prediction is what the
// engine gives for that sample, the tables agree with the official scorer, the manifest records
// where the run came from, and a directory started differently refuses to continue.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EngineModel } from '../../engine/index.js';
import { resolveConfig } from '../../engine/policy-config.js';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import { registry } from '../../datasets/registry.js';
import type { AnyRecord } from '../../datasets/records.js';
import { scoreTask } from '../../datasets/score.js';
import { readScoresArrow } from '../../results/tables.js';
import { buildSample } from '../../cli/runners/sample.js';
import { cliEnv, pcomp, readJson, readPredictions, synthJsonl, tempRoot, writeDataDir, writeModel, type CliRun, removeTempRoots } from './helpers.js';

const TASKS = { trec: 3, passage_retrieval_en: 2, lcc: 2 } as const;
const CONFIGS = ['full', 'parallelcomp'];

afterAll(removeTempRoots);

describe('pcomp eval on a seeded random model', () => {
  const root = tempRoot();
  const dataDir = path.join(root, 'data');
  const model = path.join(root, 'model');
  const out = path.join(root, 'run');
  const env = cliEnv(path.join(root, 'cache'));
  const args = ['eval', 'longbench', '--model', model, '--config', CONFIGS.join(','), '--tasks', Object.keys(TASKS).join(','),
    '--data-dir', dataDir, '--out', out, '--set', 'chunk.budget=200', '--max-new-tokens', '8', '--threads', '1'];
  let first: CliRun;

  beforeAll(async () => {
    writeDataDir(dataDir, TASKS, { contextWords: 120 });
    writeModel(model);
    first = await pcomp(args, env);
  });

  it('writes one line per config × task × sample with the official fields and what was measured', () => {
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    for (const config of CONFIGS)
      for (const [task, n] of Object.entries(TASKS)) {
        const records = synthJsonl(task as keyof typeof TASKS, n, { contextWords: 120 }).trim().split('\n').map((l) => JSON.parse(l));
        const lines = readPredictions(out, config, task);
        expect(lines.map((l) => l._id)).toEqual(records.map((r) => r._id));
        lines.forEach((l, i) => {
          expect(l).toMatchObject({ index: i, answers: records[i].answers, all_classes: records[i].all_classes, length: records[i].length });
          expect(typeof l.pred).toBe('string');
          expect(l.generated_tokens).toBeGreaterThan(0);
          expect(l.generated_tokens).toBeLessThanOrEqual(8);
          expect(l.prompt_tokens).toBeGreaterThan(200);
          expect(l.time_s).toBeGreaterThanOrEqual(0);
          if (config === 'full') expect(l.chunks).toBe(1);
          else {
            // 120-word contexts in 200-token chunks: several chunks, of which the 3 (retrieval: 1) with the lowest question NLL stay.
            expect(l.chunks).toBeGreaterThan(1);
            expect(l.kept_chunks).toHaveLength(Math.min(l.chunks, task === 'passage_retrieval_en' ? 1 : 3));
            expect(l.kept_chunks!.every((c) => c >= 0 && c < l.chunks)).toBe(true);
          }
        });
      }
    expect(first.stdout).toMatch(/\[parallelcomp\/trec\] done: 3\/3 samples, score \d+\.\d\d/);
    expect(first.stdout).toContain('| config |');
  });

  it('predicts what the engine gives for the sample and config (retrieval tasks keep one chunk)', async () => {
    const tok = await loadTokenizer(model);
    const engine = await EngineModel.load(model, { threads: 1 });
    try {
      for (const task of ['passage_retrieval_en', 'trec']) {
        const record = JSON.parse(synthJsonl(task as keyof typeof TASKS, 1, { contextWords: 120 }).split('\n')[0]!) as AnyRecord;
        const config = resolveConfig('parallelcomp', ['chunk.budget=200']);
        const sample = buildSample({ task: registry().get(task), record, tok, config, window: engine.info.max_position_embeddings, maxNew: 8 });
        const r = await engine.run(sample, { ...config, retrieval: task === 'passage_retrieval_en' });
        const line = readPredictions(out, 'parallelcomp', task)[0]!;
        expect(line.pred).toBe(tok.decode(r.tokens, { skipSpecialTokens: true }));
        expect(line.kept_chunks).toEqual(r.trace.keptChunks);
      }
    } finally {
      engine.free();
    }
  });

  it('scores every config × task as the official scorer does, into scores.csv, scores.arrow and scores.md', () => {
    const { records } = readScoresArrow(readFileSync(path.join(out, 'scores.arrow')));
    expect(records).toHaveLength(CONFIGS.length * Object.keys(TASKS).length);
    for (const config of CONFIGS)
      for (const task of Object.keys(TASKS)) {
        const expected = scoreTask(task, readPredictions(out, config, task)).score;
        expect(records.find((r) => r.config === config && r.task === task)).toMatchObject({ score: expected, samples: TASKS[task as keyof typeof TASKS] });
      }
    const csv = readFileSync(path.join(out, 'scores.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('run,config,task,category,bucket,score,samples');
    expect(csv).toHaveLength(1 + records.length);
    const md = readFileSync(path.join(out, 'scores.md'), 'utf8');
    expect(md).toMatch(/\| full \|/);
    expect(md).toMatch(/\| parallelcomp \|/);
    expect(first.stdout).toContain(md.trim().split('\n')[0]!);
  });

  it('records the model, configs, engine, commit, device, threads, times, throughput and memory', () => {
    const m = readJson(path.join(out, 'manifest.json')) as Record<string, any>;
    const sha = createHash('sha256').update(readFileSync(path.join(model, 'model.safetensors'))).digest('hex');
    expect(m.kind).toBe('eval');
    expect(m.model).toEqual({ id: model, weights: { 'model.safetensors': sha } });
    expect(m.configs.parallelcomp).toMatchObject({ preset: 'parallelcomp', 'chunk.enabled': true, 'chunk.budget': 200 });
    expect(m.settings).toEqual({ benchmark: 'longbench', maxNewTokens: 8 });
    expect(m.engine.version).toMatch(/\d/);
    expect(m.git.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(m.device).toBe('cpu');
    expect(m.threads).toBe(1);
    expect(Date.parse(m.endedAt)).toBeGreaterThanOrEqual(Date.parse(m.startedAt));
    expect(m.tokensPerSec).toBeGreaterThan(0);
    expect(m.peakMemoryBytes).toBeGreaterThan(1e6);
    expect(m.sessions).toHaveLength(1);
    expect(m.sessions[0]).toMatchObject({ samples: 14 });
  });

  it('continues a finished run without redoing a sample, and prints JSON events with --json', async () => {
    const before = readPredictions(out, 'parallelcomp', 'trec');
    const again = await pcomp([...args, '--json'], env);
    expect(again.code).toBe(0);
    const events = again.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ type: 'start', outDir: out });
    expect(events[0].plan.every((p: { done: number; total: number }) => p.done === p.total)).toBe(true);
    expect(events.filter((e) => e.type === 'sample')).toHaveLength(0);
    expect(events.at(-1)).toMatchObject({ type: 'end', ok: true, samples: 0 });
    expect(readPredictions(out, 'parallelcomp', 'trec')).toEqual(before);
    const m = readJson(path.join(out, 'manifest.json')) as { sessions: Array<{ samples: number }>; samples: number; tokensPerSec: number };
    expect(m.sessions.map((s) => s.samples)).toEqual([14, 0]);
    // The top level counts the whole run, whichever invocation wrote each line.
    expect(m.samples).toBe(14);
    expect(m.tokensPerSec).toBeGreaterThan(0);
  });

  it('refuses to continue a directory started with another config, model or sample set, saying what differs', async () => {
    const withArgs = (replace: Record<string, string>) => args.map((a, i) => (i > 0 && args[i - 1]! in replace ? replace[args[i - 1]!]! : a));
    const budget = await pcomp(withArgs({ '--set': 'chunk.budget=300' }), env);
    expect(budget.code).toBe(2);
    expect(budget.stderr).toContain('cannot continue this run, configs.full["chunk.budget"] differs: the directory has 200, this command has 300');
    expect(budget.stderr).toContain('hint: use another --out directory');
    const other = writeModel(path.join(root, 'other-model'), { seed: 99 });
    const model2 = await pcomp(withArgs({ '--model': other }), env);
    expect(model2.code).toBe(2);
    expect(model2.stderr).toMatch(/cannot continue this run, model\.id differs/);
    const limited = await pcomp([...args, '--limit', '2'], env);
    expect(limited.code).toBe(2);
    expect(limited.stderr).toMatch(/plans\/trec\.json: the samples of trec differ from the ones this run started with \(position 2: "trec-0002" vs \(absent\); 3 vs 2 samples\)/);
    expect(readPredictions(out, 'full', 'trec')).toHaveLength(3);
  });

  it('refuses a sample it cannot build before any work, naming the file line, task and config', async () => {
    const small = path.join(root, 'small-budget');
    const r = await pcomp(['eval', 'longbench', '--model', model, '--config', 'parallelcomp', '--tasks', 'trec', '--data-dir', dataDir,
      '--out', small, '--set', 'chunk.budget=20', '--max-new-tokens', '8'], env);
    expect(r.code).toBe(2);
    // Found by the pre-check for every record, before the engine loads: no run directory is made.
    expect(r.stderr).toMatch(/\d+ prompts? cannot fit, nothing was run:\n {2}\S*trec\.jsonl:1 \(trec, config parallelcomp\): chunk budget 20 leaves no room for context after the \d+-token template \[and 2 more records of this task and config\]/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    expect(existsSync(small)).toBe(false);
  });
});

// `pcomp eval --model-name/--lengths` end to end on a seeded random model with a 4096-token window and
// ~3.7K-token trec contexts: under the paper's lengths a llama2 name gets ParallelComp's 3600-token chunks
// (two chunks where the window-derived budget needs one) and FullKV's model2maxlen truncation to 3500; the
// run says which source each config uses, the manifest records the choice, and a directory started with
// one choice refuses the other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { EngineModel } from '../../engine/index.js';
import { resolveConfig } from '../../engine/policy-config.js';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import { registry } from '../../datasets/registry.js';
import type { AnyRecord } from '../../datasets/records.js';
import { buildSample } from '../../cli/runners/sample.js';
import { cliEnv, pcomp, readJson, readPredictions, removeTempRoots, synthJsonl, tempRoot, writeDataDir, writeModel, type CliRun } from './helpers.js';

const WORDS = 800; // ≈3.7K tokens with the oracle tokenizer: above 3600, below 4096 − question − answer
const N = 2;
const NAME = 'llama2-7b-chat-4k';

afterAll(removeTempRoots);

describe('pcomp eval with the per-model length tables', () => {
  const root = tempRoot();
  const dataDir = path.join(root, 'data');
  const model = path.join(root, 'model');
  const env = cliEnv(path.join(root, 'cache'));
  const base = ['eval', 'longbench', '--model', model, '--config', 'full,parallelcomp', '--tasks', 'trec', '--data-dir', dataDir,
    '--max-new-tokens', '8', '--threads', '1'];
  const paperOut = path.join(root, 'paper');
  const windowOut = path.join(root, 'window');
  const paperArgs = [...base, '--out', paperOut, '--model-name', NAME];
  let paper: CliRun;
  let window: CliRun;

  beforeAll(async () => {
    writeDataDir(dataDir, { trec: N }, { contextWords: WORDS });
    writeModel(model, { maxPositionEmbeddings: 4096 });
    paper = await pcomp(paperArgs, env);
    window = await pcomp([...base, '--out', windowOut, '--model-name', NAME, '--lengths', 'window'], env);
  }, 120_000);

  it('cuts llama2-named prompts into ParallelComp\'s 3600-token chunks, and into window-sized ones with --lengths window', async () => {
    expect(paper.stderr).toBe('');
    expect(paper.code).toBe(0);
    expect(window.code).toBe(0);
    const tok = await loadTokenizer(model);
    const task = registry().get('trec');
    const config = resolveConfig('parallelcomp', []);
    const records = synthJsonl('trec', N, { contextWords: WORDS }).trim().split('\n').map((l) => JSON.parse(l) as AnyRecord);
    const paperLines = readPredictions(paperOut, 'parallelcomp', 'trec');
    const windowLines = readPredictions(windowOut, 'parallelcomp', 'trec');
    expect(paperLines).toHaveLength(N);
    expect(windowLines).toHaveLength(N);
    records.forEach((record, i) => {
      const byWindow = buildSample({ task, record, tok, config, window: 4096, maxNew: 8 });
      const byTable = buildSample({ task, record, tok, config, window: 4096, maxNew: 8, lengths: { chunkBudget: 3600, rawMaxLength: 3950 } });
      // The context is the size that tells the two apart: one window-sized chunk, two of at most 3600.
      expect(byWindow.chunks).toHaveLength(1);
      expect(byTable.chunks).toHaveLength(2);
      expect(Math.max(...byTable.chunks.map((c) => c.length))).toBeLessThanOrEqual(3600);
      expect(windowLines[i]!.chunks).toBe(1);
      expect(paperLines[i]!.chunks).toBe(2);
      expect(paperLines[i]!.prompt_tokens).toBe(byTable.chunks.reduce((n, c) => n + c.length, 0) + byTable.question.length);
    });
  });

  it('says which source each config uses', () => {
    expect(paper.stdout).toContain('parallelcomp: chunk budget 3600, window 3950 (ParallelComp "llama2")\n');
    expect(paper.stdout).toContain('full: middle-truncate to 3500 (LongBench model2maxlen["llama2-7b-chat-4k"])\n');
    expect(window.stdout).toContain('parallelcomp: chunk budget = trained window 4096 − question − answer (--lengths window)\n');
    expect(window.stdout).toContain('full: middle-truncate to trained window 4096 − answer (--lengths window)\n');
  });

  it('runs FullKV on the prompt truncated to model2maxlen, as the engine does with full.maxTokens=3500', async () => {
    const tok = await loadTokenizer(model);
    const engine = await EngineModel.load(model, { threads: 1 });
    try {
      const record = JSON.parse(synthJsonl('trec', 1, { contextWords: WORDS }).split('\n')[0]!) as AnyRecord;
      const config = resolveConfig('full', []);
      const sample = buildSample({ task: registry().get('trec'), record, tok, config, window: 4096, maxNew: 8 });
      const truncated = await engine.run(sample, { ...config, 'full.maxTokens': 3500, retrieval: false });
      // Truncated from a prompt longer than model2maxlen that the trained window (4096 − 8) would have kept whole.
      const trace = truncated.trace as { promptLength: number; truncatedFrom: number };
      expect(trace.promptLength).toBe(3500);
      expect(trace.truncatedFrom).toBeGreaterThan(3500);
      expect(trace.truncatedFrom).toBeLessThanOrEqual(4096 - 8);
      expect(readPredictions(paperOut, 'full', 'trec')[0]!.pred).toBe(tok.decode(truncated.tokens, { skipSpecialTokens: true }));
      // The whole prompt predicts something else on this seed, so the line above tells the two apart.
      const whole = await engine.run(sample, { ...config, retrieval: false });
      expect(tok.decode(whole.tokens, { skipSpecialTokens: true })).not.toBe(tok.decode(truncated.tokens, { skipSpecialTokens: true }));
    } finally {
      engine.free();
    }
  }, 60_000);

  it('records the choice in the manifest and refuses to continue a directory with another one', async () => {
    const settings = (dir: string) => (readJson(path.join(dir, 'manifest.json')) as { settings: Record<string, unknown> }).settings;
    expect(settings(paperOut)).toEqual({ benchmark: 'longbench', maxNewTokens: 8, lengths: 'paper', lengthsModel: NAME });
    // A run sized wholly from the trained window records nothing, as runs made before --lengths existed.
    expect(settings(windowOut)).toEqual({ benchmark: 'longbench', maxNewTokens: 8 });
    const switched = await pcomp([...paperArgs, '--lengths', 'window'], env);
    expect(switched.code).toBe(2);
    expect(switched.stderr).toContain('cannot continue this run, settings.lengths differs: the directory has "paper", this command has (absent)');
    const renamed = await pcomp(paperArgs.map((a) => (a === NAME ? 'mistral-7b-instruct' : a)), env);
    expect(renamed.code).toBe(2);
    expect(renamed.stderr).toContain('settings.lengthsModel differs: the directory has "llama2-7b-chat-4k", this command has "mistral-7b-instruct"');
    expect(readPredictions(paperOut, 'parallelcomp', 'trec')).toHaveLength(N);
  }, 60_000);

  it('warns and keeps the trained window when the table\'s window exceeds the model\'s; such a run continues under --lengths window', async () => {
    const small = writeModel(path.join(root, 'small-model'), { maxPositionEmbeddings: 1024 });
    const shortData = writeDataDir(path.join(root, 'short'), { trec: 1 }, { contextWords: 60 });
    const smallOut = path.join(root, 'small-run');
    const args = ['eval', 'longbench', '--model', small, '--config', 'parallelcomp', '--tasks', 'trec', '--data-dir', shortData,
      '--out', smallOut, '--model-name', NAME, '--max-new-tokens', '4', '--threads', '1'];
    const r = await pcomp(args, env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warn: parallelcomp: chunk budget = trained window 1024 − question − answer; ParallelComp "llama2" window 3950 exceeds the model\'s max_position_embeddings 1024, not used\n');
    expect((readJson(path.join(smallOut, 'manifest.json')) as { settings: unknown }).settings).toEqual({ benchmark: 'longbench', maxNewTokens: 4 });
    const again = await pcomp([...args, '--lengths', 'window'], env);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/done in .*: 0 samples/);
  }, 60_000);
});

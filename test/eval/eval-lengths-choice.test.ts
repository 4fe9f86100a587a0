// The lengths `pcomp eval` sizes each (config, task) with: the reference's per-model tables under
// --lengths paper (ParallelComp's chunk budget and window with the per-dataset caps; LongBench's
// model2maxlen for unchunked configs), the trained window otherwise, explicit knobs always first —
// and buildSample cutting chunks and question with what was chosen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { resolveConfig } from '../../engine/policy-config.js';
import { registry } from '../../datasets/registry.js';
import type { AnyRecord } from '../../datasets/records.js';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import type { Tok } from '../../datasets/tokenizer.js';
import { chooseLengths, describeLengths, lengthsSettings, type EvalLengths, type LengthsMode } from '../../cli/runners/eval-lengths.js';
import { buildSample } from '../../cli/runners/sample.js';
import { removeTempRoots, synthJsonl, tempRoot, writeModel } from './helpers.js';

const lengths = registry().lengths;
const choose = (preset: string, task: string, modelName: string, window: number, opts: { sets?: string[]; mode?: LengthsMode } = {}) =>
  chooseLengths({ mode: opts.mode ?? 'paper', config: resolveConfig(preset, opts.sets ?? []), task: registry().get(task), modelName, window, lengths });

describe('chooseLengths: chunked configs', () => {
  it('gives a llama2-named model the reference chunk budget 3600 in a 3950 window', () => {
    const c = choose('parallelcomp', 'trec', 'llama2-7b-chat-4k', 4096);
    expect(c).toMatchObject({ chunkBudget: 3600, rawMaxLength: 3950, warn: false });
    expect(c.note).toBe('chunk budget 3600, window 3950 (ParallelComp "llama2")');
    expect(c.fullMaxTokens).toBeUndefined();
    // Hub-style names match too (substring of the lower-cased name).
    expect(choose('pcw', 'qasper', 'Llama-2-7b-chat-hf', 4096)).toMatchObject({ chunkBudget: 3600, rawMaxLength: 3950 });
  });

  it('applies the per-dataset caps: meta-llama-3-8b-instruct gets 2500 on triviaqa and 2800 on samsum', () => {
    expect(choose('parallelcomp', 'triviaqa', 'meta-llama-3-8b-instruct', 8192)).toMatchObject({ chunkBudget: 2500, rawMaxLength: 7950 });
    expect(choose('parallelcomp', 'samsum', 'meta-llama-3-8b-instruct', 8192)).toMatchObject({ chunkBudget: 2800, rawMaxLength: 7950 });
    expect(choose('parallelcomp', 'trec', 'meta-llama-3-8b-instruct', 8192)).toMatchObject({ chunkBudget: 7600, rawMaxLength: 7950 });
    // LongBench-E's variant shares its base task's cap; a "llama3"-named model is in the 6200 branch.
    expect(choose('parallelcomp', 'triviaqa_e', 'meta-llama-3-8b-instruct', 8192).chunkBudget).toBe(2500);
    expect(choose('parallelcomp', 'triviaqa', 'llama3-8b', 8192).chunkBudget).toBe(6200);
    // Last match wins: Llama-3.1 resolves to 6000/7000, not Llama-3's 7600/7950.
    expect(choose('parallelcomp', 'trec', 'Llama-3.1-8B-Instruct', 131072)).toMatchObject({ chunkBudget: 6000, rawMaxLength: 7000 });
  });

  it('falls back to the trained window for a name no entry matches, without a warning', () => {
    const c = choose('parallelcomp', 'trec', 'stories260K', 512);
    expect(c.chunkBudget).toBeUndefined();
    expect(c.rawMaxLength).toBeUndefined();
    expect(c.warn).toBe(false);
    expect(c.note).toBe('chunk budget = trained window 512 − question − answer (no ParallelComp length entry matches "stories260K")');
  });

  it('rejects, with a warning, a table window above the model\'s max_position_embeddings', () => {
    const c = choose('parallelcomp', 'trec', 'llama2-7b-chat-4k', 2048);
    expect(c.chunkBudget).toBeUndefined();
    expect(c.warn).toBe(true);
    expect(c.note).toBe('chunk budget = trained window 2048 − question − answer; ParallelComp "llama2" window 3950 exceeds the model\'s max_position_embeddings 2048, not used');
    // The boundary: a window exactly the table's raw is accepted.
    expect(choose('parallelcomp', 'trec', 'llama2-7b-chat-4k', 3950).chunkBudget).toBe(3600);
  });

  it('lets an explicit chunk.budget win, and --lengths window ignore the table', () => {
    const own = choose('parallelcomp', 'trec', 'llama2-7b-chat-4k', 4096, { sets: ['chunk.budget=200'] });
    expect(own).toEqual({ note: 'chunk budget 200 (chunk.budget)', warn: false });
    const window = choose('parallelcomp', 'trec', 'llama2-7b-chat-4k', 4096, { mode: 'window' });
    expect(window).toEqual({ note: 'chunk budget = trained window 4096 − question − answer (--lengths window)', warn: false });
  });
});

describe('chooseLengths: unchunked configs', () => {
  it('middle-truncates LongBench prompts to model2maxlen when the table knows the exact name', () => {
    const c = choose('full', 'trec', 'llama2-7b-chat-4k', 4096);
    expect(c).toEqual({ fullMaxTokens: 3500, note: 'middle-truncate to 3500 (LongBench model2maxlen["llama2-7b-chat-4k"])', warn: false });
    expect(choose('snapkv', 'trec_e', 'llama2-7b-chat-4k', 4096).fullMaxTokens).toBe(3500);
    // model2maxlen is keyed by exact name (pred.py), unlike ParallelComp's substring match.
    expect(choose('full', 'trec', 'Llama-2-7b-chat-hf', 4096).fullMaxTokens).toBeUndefined();
  });

  it('keeps the trained window on InfiniteBench, for unknown names and for streaming', () => {
    expect(choose('full', 'passkey', 'llama2-7b-chat-4k', 4096)).toEqual({
      note: "middle-truncate to trained window 4096 − answer (LongBench's model2maxlen applies to LongBench tasks only)", warn: false });
    expect(choose('full', 'trec', 'stories260K', 512)).toEqual({
      note: 'middle-truncate to trained window 512 − answer (no LongBench model2maxlen entry "stories260K")', warn: false });
    expect(choose('streaming', 'trec', 'llama2-7b-chat-4k', 4096).fullMaxTokens).toBeUndefined();
  });

  it('rejects, with a warning, a model2maxlen above the model window', () => {
    const c = choose('full', 'trec', 'longchat-v1.5-7b-32k', 4096);
    expect(c.fullMaxTokens).toBeUndefined();
    expect(c.warn).toBe(true);
    expect(c.note).toContain('LongBench model2maxlen["longchat-v1.5-7b-32k"] = 31500 exceeds the model\'s max_position_embeddings 4096, not used');
  });

  it('lets an explicit full.maxTokens win (a preset\'s or --set), and --lengths window ignore the table', () => {
    expect(choose('full', 'trec', 'llama2-7b-chat-4k', 4096, { sets: ['full.maxTokens=1000'] })).toEqual({ note: 'middle-truncate to 1000 (full.maxTokens)', warn: false });
    expect(choose('ntk', 'trec', 'llama2-7b-chat-4k', 4096).fullMaxTokens).toBeUndefined();
    expect(choose('full', 'trec', 'llama2-7b-chat-4k', 4096, { mode: 'window' }).fullMaxTokens).toBeUndefined();
  });
});

describe('describeLengths', () => {
  it('says once per config which source it uses, naming tasks only where a config\'s tasks differ', () => {
    const byConfig = new Map<string, Map<string, EvalLengths>>();
    for (const preset of ['parallelcomp', 'full'])
      byConfig.set(preset, new Map(['trec', 'triviaqa', 'qasper'].map((t) => [t, choose(preset, t, 'llama2-7b-chat-4k', 4096)])));
    byConfig.set('pcw', new Map([['trec', choose('pcw', 'trec', 'llama2-7b-chat-4k', 2048)]]));
    expect(describeLengths(byConfig)).toEqual([
      { message: 'parallelcomp (trec, qasper): chunk budget 3600, window 3950 (ParallelComp "llama2")', warn: false },
      { message: 'parallelcomp (triviaqa): chunk budget 2500, window 3950 (ParallelComp "llama2", triviaqa cap 2500)', warn: false },
      { message: 'full: middle-truncate to 3500 (LongBench model2maxlen["llama2-7b-chat-4k"])', warn: false },
      { message: expect.stringMatching(/^pcw: chunk budget = trained window 2048 − question − answer; .* not used$/), warn: true },
    ]);
  });
});

describe('lengthsSettings', () => {
  const settings = (modelName: string, window: number, benchmark = 'longbench', mode: LengthsMode = 'paper') =>
    lengthsSettings({ mode, modelName, window, lengths, benchmark });

  it('records the name when a table sizes this model\'s prompts under --lengths paper', () => {
    expect(settings('llama2-7b-chat-4k', 4096)).toEqual({ lengths: 'paper', lengthsModel: 'llama2-7b-chat-4k' });
    expect(settings('Llama-2-7b-chat-hf', 4096, 'infinitebench')).toEqual({ lengths: 'paper', lengthsModel: 'Llama-2-7b-chat-hf' });
    // ParallelComp's window does not fit, LongBench's model2maxlen does.
    expect(settings('llama2-7b-chat-4k', 3600)).toEqual({ lengths: 'paper', lengthsModel: 'llama2-7b-chat-4k' });
  });

  it('records nothing when every prompt is sized from the trained window', () => {
    expect(settings('stories260K', 512)).toEqual({});
    expect(settings('llama2-7b-chat-4k', 3000)).toEqual({});
    expect(settings('llama2-7b-chat-4k', 3600, 'infinitebench')).toEqual({});
    expect(settings('llama2-7b-chat-4k', 4096, 'longbench', 'window')).toEqual({});
  });
});

describe('buildSample with table lengths', () => {
  let tok: Tok;
  const record = JSON.parse(synthJsonl('trec', 1, { seed: 3, contextWords: 120 }).split('\n')[0]!) as AnyRecord;
  const task = registry().get('trec');
  const config = resolveConfig('parallelcomp', []);

  beforeAll(async () => {
    tok = await loadTokenizer(writeModel(path.join(tempRoot(), 'model')));
  });
  afterAll(removeTempRoots);

  it('cuts chunks by the table budget instead of the window-derived one', () => {
    const byWindow = buildSample({ task, record, tok, config, window: 1024, maxNew: 8 });
    const byTable = buildSample({ task, record, tok, config, window: 1024, maxNew: 8, lengths: { chunkBudget: 200, rawMaxLength: 1000 } });
    expect(byWindow.chunks).toHaveLength(1);
    expect(byTable.chunks.length).toBeGreaterThan(1);
    expect(Math.max(...byTable.chunks.map((c) => c.length))).toBeLessThanOrEqual(200);
    expect(byTable.question).toEqual(byWindow.question);
  });

  it('cuts the question to fit the table window after the longest chunk', () => {
    const whole = buildSample({ task, record, tok, config, window: 1024, maxNew: 8, lengths: { chunkBudget: 200 } });
    const longest = Math.max(...whole.chunks.map((c) => c.length));
    const raw = longest + whole.question.length - 10;
    const cut = buildSample({ task, record, tok, config, window: 1024, maxNew: 8, lengths: { chunkBudget: 200, rawMaxLength: raw } });
    expect(cut.chunks).toEqual(whole.chunks);
    expect(cut.question.length).toBeLessThanOrEqual(raw - longest);
    expect(cut.question.length).toBeGreaterThanOrEqual(raw - longest - 1);
    // Middle truncation: head and tail of the question survive.
    expect(cut.question.slice(0, 4)).toEqual(whole.question.slice(0, 4));
    expect(cut.question.slice(-4)).toEqual(whole.question.slice(-4));
  });

  it('keeps a config\'s own chunk.budget over the table, and the table window with it', () => {
    const own = resolveConfig('parallelcomp', ['chunk.budget=300']);
    const tiny = 5; // a window this small would refuse the question if it were applied
    const s = buildSample({ task, record, tok, config: own, window: 1024, maxNew: 8, lengths: { chunkBudget: 100, rawMaxLength: tiny } });
    expect(s).toEqual(buildSample({ task, record, tok, config: own, window: 1024, maxNew: 8 }));
  });
});

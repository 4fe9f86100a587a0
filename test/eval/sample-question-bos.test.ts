// The question handed to the engine carries a BOS only where a config asks for it: chunked configs under
// global.questionBos (the reference code's tokenizer default), never unchunked ones (their prompt is one
// sequence; a BOS in its middle is not what the official scripts feed the model). Without this, the default
// ParallelComp config scored each chunk partly by the NLL of a BOS after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { resolveConfig } from '../../engine/policy-config.js';
import { registry } from '../../datasets/registry.js';
import type { AnyRecord } from '../../datasets/records.js';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import { buildChunkedPrompt } from '../../datasets/prompts.js';
import { buildSample } from '../../cli/runners/sample.js';
import { removeTempRoots, synthJsonl, tempRoot, writeModel } from './helpers.js';

describe('the question BOS in engine samples', () => {
  let tok: Tok;
  const record = JSON.parse(synthJsonl('trec', 1, { seed: 4, contextWords: 200 }).split('\n')[0]!) as AnyRecord;
  const task = registry().get('trec');

  beforeAll(async () => {
    tok = await loadTokenizer(writeModel(path.join(tempRoot(), 'model')));
  });
  afterAll(removeTempRoots);

  const sample = (preset: string, sets: string[] = []) =>
    buildSample({ task, record, tok, config: resolveConfig(preset, sets), window: 1024, maxNew: 8 });

  it('the tokenizer puts BOS before the question as encoded on its own (what the builder starts from)', () => {
    expect(tok.bosId).not.toBeNull();
    const p = buildChunkedPrompt(task, record, tok, { chunkBudget: 1 << 30 });
    expect(p.question[0]).toBe(tok.bosId);
  });

  it('chunked configs: no BOS by default, the tokenizer\'s BOS under global.questionBos', () => {
    const plain = sample('parallelcomp');
    const withBos = sample('parallelcomp', ['global.questionBos=true']);
    expect(plain.question[0]).not.toBe(tok.bosId);
    expect(withBos.question[0]).toBe(tok.bosId);
    expect(Array.from(withBos.question.subarray(1))).toEqual(Array.from(plain.question));
    expect(withBos.chunks).toEqual(plain.chunks);
    // Every chunk still starts with its own BOS: only the question's is the config's business.
    for (const c of plain.chunks) expect(c[0]).toBe(tok.bosId);
  });

  it('the reference preset keeps the question BOS (global.questionBos is part of it)', () => {
    expect(sample('parallelcomp-reference').question[0]).toBe(tok.bosId);
  });

  it('unchunked configs: one BOS, at the start of the prompt', () => {
    for (const preset of ['full', 'ntk', 'streaming', 'snapkv']) {
      const s = sample(preset);
      const prompt = [...s.chunks.flatMap((c) => Array.from(c)), ...Array.from(s.question)];
      expect(prompt[0], preset).toBe(tok.bosId);
      expect(prompt.filter((t) => t === tok.bosId).length, preset).toBe(1);
    }
  });
});

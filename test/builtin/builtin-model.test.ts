// The committed built-in model (models/tiny, trained by scripts/train-builtin): it resolves as builtin:tiny, its
// files are a valid HF Llama folder within the size limit, its tokenizer round-trips, and it answers passkey
// prompts inside its trained window — and, chunked as ParallelComp does, far outside it where plain
// full attention fails (the property the reproduction relies on).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveBuiltin } from '../../datasets/builtin.js';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import { registry } from '../../datasets/registry.js';
import { synthesize } from '../../datasets/synth/generate.js';
import type { InfiniteBenchRecord } from '../../datasets/records.js';
import { INFINITEBENCH_SCORERS, infiniteBenchLabel } from '../../datasets/metrics/infinitebench.js';
import { buildSample } from '../../cli/runners/sample.js';
import { resolveConfig, type PolicyConfig } from '../../engine/policy-config.js';
import { EngineModel } from '../../engine/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.join(repoRoot, 'models/tiny');

describe('resolveBuiltin', () => {
  it('maps builtin:tiny to models/tiny and leaves other specs alone', () => {
    expect(resolveBuiltin('builtin:tiny')).toBe(dir);
    expect(resolveBuiltin('org/name')).toBeNull();
    expect(resolveBuiltin('./models/tiny')).toBeNull();
  });
  it('names the known built-ins when the name is unknown', () => {
    expect(() => resolveBuiltin('builtin:huge')).toThrow(/unknown built-in model "huge".*builtin:tiny/);
  });
});

describe('models/tiny files', () => {
  it('is a Llama config trained at 512 positions with BOS 1 / EOS 2', () => {
    const cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(cfg.architectures).toEqual(['LlamaForCausalLM']);
    expect(cfg.max_position_embeddings).toBe(512);
    expect([cfg.bos_token_id, cfg.eos_token_id]).toEqual([1, 2]);
    expect(cfg.rms_norm_eps).toBeGreaterThan(0);
    expect(cfg.rope_theta).toBeGreaterThan(0);
    expect(cfg.hidden_size).toBe(cfg.num_attention_heads * cfg.head_dim);
  });
  it('weighs at most 8 MB in all', () => {
    const bytes = readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
  });
});

describe('models/tiny tokenizer', () => {
  let tok: Tok;
  beforeAll(async () => {
    tok = await loadTokenizer(dir);
  });
  it('round-trips text, digits, UUIDs and characters outside its alphabet (byte fallback)', () => {
    for (const s of ['Once upon a time, there was a little fox named Leo.', 'The pass key is 04217. Remember it.',
      'JSON data:\n{"3f2a9c1e-77b0-4d2e-9a41-0c5e8d7f6b13": "x"}', 'naïve café — 日本  two  spaces\ttab']) {
      const ids = tok.encode(s);
      expect(ids[0]).toBe(1);
      expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(s);
    }
  });
  it('tokenizes a key the same inside the needle, its repeat and the answer (digits merge in pairs only)', () => {
    const ids = Array.from(tok.encode('The pass key is 04217. Remember it. 04217 is the pass key.', { addSpecialTokens: false }));
    const answer = Array.from(tok.encode('04217', { addSpecialTokens: false })).slice(1); // drop the prepended "▁"
    const pieces = answer.map((id) => tok.decode([id]));
    expect(pieces.join('')).toBe('04217');
    expect(pieces.every((p) => /^[0-9]{1,2}$/.test(p))).toBe(true);
    const at = (from: number) => ids.findIndex((_, i) => i >= from && answer.every((a, j) => ids[i + j] === a));
    const first = at(0);
    expect(first).toBeGreaterThan(0);
    expect(at(first + 1)).toBeGreaterThan(first);
  });
  it('has its vocabulary size as config.json says', () => {
    const cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(tok.vocabSize).toBe(cfg.vocab_size);
    expect(tok.eosIds).toContain(2);
  });
});

describe('models/tiny on passkey (engine)', () => {
  let model: EngineModel;
  let tok: Tok;
  const task = registry().get('passkey');
  const full = resolveConfig('full');
  const extrapolate = resolveConfig('full', ['full.maxTokens=1000000']);
  const parallel = resolveConfig('parallelcomp');

  beforeAll(async () => {
    model = await EngineModel.load(dir, { threads: 1 });
    tok = await loadTokenizer(dir);
  });
  afterAll(() => model?.free());

  const promptTokens = (r: InfiniteBenchRecord) => {
    const s = buildSample({ task, record: r, tok, config: extrapolate, window: 512 });
    return s.chunks[0]!.length + s.question.length;
  };
  async function accuracy(length: number, config: PolicyConfig, n: number): Promise<{ hits: number; preds: string[] }> {
    const { records } = synthesize({ task: 'passkey', length, n, seed: 11, countTokens: promptTokens });
    let hits = 0;
    const preds: string[] = [];
    for (const record of records) {
      const sample = buildSample({ task, record, tok, config, window: model.info.max_position_embeddings });
      const out = await model.run(sample, { ...config, retrieval: true });
      const pred = tok.decode(out.tokens, { skipSpecialTokens: true });
      preds.push(pred);
      hits += INFINITEBENCH_SCORERS.passkey!(pred, infiniteBenchLabel('passkey', record), 'yarn-mistral');
    }
    return { hits, preds };
  }

  it('answers greedily inside its 512-token window', async () => {
    const { hits, preds } = await accuracy(480, full, 6);
    expect(hits, `predictions: ${JSON.stringify(preds)}`).toBe(6);
  });

  it('at 16x the window, full attention fails while the chunk holding the pass key, kept alone, answers', async () => {
    // The model's side of the property, apart from ParallelComp's chunk eviction (test/reproduce/builtin-claims
    // checks the whole pipeline): chunked inputs inside the window work, long positions do not.
    const plain = await accuracy(8192, extrapolate, 5);
    expect(plain.hits, `full-attention predictions: ${JSON.stringify(plain.preds)}`).toBeLessThanOrEqual(1);
    const { records } = synthesize({ task: 'passkey', length: 8192, n: 5, seed: 11, countTokens: promptTokens });
    let hits = 0;
    for (const record of records) {
      const sample = buildSample({ task, record, tok, config: parallel, window: model.info.max_position_embeddings });
      const key = record.answer[0] as string;
      const holder = sample.chunks.find((c) => tok.decode(c, { skipSpecialTokens: true }).includes(key));
      expect(holder, `no chunk holds the whole key ${key}`).toBeDefined();
      expect(sample.chunks.length).toBeGreaterThanOrEqual(16);
      const prompt = new Int32Array(holder!.length + sample.question.length);
      prompt.set(holder!);
      prompt.set(sample.question, holder!.length);
      expect(prompt.length).toBeLessThanOrEqual(512);
      const out = await model.generate(prompt, { maxNewTokens: sample.maxNewTokens });
      hits += INFINITEBENCH_SCORERS.passkey!(tok.decode(out.tokens, { skipSpecialTokens: true }), [key], 'yarn-mistral');
    }
    expect(hits).toBeGreaterThanOrEqual(4);
  });
});

import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesize, parseLength, NOISE, UNITS_PER_128K } from '../../datasets/synth/generate.js';
import { registry } from '../../datasets/registry.js';
import { buildPrompt } from '../../datasets/prompts.js';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import { writeByteTokenizer } from '../helpers/byte-tokenizer.js';
import type { InfiniteBenchRecord } from '../../datasets/records.js';

describe('synthetic InfiniteBench retrieval records', () => {
  let tok: Tok;
  beforeAll(async () => {
    tok = await loadTokenizer(await writeByteTokenizer(path.join(await mkdtemp(path.join(os.tmpdir(), 'pcomp-synth-')), 'tok')));
  });
  const count = (task: string) => (r: InfiniteBenchRecord) => buildPrompt(registry().get(task), r, tok, { maxLength: Number.MAX_SAFE_INTEGER }).ids.length;

  it('sizes passkey prompts to the token budget and spreads the needle from start to end', () => {
    const res = synthesize({ task: 'passkey', length: 4096, n: 5, seed: 3, countTokens: count('passkey') });
    expect(res.measured).toBeLessThanOrEqual(4096);
    expect(4096 - res.measured!).toBeLessThan(Buffer.byteLength(NOISE)); // within one noise line
    for (const r of res.records) {
      expect(count('passkey')(r)).toBe(res.measured);
      expect(r.answer[0]).toMatch(/^\d{5}$/);
      expect(r.context).toContain(`The pass key is ${r.answer[0]}. Remember it. ${r.answer[0]} is the pass key.\n`);
      expect(r.context.split(NOISE).length - 1).toBe(res.units);
      expect(r).toMatchObject({ input: 'What is the pass key?', options: [] });
    }
    expect(res.records[0]!.context.startsWith('The pass key is')).toBe(true);
    expect(res.records[4]!.context.endsWith(`${res.records[4]!.answer[0]} is the pass key.\n`)).toBe(true);
    expect(res.records.map((r) => r.id)).toEqual([0, 1, 2, 3, 4]);
  });

  it('builds 10-digit number strings with duplicated digits', () => {
    const res = synthesize({ task: 'number_string', length: 2048, n: 4, seed: 1 });
    expect(res.units).toBe(Math.floor((2048 * 5220) / 131072));
    for (const r of res.records) {
      expect(r.answer[0]).toMatch(/^\d{10}$/);
      expect(r.context).toContain(`The sequence of digits is ${r.answer[0]}.`);
      expect(r.input).toBe('What is the sequence of digits?');
    }
  });

  it('builds a JSON object of UUID pairs whose asked key maps to the answer', () => {
    const res = synthesize({ task: 'kv_retrieval', length: 8192, n: 3, seed: 9, countTokens: count('kv_retrieval') });
    expect(res.measured).toBeLessThanOrEqual(8192);
    for (const r of res.records) {
      expect(r.context.startsWith('JSON data:\n{')).toBe(true);
      const obj = JSON.parse(r.context.slice('JSON data:\n'.length)) as Record<string, string>;
      expect(Object.keys(obj)).toHaveLength(res.units);
      const key = /^Key: "([0-9a-f-]{36})"\nThe value associated with the specified key is: $/.exec(r.input)![1]!;
      expect(obj[key]).toBe(r.answer[0]);
      expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    const keys = res.records.map((r) => Object.keys(JSON.parse(r.context.slice(11)) as object).indexOf(/"(.+)"/.exec(r.input)![1]!));
    expect(keys).toEqual([0, Math.round((res.units - 1) / 2), res.units - 1]);
  });

  it('is reproducible from the seed and uses InfiniteBench sizing without a tokenizer', () => {
    const a = synthesize({ task: 'kv_retrieval', length: 2048, n: 2, seed: 5 });
    const b = synthesize({ task: 'kv_retrieval', length: 2048, n: 2, seed: 5 });
    const c = synthesize({ task: 'kv_retrieval', length: 2048, n: 2, seed: 6 });
    expect(a.records).toEqual(b.records);
    expect(a.records).not.toEqual(c.records);
    expect(synthesize({ task: 'passkey', length: 131072, n: 1, seed: 0 }).units).toBe(UNITS_PER_128K.passkey);
    expect(a.measured).toBeNull();
  });

  it('parses lengths like InfiniteBench counts them', () => {
    expect(parseLength('32k')).toBe(32768);
    expect(parseLength('1m')).toBe(1048576);
    expect(parseLength('5000')).toBe(5000);
    expect(() => parseLength('32 tokens')).toThrow(/--len/);
    expect(() => synthesize({ task: 'passkey', length: 10, n: 1, seed: 0, countTokens: count('passkey') })).toThrow(/shorter than an empty passkey prompt/);
  });
});

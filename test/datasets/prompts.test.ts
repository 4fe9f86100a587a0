import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { registry } from '../../datasets/registry.js';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import { readRecords, type LongBenchRecord, type InfiniteBenchRecord } from '../../datasets/records.js';
import { buildPrompt, buildChunkedPrompt, fillTemplate, stopIdsFor, templateFields } from '../../datasets/prompts.js';
import { writeByteTokenizer, BYTE_OFFSET } from '../helpers/byte-tokenizer.js';

const reg = registry();
const bytes = (s: string) => Array.from(Buffer.from(s, 'utf8'), (b) => b + BYTE_OFFSET);

/** Python str.format for {context}/{input}-style templates, written independently of prompts.ts. */
function pyFormat(template: string, fields: Record<string, string>): string {
  return template.split(/(\{[A-Za-z_]+\})/).map((piece) => {
    const m = /^\{([A-Za-z_]+)\}$/.exec(piece);
    return m ? fields[m[1]!]! : piece;
  }).join('');
}

const lb = (over: Partial<LongBenchRecord>): LongBenchRecord => ({
  input: 'Who?', context: 'Some context.', answers: ['x'], length: 2, dataset: '', language: 'en', all_classes: null, _id: 'id', ...over,
});
const ib = (over: Partial<InfiniteBenchRecord>): InfiniteBenchRecord => ({ id: 0, context: 'noise', input: 'What is the pass key?', answer: ['12345'], options: [], ...over });

describe('prompts with a byte-level tokenizer written by the test', () => {
  let tok: Tok;
  let chatTok: Tok;
  beforeAll(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pcomp-prompts-'));
    tok = await loadTokenizer(await writeByteTokenizer(path.join(dir, 'plain'), { eosIds: [2] }));
    chatTok = await loadTokenizer(await writeByteTokenizer(path.join(dir, 'chat'), {
      chatTemplate: "{{ bos_token }}{% for m in messages %}[INST]{{ m['content'] }}[/INST]{% endfor %}",
    }));
  });

  it('fills LongBench templates in one pass (braces inside the record stay literal)', () => {
    const task = reg.get('hotpotqa');
    const rec = lb({ context: 'Passage {input} and {context}', input: 'Q {context}?' });
    const p = buildPrompt(task, rec, tok, { maxLength: 100_000 });
    expect(p.text).toBe(pyFormat(task.template, { context: rec.context, input: rec.input }));
    expect(p.truncated).toBe(false);
    expect(Array.from(p.ids)).toEqual([1, ...bytes(p.text)]);
    expect(p.maxNew).toBe(32);
    expect(() => fillTemplate('{context} {nope}', { context: 'c' }, 'x')).toThrow(/x: placeholder \{nope\}/);
  });

  it('cuts the middle of the tokenized prompt like pred.py (BOS counts in the head half)', () => {
    const task = reg.get('multi_news');
    const rec = lb({ input: '', context: 'A'.repeat(50) + 'MIDDLE' + 'Z'.repeat(50) });
    const filled = pyFormat(task.template, { context: rec.context, input: '' });
    const p = buildPrompt(task, rec, tok, { maxLength: 40 });
    expect(p.truncated).toBe(true);
    expect(p.fullTokens).toBe(1 + Buffer.byteLength(filled));
    // head: ids[0:20] = BOS + 19 bytes; tail: the last 20 bytes.
    expect(p.text).toBe(filled.slice(0, 19) + filled.slice(-20));
    expect(p.ids.length).toBe(40);
    expect(p.text).not.toContain('MIDDLE');
  });

  it('wraps in the chat template after truncation, except for the skipped tasks, without a second BOS', () => {
    const qa = buildPrompt(reg.get('narrativeqa'), lb({}), chatTok, { maxLength: 100_000 });
    expect(qa.chatTemplated).toBe(true);
    expect(qa.text.startsWith('<s>[INST]You are given a story')).toBe(true);
    expect(qa.text.endsWith('Answer:[/INST]')).toBe(true);
    expect(qa.ids[0]).toBe(1);
    expect(qa.ids[1]).toBe(bytes('[')[0]);
    const trec = buildPrompt(reg.get('trec'), lb({}), chatTok, { maxLength: 100_000 });
    expect(trec.chatTemplated).toBe(false);
    expect(trec.text.startsWith('Please determine')).toBe(true);
    expect(buildPrompt(reg.get('narrativeqa'), lb({}), chatTok, { maxLength: 100_000, chat: 'never' }).chatTemplated).toBe(false);
  });

  it('stops samsum at the newline token as well as at eos', () => {
    expect(stopIdsFor(reg.get('samsum'), tok)).toEqual([2, '\n'.charCodeAt(0) + BYTE_OFFSET]);
    expect(stopIdsFor(reg.get('qasper'), tok)).toEqual([2]);
  });

  it('builds InfiniteBench prompts from the open-model templates, truncated to one decode of head+tail', () => {
    const task = reg.get('passkey');
    const rec = ib({ context: 'x'.repeat(200) });
    const full = buildPrompt(task, rec, tok, { maxLength: 131072 });
    expect(full.text).toBe(pyFormat(task.templates!.yarn_mistral!, { context: rec.context, input: rec.input }));
    expect(full.chatTemplated).toBe(false);
    expect(full.maxNew).toBe(6);
    const cut = buildPrompt(task, rec, tok, { maxLength: 64 });
    expect(cut.text).toBe(full.text.slice(0, 31) + full.text.slice(-32));
    const gpt4 = buildPrompt(task, rec, tok, { maxLength: 131072, family: 'gpt4' });
    expect(gpt4.text.endsWith('What is the pass key?')).toBe(true);
  });

  it('derives code_run, math_find and option fields as create_prompt does', () => {
    const run = templateFields(reg.get('code_run'), ib({ input: 'Please give me the exact value of func_12(-3) now' }));
    expect(run).toMatchObject({ func_call: 'func_12(-3)', func: 'func_12' });
    const find = templateFields(reg.get('math_find'), ib({ input: 'The largest number of the list is: ' }));
    expect(find.prefix).toBe('What is the largest number in the following list?');
    const choice = buildPrompt(reg.get('longbook_choice_eng'), ib({ input: 'Who?', options: ['a', 'b', 'c', 'd'] }), tok, { maxLength: 131072 });
    expect(choice.text).toContain('Question: Who?\nA. a\nB. b\nC. c\nD. d\n\nThe letter of the correct answer is');
    expect(() => buildPrompt(reg.get('longbook_choice_eng'), ib({ options: [] }), tok, { maxLength: 131072 })).toThrow(/\{OPTION_A\} has no value/);
  });

  it('splits into per-chunk context templates by token budget, the question apart', () => {
    const task = reg.get('narrativeqa');
    const context = Array.from({ length: 60 }, (_, i) => `Sentence ${i}.`).join(' ');
    const rec = lb({ context, input: 'Who?' });
    const parts = buildChunkedPrompt(task, rec, tok, { chunkBudget: 300 });
    const [prefix] = task.split.context.split('{context}');
    const head = [1, ...bytes(prefix!)];
    expect(parts.chunks.length).toBe(Math.ceil(Buffer.byteLength(context) / (300 - head.length)));
    for (const c of parts.chunks) {
      expect(c.length).toBeLessThanOrEqual(300);
      expect(Array.from(c.subarray(0, head.length))).toEqual(head);
    }
    const bodies = parts.chunks.flatMap((c) => Array.from(c.subarray(head.length)));
    expect(bodies).toEqual(bytes(context));
    const sizes = parts.chunks.map((c) => c.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    const q = pyFormat(task.split.question, { input: 'Who?' });
    expect(parts.questionText).toBe(q);
    expect(Array.from(parts.question)).toEqual([1, ...bytes(q)]);
    expect(parts).toMatchObject({ maxNew: 128, stopIds: [2] });
    // One chunk is exactly the single-prompt tokenization of the context template.
    const one = buildChunkedPrompt(task, rec, tok, { chunkBudget: 100_000 });
    expect(Array.from(one.chunks[0]!)).toEqual([1, ...bytes(prefix + context)]);
    expect(() => buildChunkedPrompt(task, rec, tok, { chunkBudget: 50 })).toThrow(/leaves no room/);
  });

  it('offers the reference character split and its question guard', () => {
    const task = reg.get('passage_retrieval_en');
    const context = 'abcdefghij'.repeat(25); // 250 bytes = 251 tokens with BOS
    const parts = buildChunkedPrompt(task, lb({ context }), tok, { chunkBudget: 100, split: 'chars' });
    expect(parts.chunks).toHaveLength(3);
    const [prefix, suffix] = task.split.context.split('{context}');
    expect(parts.chunkTexts).toEqual([
      prefix + context.slice(0, 83) + suffix, prefix + context.slice(83, 166) + suffix, prefix + context.slice(166) + suffix,
    ]);
    expect(Array.from(parts.chunks[2]!)).toEqual([1, ...bytes(parts.chunkTexts[2]!)]);
    const guarded = buildChunkedPrompt(task, lb({ context, input: 'q'.repeat(500) }), tok, { chunkBudget: 100, split: 'chars', rawMaxLength: 400 });
    const longest = Math.max(...guarded.chunks.map((c) => c.length));
    expect(guarded.question.length).toBe(2 * Math.floor((400 - longest) / 2));
  });
});

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shared = path.resolve(repoRoot, '../shared');
const dataDir = path.join(shared, 'bench-samples/longbench/data');
const modelDir = path.join(shared, 'models/stories260K/hf');
const haveShared = existsSync(dataDir) && existsSync(path.join(modelDir, 'tokenizer.json'));
if (!haveShared) console.warn(`skipping golden LongBench prompt tests: ${dataDir} or ${modelDir} not found (needs ../shared)`);

/**
 * Text of the form filled[0:i] + seam + filled[j:] with i < j, where the seam is U+FFFD only: a cut through a
 * multi-byte character inside a run of byte-fallback tokens. Hugging Face's ByteFallback decoder (the Rust core
 * that pred.py runs through transformers) turns every byte token of a run that is not valid UTF-8 into U+FFFD,
 * so the seam spans the run's bytes; stories260K has no CJK pieces, so its runs are long.
 */
function middleCutSeam(text: string, filled: string): number | null {
  let i = 0;
  while (i < text.length && text[i] === filled[i]) i++;
  let k = 0;
  while (k < text.length - i && text[text.length - 1 - k] === filled[filled.length - 1 - k]) k++;
  const seam = text.slice(i, text.length - k);
  return /^[\uFFFD]*$/.test(seam) && i + k < filled.length ? seam.length : null;
}

describe.skipIf(!haveShared)('golden prompts on the real LongBench files (../shared)', () => {
  let tok: Tok;
  beforeAll(async () => { tok = await loadTokenizer(modelDir); });

  for (const name of ['multi_news', 'multifieldqa_zh', 'passage_retrieval_zh']) {
    it(`${name}: 200 records, official template, middle truncation to 3500 tokens`, async () => {
      const task = reg.get(name);
      const { records, problems } = await readRecords(path.join(dataDir, `${name}.jsonl`), 'longbench');
      expect(problems).toEqual([]);
      expect(records).toHaveLength(200);
      expect(records.every(({ record }) => (record as LongBenchRecord).dataset === name)).toBe(true);
      // Tokenizing 200 long records takes ~10-30 s with this tokenizer; 12 spread-out records cover the cases.
      for (const { record } of records.filter((_, i) => i % 17 === 0)) {
        const r = record as LongBenchRecord;
        const filled = pyFormat(task.template, { context: r.context, input: r.input });
        const p = buildPrompt(task, r, tok, { maxLength: 3500 });
        expect(p.fullTokens).toBe(tok.encode(filled).length);
        if (!p.truncated) {
          expect(p.text).toBe(filled);
          continue;
        }
        const seam = middleCutSeam(p.text, filled);
        expect(seam).not.toBeNull();
        expect(p.text.startsWith(filled.slice(0, 20))).toBe(true);
        expect(p.text.endsWith(filled.slice(-20))).toBe(true);
        // Re-tokenizing the seam may merge a few tokens; each U+FFFD stands for one byte token and re-encodes
        // as three (stories260K has no piece for it).
        expect(p.ids.length).toBeGreaterThanOrEqual(3500 - 8);
        expect(p.ids.length).toBeLessThanOrEqual(3500 + 8 + 2 * seam!);
      }
    });
  }

  it('chunks a real record so the chunk bodies decode back to its context', async () => {
    const task = reg.get('multifieldqa_zh');
    const { records } = await readRecords(path.join(dataDir, 'multifieldqa_zh.jsonl'), 'longbench', { limit: 1 });
    const r = records[0]!.record as LongBenchRecord;
    const parts = buildChunkedPrompt(task, r, tok, { chunkBudget: 2000 });
    expect(parts.chunks.length).toBeGreaterThan(1);
    expect(parts.chunks.every((c) => c.length <= 2000)).toBe(true);
    const [prefix] = task.split.context.split('{context}');
    const headLen = tok.encode(prefix!).length;
    const joined = parts.chunks.flatMap((c, i) => Array.from(c.subarray(i === 0 ? 0 : headLen)));
    expect(tok.decode(joined, { skipSpecialTokens: true })).toBe(prefix + r.context);
    expect(parts.questionText).toBe(pyFormat(task.split.question, { input: r.input }));
  });
});

// The real chunk split (datasets/prompts.ts) makes the reference split's decisions, both modes.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildChunkedPrompt } from '../../../datasets/prompts.js';
import type { LongBenchRecord } from '../../../datasets/records.js';
import { registry } from '../../../datasets/registry.js';
import { loadTokenizer, type Tok } from '../../../datasets/tokenizer.js';
import { BYTE_OFFSET, writeByteTokenizer } from '../../helpers/byte-tokenizer.js';
import { chunkCount, splitChars, splitTokens } from './chunk-split.js';

const bytes = (s: string) => Array.from(Buffer.from(s, 'utf8'), (b) => b + BYTE_OFFSET);
const record = (context: string): LongBenchRecord => ({
  input: 'Who?', context, answers: ['x'], length: 2, dataset: '', language: 'en', all_classes: null, _id: 'id',
});

let tok: Tok;
beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pcomp-split-'));
  tok = await loadTokenizer(await writeByteTokenizer(path.join(dir, 'bytes'), { eosIds: [2] }));
});

describe('datasets/prompts.ts against the reference split', () => {
  const task = registry().get('narrativeqa');
  const [prefix] = task.split.context.split('{context}');
  const context = Array.from({ length: 57 }, (_, i) => `Line ${i} of the story.`).join(' ');

  it('tokens: same count, same even slices', () => {
    for (const budget of [260, 401, 999]) {
      const head = 1 + Buffer.byteLength(prefix!);
      const body = bytes(context);
      const want = splitTokens(body, chunkCount(body.length, budget - head));
      const got = buildChunkedPrompt(task, record(context), tok, { chunkBudget: budget }).chunks.map((c) => Array.from(c.subarray(head)));
      expect(want.length).toBeGreaterThan(budget < 999 ? 1 : 0);
      expect(got).toEqual(want);
    }
  });

  it('chars: same count, same character slices', () => {
    const [pre, suf] = task.split.context.split('{context}');
    for (const budget of [120, 400]) {
      const count = chunkCount(1 + Buffer.byteLength(context), budget);
      expect(count).toBeGreaterThan(1);
      const want = splitChars(context, count).map((slice) => pre + slice + suf);
      expect(buildChunkedPrompt(task, record(context), tok, { chunkBudget: budget, split: 'chars' }).chunkTexts).toEqual(want);
    }
  });
});

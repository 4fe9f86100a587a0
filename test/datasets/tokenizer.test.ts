import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import { UserError } from '../../util/errors.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const stories = path.resolve(repoRoot, '../shared/models/stories260K/hf');
const haveStories = existsSync(path.join(stories, 'tokenizer.json'));
if (!haveStories) console.warn(`skipping stories260K tokenizer tests: ${stories} not found (needs ../shared)`);

describe.skipIf(!haveStories)('stories260K tokenizer (../shared)', () => {
  it('encodes with BOS like the HF Llama tokenizer', async () => {
    const tok = await loadTokenizer(stories);
    expect(Array.from(tok.encode('Once upon a time'))).toEqual([1, 403, 407, 261, 378]);
    expect(Array.from(tok.encode('Once upon a time', { addSpecialTokens: false }))).toEqual([403, 407, 261, 378]);
    expect(tok.bosId).toBe(1);
    expect(tok.eosIds).toEqual([2]);
    expect(tok.hasChatTemplate).toBe(false);
  });
  it('decodes with and without special tokens, byte fallback included', async () => {
    const tok = await loadTokenizer(stories);
    const ids = tok.encode('Once upon a time, héllo 你好');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('Once upon a time, héllo 你好');
    expect(tok.decode(ids).startsWith('<s>')).toBe(true);
    expect(tok.decode([])).toBe('');
  });
});

// A tiny BPE tokenizer written by the test: vocab of single letters and one merge, TemplateProcessing adding <s>.
function tinyTokenizerJson() {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2, a: 3, b: 4, c: 5, ab: 6, '<eot>': 7 };
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>'), special(7, '<eot>')],
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: ['a b'] },
  };
}

describe('tokenizer.json written by the test', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'pcomp-tok-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  async function model(name: string, cfg: object | null, extra: Record<string, object> = {}) {
    const d = path.join(dir, name);
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson()));
    if (cfg) await writeFile(path.join(d, 'tokenizer_config.json'), JSON.stringify(cfg));
    for (const [f, v] of Object.entries(extra)) await writeFile(path.join(d, f), JSON.stringify(v));
    return d;
  }

  it('uses the post-processor for generic tokenizer classes', async () => {
    const tok = await loadTokenizer(await model('generic', { tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', add_bos_token: false }));
    expect(Array.from(tok.encode('ab c'))).toEqual([1, 6, 5]);
    expect(Array.from(tok.encode('ab c', { addSpecialTokens: false }))).toEqual([6, 5]);
  });

  it('lets add_bos_token / add_eos_token decide for Llama-style classes', async () => {
    const noBos = await loadTokenizer(await model('llama-nobos', { tokenizer_class: 'LlamaTokenizer', bos_token: '<s>', eos_token: '</s>', add_bos_token: false }));
    expect(Array.from(noBos.encode('ab c'))).toEqual([6, 5]);
    const bosEos = await loadTokenizer(await model('llama-boseos', { tokenizer_class: 'LlamaTokenizerFast', bos_token: { content: '<s>' }, eos_token: '</s>', add_bos_token: true, add_eos_token: true }));
    expect(Array.from(bosEos.encode('ab c'))).toEqual([1, 6, 5, 2]);
    expect(bosEos.bosToken).toBe('<s>');
    // Absent flags take the class defaults (BOS yes, EOS no), whatever tokenizer.json's post-processor says.
    const defaults = await loadTokenizer(await model('llama-defaults', { tokenizer_class: 'LlamaTokenizerFast', bos_token: '<s>', eos_token: '</s>' }));
    expect(Array.from(defaults.encode('ab c'))).toEqual([1, 6, 5]);
  });

  it('collects eos ids from tokenizer_config, generation_config and config', async () => {
    const tok = await loadTokenizer(await model('eos', { eos_token: '</s>' }, {
      'generation_config.json': { eos_token_id: [2, 7] },
      'config.json': { eos_token_id: 7, bos_token_id: 1 },
    }));
    expect(tok.eosIds).toEqual([2, 7]);
    expect(tok.bosId).toBe(1);
  });

  it('renders the chat template with bos/eos variables and raise_exception', async () => {
    const template = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
      + "<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
    const tok = await loadTokenizer(await model('chat', { bos_token: '<s>', eos_token: '<eot>', chat_template: template }));
    expect(tok.hasChatTemplate).toBe(true);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'ab' }])).toBe('<s><|user|>ab<eot><|assistant|>');
    expect(tok.applyChatTemplate([{ role: 'user', content: 'ab' }], { addGenerationPrompt: false })).toBe('<s><|user|>ab<eot>');
    expect(() => tok.applyChatTemplate([{ role: 'system', content: 'x' }])).toThrow(/no system role/);
    expect(() => tok.applyChatTemplate([{ role: 'system', content: 'x' }])).toThrow(UserError);
  });

  it('picks the "default" template from a list of named templates', async () => {
    const tok = await loadTokenizer(await model('named', { chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D{{ messages[0].content }}' }] }));
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('Dx');
  });

  it('names the missing or corrupt file', async () => {
    const empty = path.join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(loadTokenizer(empty)).rejects.toThrow(/tokenizer\.json: cannot read/);
    const corrupt = await model('corrupt', null);
    await writeFile(path.join(corrupt, 'tokenizer_config.json'), '{"bos_token": ');
    await expect(loadTokenizer(corrupt)).rejects.toThrow(/tokenizer_config\.json: corrupt JSON/);
    const noTemplate = await loadTokenizer(await model('plain', {}));
    expect(() => noTemplate.applyChatTemplate([{ role: 'user', content: 'a' }])).toThrow(/no "chat_template"/);
  });
});

// A real tokenizer.json the tests write themselves: every UTF-8 byte is one token (BPE with byte fallback and no
// merges), <s> = 1 is added as BOS the Llama way. Token counts are therefore byte counts, easy to reason about.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ByteTokenizerOptions {
  chatTemplate?: string;
  addBos?: boolean;
  eosIds?: number[];
}

export const BYTE_OFFSET = 3; // ids 0..2 are <unk>, <s>, </s>; byte b is id b + 3

export async function writeByteTokenizer(dir: string, opts: ByteTokenizerOptions = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = b + BYTE_OFFSET;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizer = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: null, pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: [] },
  };
  const config: Record<string, unknown> = {
    tokenizer_class: 'LlamaTokenizer', add_bos_token: opts.addBos ?? true, add_eos_token: false,
    bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', clean_up_tokenization_spaces: false,
  };
  if (opts.chatTemplate) config.chat_template = opts.chatTemplate;
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  if (opts.eosIds) await writeFile(path.join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: opts.eosIds }));
  return dir;
}

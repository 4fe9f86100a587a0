/**
 * A small Llama-style tokenizer (SentencePiece-like BPE with byte fallback) for synthetic models:
 * ids 0..2 are <unk> <s> </s>, 3..258 the byte pieces <0x00>..<0xFF>, then characters and a few
 * merges until `vocabSize`. Every string encodes (unknown characters fall back to bytes), so any
 * prompt round-trips through @huggingface/tokenizers.
 */

export const MIN_TOKENIZER_VOCAB = 259;

const SPACE = '\u2581'; // SentencePiece's "▁"
const LOWER = 'etaoinshrdlucmfwypvbgkjqxz';
const FIRST_MERGES = ['▁t', '▁a', '▁s', 'he', 'th', 'in', 'er', 'an'];
const PUNCTUATION = ".,!?'";
const UPPER = 'TAOISWHBCMDLPNEFGRYJKUVQXZ';
const DIGITS = '0123456789';

/** Pieces in id order after the bytes; a piece of length > 1 is a merge of its first char and the rest. */
function piecesAfterBytes(): string[] {
  const pieces = [SPACE, ...LOWER, ...FIRST_MERGES, ...PUNCTUATION, ...UPPER, ...DIGITS];
  for (const c of LOWER) if (!pieces.includes(SPACE + c)) pieces.push(SPACE + c);
  for (const a of LOWER) for (const b of LOWER) pieces.push(a + b);
  return pieces;
}

/**
 * `addBos: false` writes no post-processor, as Qwen's tokenizer.json (ByteLevel, no TemplateProcessing):
 * encode() adds no BOS.
 */
export function tokenizerJson(vocabSize: number, opts: { addBos?: boolean } = {}): object {
  if (vocabSize < MIN_TOKENIZER_VOCAB) {
    throw new Error(`oracle tokenizer needs vocab_size >= ${MIN_TOKENIZER_VOCAB} (specials + 256 bytes), got ${vocabSize}`);
  }
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const merges: [string, string][] = [];
  let next = MIN_TOKENIZER_VOCAB;
  for (const piece of piecesAfterBytes()) {
    if (next >= vocabSize) break;
    // Merged pieces are split as (first char, rest): "▁t" = "▁" + "t", "he" = "h" + "e".
    const chars = [...piece];
    if (chars.length > 1) merges.push([chars[0], chars.slice(1).join('')]);
    vocab[piece] = next++;
  }
  // Ids never produced by encoding still need a piece; real vocabularies pad the same way.
  for (let i = 0; next < vocabSize; i++) vocab[`<extra_${i}>`] = next++;

  const special = (id: number, content: string) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPACE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: opts.addBos === false ? null : {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** A Llama-2-style [INST] chat template, enough for `--chat` tests. */
const CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}" +
  "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'system' %}" +
  "{{ '<<SYS>>\\n' + message['content'] + '\\n<</SYS>>\\n\\n' }}{% else %}" +
  "{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}";

/** Qwen2Tokenizer-style (Qwen2 / Qwen3): no BOS token at all, <|endoftext|>-like EOS (here </s>). */
export function qwenTokenizerConfigJson(maxLength: number): object {
  return {
    add_bos_token: false,
    add_prefix_space: false,
    bos_token: null,
    eos_token: '</s>',
    unk_token: null,
    pad_token: '</s>',
    clean_up_tokenization_spaces: false,
    model_max_length: maxLength,
    tokenizer_class: 'Qwen2Tokenizer',
    chat_template: CHAT_TEMPLATE.replace('{{ bos_token }}', ''),
  };
}

export function tokenizerConfigJson(maxLength: number): object {
  return {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: maxLength,
    tokenizer_class: 'LlamaTokenizer',
    chat_template: CHAT_TEMPLATE,
  };
}

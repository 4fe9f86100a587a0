// The project's only tokenizer: tokenizer.json through Hugging Face's Rust core (the npm package `tokenizers`,
// datasets/tokenizer-native.ts), or through its pure-JS port (@huggingface/tokenizers) where the Rust binary does
// not load on this platform; chat templates through @huggingface/jinja. Both give the same ids (checked on real
// vocabularies in test/datasets/tokenizer-parity.test.ts); the special-token rules below are applied the same
// way to either. Token ids leave this module as Int32Array because that is what crosses into the engine.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { renderBounded } from './chat-template.js';
import { UserError } from '../util/errors.js';
import { NativeTokenizer, nativeStatus } from './tokenizer-native.js';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface Tok {
  /** Folder the tokenizer was read from. */
  readonly dir: string;
  encode(text: string, opts?: { addSpecialTokens?: boolean }): Int32Array;
  decode(ids: ArrayLike<number>, opts?: { skipSpecialTokens?: boolean }): string;
  readonly bosId: number | null;
  readonly bosToken: string | null;
  /** Every id that ends generation: tokenizer_config's eos_token plus generation_config / config eos_token_id. */
  readonly eosIds: number[];
  readonly hasChatTemplate: boolean;
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
  tokenToId(token: string): number | undefined;
  readonly vocabSize: number;
  /** Which library tokenizes: the Rust core, or the JS port and why (for the manifest and `pcomp doctor`). */
  readonly backend: TokenizerBackend;
}

export interface TokenizerBackend {
  name: 'tokenizers' | '@huggingface/tokenizers';
  version: string;
  /** Why the JS port runs instead of the Rust core. */
  fallback?: string;
}

const require = createRequire(import.meta.url);

/** The library loadTokenizer will use for a tokenizer_config without JS-only options (see `jsOnlyOption`). */
export function tokenizerBackend(): TokenizerBackend {
  const native = nativeStatus();
  if (native.ok) return { name: 'tokenizers', version: native.version! };
  return { name: '@huggingface/tokenizers', version: jsPortVersion(), fallback: native.reason };
}

function jsPortVersion(): string {
  try {
    // The package's exports map hides package.json; it sits above the resolved entry's dist/ folder.
    const entry = require.resolve('@huggingface/tokenizers');
    return (JSON.parse(readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * tokenizer_config options that the JS port applies in encode() and the Rust core (which reads tokenizer.json
 * only) does not: a tokenizer that sets one keeps the JS port, so its ids stay what they were.
 */
function jsOnlyOption(cfg: Json): string | null {
  if (cfg.remove_space === true) return 'remove_space';
  if (cfg.do_lowercase_and_remove_accent === true) return 'do_lowercase_and_remove_accent';
  return null;
}

/** transformers' clean_up_tokenization (decode's clean_up_tokenization_spaces), as the JS port applies it. */
function cleanUpTokenization(text: string): string {
  return text.replace(/ \./g, '.').replace(/ \?/g, '?').replace(/ !/g, '!').replace(/ ,/g, ',').replace(/ ' /g, "'")
    .replace(/ n't/g, "n't").replace(/ 'm/g, "'m").replace(/ 's/g, "'s").replace(/ 've/g, "'ve").replace(/ 're/g, "'re");
}

/** What encode/decode run on: ids as the library's post-processor leaves them, decode of exactly the ids given. */
interface Engine {
  encode(text: string, addSpecial: boolean): ArrayLike<number>;
  decode(ids: ArrayLike<number>): string;
  tokenToId(token: string): number | undefined;
  vocabSize: number;
  backend: TokenizerBackend;
}

function jsEngine(tokJson: Json, cfg: Json, tokFile: string, fallback: string): Engine {
  let hf: Tokenizer;
  try {
    hf = new Tokenizer(tokJson, cfg);
  } catch (e) {
    throw new UserError(`${tokFile}: not a tokenizer the library can load (${(e as Error).message})`);
  }
  return {
    encode: (text, addSpecial) => hf.encode(text, { add_special_tokens: addSpecial }).ids,
    decode: (ids) => (ids.length === 0 ? '' : hf.decode(Array.from(ids), { skip_special_tokens: false, clean_up_tokenization_spaces: false })),
    tokenToId: (t) => hf.token_to_id(t),
    vocabSize: hf.get_vocab(true).size,
    backend: { name: '@huggingface/tokenizers', version: jsPortVersion(), fallback },
  };
}

function nativeEngine(text: string, tokFile: string, version: string): Engine {
  let rs: NativeTokenizer;
  try {
    rs = new NativeTokenizer(text);
  } catch (e) {
    throw new UserError(`${tokFile}: not a tokenizer the library can load (${(e as Error).message})`);
  }
  return {
    encode: (t, addSpecial) => rs.encode(t, addSpecial),
    decode: (ids) => (ids.length === 0 ? '' : rs.decode(ids)),
    tokenToId: (t) => rs.tokenToId(t),
    vocabSize: rs.vocabSize,
    backend: { name: 'tokenizers', version },
  };
}

type Json = Record<string, unknown>;

async function readJson(file: string, required: boolean, raw?: { text?: string }): Promise<Json | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !required) return null;
    throw new UserError(`${file}: cannot read (${(e as Error).message})`);
  }
  if (raw) raw.text = text;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Json;
  } catch (e) {
    throw new UserError(`${file}: corrupt JSON (${(e as Error).message})`);
  }
}

/** bos_token / eos_token are strings or AddedToken objects `{content: "<s>", ...}` in tokenizer_config.json. */
function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return null;
}

function idList(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

/** tokenizer_config's chat_template is a string, or a list of named templates where "default" is the one used. */
function pickChatTemplate(v: unknown, file: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v as Array<{ name?: unknown; template?: unknown }>;
    const chosen = named.find((t) => t.name === 'default') ?? named[0];
    if (chosen && typeof chosen.template === 'string') return chosen.template;
  }
  throw new UserError(`${file}: field "chat_template" must be a string or a list of {name, template}`);
}

/**
 * Transformers' LlamaTokenizerFast-family classes rebuild the post-processor from add_bos_token / add_eos_token
 * when loaded, so for them those flags (not tokenizer.json's TemplateProcessing) decide what encode() adds.
 * Other classes use tokenizer.json's post-processor as is.
 */
const FLAG_DRIVEN_CLASSES = /^(Llama|CodeLlama|Gemma|Gemma2|Cohere)Tokenizer(Fast)?$/;

export interface LoadOptions {
  /** 'js' forces the pure-JS port (the parity tests and the tokenizer benchmark compare the two). */
  backend?: 'auto' | 'js';
}

export async function loadTokenizer(modelDir: string, opts: LoadOptions = {}): Promise<Tok> {
  const tokFile = path.join(modelDir, 'tokenizer.json');
  const cfgFile = path.join(modelDir, 'tokenizer_config.json');
  const tokText: { text?: string } = {};
  const tokJson = (await readJson(tokFile, true, tokText))!;
  const cfg = (await readJson(cfgFile, false)) ?? {};
  const genCfg = (await readJson(path.join(modelDir, 'generation_config.json'), false)) ?? {};
  const modelCfg = (await readJson(path.join(modelDir, 'config.json'), false)) ?? {};

  const native = nativeStatus();
  const jsOnly = jsOnlyOption(cfg);
  const forced = opts.backend === 'js';
  const hf: Engine = native.ok && !jsOnly && !forced
    ? nativeEngine(tokText.text!, tokFile, native.version!)
    : jsEngine(tokJson, cfg, tokFile, forced ? 'asked for' : jsOnly ? `${cfgFile} sets ${jsOnly}, which only the JS port applies` : native.reason!);

  let chatTemplate = pickChatTemplate(cfg.chat_template, cfgFile);
  if (chatTemplate === null) {
    // Newer checkpoints keep the template in its own file.
    try {
      chatTemplate = await readFile(path.join(modelDir, 'chat_template.jinja'), 'utf8');
    } catch {
      chatTemplate = null;
    }
  }
  let compiled: Template | null = null;
  if (chatTemplate !== null) {
    try {
      compiled = new Template(chatTemplate);
    } catch (e) {
      throw new UserError(`${cfgFile}: field "chat_template" does not parse (${(e as Error).message})`);
    }
  }

  const bosToken = tokenString(cfg.bos_token);
  const eosToken = tokenString(cfg.eos_token);
  const bosId = (bosToken !== null ? hf.tokenToId(bosToken) : undefined) ?? idList(modelCfg.bos_token_id)[0] ?? null;
  const eosIds: number[] = [];
  const eosFromCfg = eosToken !== null ? hf.tokenToId(eosToken) : undefined;
  for (const id of [...(eosFromCfg !== undefined ? [eosFromCfg] : []), ...idList(genCfg.eos_token_id), ...idList(modelCfg.eos_token_id)]) {
    if (!eosIds.includes(id)) eosIds.push(id);
  }

  const flagDriven = typeof cfg.tokenizer_class === 'string' && FLAG_DRIVEN_CLASSES.test(cfg.tokenizer_class);
  // The classes' constructor defaults: add_bos_token=True, add_eos_token=False.
  const addBos = cfg.add_bos_token !== false;
  const addEos = cfg.add_eos_token === true;
  const eosId = eosFromCfg ?? null;

  const encode = (text: string, opts: { addSpecialTokens?: boolean } = {}): Int32Array => {
    const addSpecial = opts.addSpecialTokens ?? true;
    if (!flagDriven || !addSpecial) {
      const ids = hf.encode(text, addSpecial);
      return ids instanceof Int32Array ? ids : Int32Array.from(ids);
    }
    const body = hf.encode(text, false);
    // Sized once and filled by index: spreading a 128K-token body as call arguments overflows the stack.
    const lead = addBos && bosId !== null ? 1 : 0;
    const tail = addEos && eosId !== null ? 1 : 0;
    const out = new Int32Array(lead + body.length + tail);
    if (lead) out[0] = bosId as number;
    for (let i = 0; i < body.length; i++) out[lead + i] = body[i];
    if (tail) out[out.length - 1] = eosId as number;
    return out;
  };

  // decode as the JS port has always done it: skip_special_tokens drops tokenizer.json's special added tokens and
  // tokenizer_config's additional_special_tokens; clean_up_tokenization_spaces defaults to true.
  const specialIds = new Set<number>();
  const addedTokens = Array.isArray(tokJson.added_tokens) ? (tokJson.added_tokens as Json[]) : [];
  for (const t of addedTokens) if (t.special === true && typeof t.id === 'number') specialIds.add(t.id);
  for (const t of Array.isArray(cfg.additional_special_tokens) ? cfg.additional_special_tokens : []) {
    const s = tokenString(t);
    const id = s !== null ? hf.tokenToId(s) : undefined;
    if (id !== undefined) specialIds.add(id);
  }
  const cleanUp = cfg.clean_up_tokenization_spaces !== false;
  const decode = (ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string => {
    if (ids.length === 0) return '';
    let kept: ArrayLike<number> = ids;
    if (opts.skipSpecialTokens && specialIds.size > 0) {
      const out = new Int32Array(ids.length);
      let n = 0;
      for (let i = 0; i < ids.length; i++) if (!specialIds.has(ids[i])) out[n++] = ids[i];
      kept = out.subarray(0, n);
    }
    if (kept.length === 0) return '';
    const text = hf.decode(kept);
    return cleanUp ? cleanUpTokenization(text) : text;
  };

  const applyChatTemplate = (messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string => {
    if (!compiled) throw new UserError(`${cfgFile}: the model has no "chat_template"; use a task or flag that skips the chat template`);
    try {
      return renderBounded(compiled, {
        messages,
        add_generation_prompt: opts.addGenerationPrompt ?? true,
        bos_token: bosToken ?? '',
        eos_token: eosToken ?? '',
        pad_token: tokenString(cfg.pad_token) ?? '',
        unk_token: tokenString(cfg.unk_token) ?? '',
      });
    } catch (e) {
      throw new UserError(`${cfgFile}: chat_template failed to render (${(e as Error).message})`);
    }
  };

  return {
    dir: modelDir,
    encode,
    decode,
    bosId,
    bosToken,
    eosIds,
    hasChatTemplate: compiled !== null,
    applyChatTemplate,
    tokenToId: (t) => hf.tokenToId(t),
    vocabSize: hf.vocabSize,
    backend: hf.backend,
  };
}

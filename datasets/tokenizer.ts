// The project's only tokenizer: tokenizer.json through @huggingface/tokenizers, chat templates through
// @huggingface/jinja. Token ids leave this module as Int32Array because that is what crosses into the engine.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { renderBounded } from './chat-template.js';
import { UserError } from '../util/errors.js';

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
}

type Json = Record<string, unknown>;

async function readJson(file: string, required: boolean): Promise<Json | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !required) return null;
    throw new UserError(`${file}: cannot read (${(e as Error).message})`);
  }
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

export async function loadTokenizer(modelDir: string): Promise<Tok> {
  const tokFile = path.join(modelDir, 'tokenizer.json');
  const cfgFile = path.join(modelDir, 'tokenizer_config.json');
  const tokJson = (await readJson(tokFile, true))!;
  const cfg = (await readJson(cfgFile, false)) ?? {};
  const genCfg = (await readJson(path.join(modelDir, 'generation_config.json'), false)) ?? {};
  const modelCfg = (await readJson(path.join(modelDir, 'config.json'), false)) ?? {};

  let hf: Tokenizer;
  try {
    hf = new Tokenizer(tokJson, cfg);
  } catch (e) {
    throw new UserError(`${tokFile}: not a tokenizer the library can load (${(e as Error).message})`);
  }

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
  const bosId = (bosToken !== null ? hf.token_to_id(bosToken) : undefined) ?? idList(modelCfg.bos_token_id)[0] ?? null;
  const eosIds: number[] = [];
  const eosFromCfg = eosToken !== null ? hf.token_to_id(eosToken) : undefined;
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
    if (!flagDriven || !addSpecial) return Int32Array.from(hf.encode(text, { add_special_tokens: addSpecial }).ids);
    const body = hf.encode(text, { add_special_tokens: false }).ids;
    // Sized once and filled by index: spreading a 128K-token body as call arguments overflows the stack.
    const lead = addBos && bosId !== null ? 1 : 0;
    const tail = addEos && eosId !== null ? 1 : 0;
    const out = new Int32Array(lead + body.length + tail);
    if (lead) out[0] = bosId as number;
    for (let i = 0; i < body.length; i++) out[lead + i] = body[i];
    if (tail) out[out.length - 1] = eosId as number;
    return out;
  };

  const decode = (ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string => {
    if (ids.length === 0) return '';
    return hf.decode(Array.from(ids), { skip_special_tokens: opts.skipSpecialTokens ?? false });
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
    tokenToId: (t) => hf.token_to_id(t),
    vocabSize: hf.get_vocab(true).size,
  };
}

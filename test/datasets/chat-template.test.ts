// Bounded chat templates (datasets/chat-template.ts through Tok.applyChatTemplate): hostile templates
// stop with a UserError naming tokenizer_config.json instead of killing Node (V8 out of memory) or
// hanging; real templates render exactly as the library renders them unbounded.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import { defaultLimits, renderBounded, TemplateBudgetError } from '../../datasets/chat-template.js';
import { UserError } from '../../util/errors.js';
import { writeTinyModel } from '../oracle/model-writer.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'pcomp-chat-template-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function withTemplate(template: string, extra: Record<string, unknown> = {}): Promise<{ tok: Tok; cfgFile: string }> {
  const dir = writeTinyModel(path.join(root, `m${n++}`), { seed: 3 }).dir;
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(cfgFile, JSON.stringify({ ...cfg, ...extra, chat_template: template }));
  return { tok: await loadTokenizer(dir), cfgFile };
}

const user = (content: string) => [{ role: 'user' as const, content }];

// Each stops on a budget (never by crashing the process); the comment says which one it reaches first here.
const hostile: [string, string][] = [
  ['range(1000000000) (V8 fatal OOM unbounded)', '{% for i in range(1000000000) %}x{% endfor %}'],
  ['nested empty loops (a hang unbounded)', '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}'],
  ['nested loops with expressions', '{% for i in range(100000) %}{% for j in range(100000) %}{{ i * j }}{% endfor %}{% endfor %}'],
  ['huge output from a loop', "{% for i in range(90000) %}{{ messages[0]['content'] }}{% endfor %}"],
  ['a string doubled in a loop', "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"],
  ['a list doubled in a loop', '{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}'],
  ['unbounded macro recursion', '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}'],
  ['exponential macro recursion', '{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(64) }}'],
  ['an indent wider than any output', "{{ messages[0]['content'] | indent(50000000, true) }}"],
];

describe('hostile chat templates stop with a clear error naming tokenizer_config.json', () => {
  for (const [name, template] of hostile) {
    it(name, async () => {
      const { tok, cfgFile } = await withTemplate(template);
      let err: unknown;
      try {
        tok.applyChatTemplate(user('line one\nline two'));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      const msg = (err as Error).message;
      expect(msg).toContain(cfgFile);
      expect(msg).toContain('chat_template');
      expect(msg).toMatch(/stopped: the template/);
      // Rendered again, it is stopped again (which budget runs out first may depend on the machine's
      // speed): the first render's stop does not linger, and nothing else broke.
      expect(() => tok.applyChatTemplate(user('line one\nline two'))).toThrow(/stopped: the template/);
    }, 30_000);
  }

  it('budgets are per render, and a template error still reads as before', async () => {
    const { tok, cfgFile } = await withTemplate(
      "{% if messages[0]['content'] == 'loop' %}{% for i in range(10000000) %}x{% endfor %}{% endif %}"
      + "{% if messages[0]['content'] == 'bad' %}{{ raise_exception('no such role') }}{% endif %}[{{ messages[0]['content'] }}]");
    expect(() => tok.applyChatTemplate(user('loop'))).toThrow(/stopped: the template asked for range\(\) of 10000000 items/);
    expect(tok.applyChatTemplate(user('ok'))).toBe('[ok]');
    expect(() => tok.applyChatTemplate(user('bad'))).toThrow(new RegExp(`${cfgFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: chat_template failed to render \\(no such role\\)`));
    expect(tok.applyChatTemplate(user('ok again'))).toBe('[ok again]');
  });
});

// Real templates, compared with the library's own unbounded render (what applyChatTemplate did before).
const LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
const CHATML = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
const LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

describe('real chat templates render exactly as before', () => {
  const long = Array.from({ length: 200_000 }, (_, i) => `w${i % 97}`).join(' ') + '\n\n  ';
  const conversations = [
    user('What is the pass key?'),
    [{ role: 'system' as const, content: 'Be brief.' }, ...user('Hi'), { role: 'assistant' as const, content: 'Hello.' }, ...user('Again')],
    user(long),
  ];
  for (const [name, template] of [['Llama-3', LLAMA3], ['ChatML (Qwen2)', CHATML], ['Llama-2', LLAMA2]] as const) {
    it(name, async () => {
      const { tok } = await withTemplate(template, { bos_token: '<s>', eos_token: '</s>' });
      const plain = new Template(template);
      for (const messages of conversations) {
        for (const addGenerationPrompt of [true, false]) {
          const expected = plain.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: '<s>', eos_token: '</s>', pad_token: '', unk_token: '' });
          expect(tok.applyChatTemplate(messages, { addGenerationPrompt })).toBe(expected);
        }
      }
    });
  }

  it('the default budgets leave room for a 1M-token record', () => {
    const content = 'word '.repeat(1_000_000);
    const out = renderBounded(new Template(LLAMA3), { messages: user(content), add_generation_prompt: true, bos_token: '<s>' });
    expect(out.length).toBeGreaterThan(content.length);
    expect(defaultLimits(content.length).maxChars).toBeGreaterThan(out.length);
  });

  it('outside a bounded render the library is untouched (range past the budget renders)', () => {
    expect(new Template('{% for i in range(120000) %}{% endfor %}ok').render({})).toBe('ok');
    expect(() => renderBounded(new Template('{% for i in range(120000) %}{% endfor %}ok'), {})).toThrow(TemplateBudgetError);
  });
});

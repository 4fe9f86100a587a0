// Perplexity of the final tokens of a ~4K-token TinyStories document on stories260K (trained on 512
// tokens): ParallelComp against full attention. The document is sampled from the model itself
// (stories of at most 480 tokens, each BOS-first, temperature 1, seeded), with the float64 oracle,
// so the text is in distribution and needs no data file. Run `npx tsx test/pipeline/stories-ppl.ts`
// for the table; stories-ppl.test.ts checks the ordering.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineModel } from '../../engine/index.js';
import { resolveConfig } from '../../engine/policy-config.js';
import { ReferenceModel } from '../oracle/forward.js';
import { mulberry32 } from '../oracle/prng.js';

const BOS = 1;
const EOS = 2;

/**
 * `total` tokens of stories sampled from the model (temperature 1), each story BOS-first. The float64
 * sampler takes about a minute for 4K tokens, so the result is kept in the OS temp folder.
 */
export function sampleStories(modelDir: string, total: number, seed = 42): number[] {
  const cached = path.join(os.tmpdir(), `pcomp-stories260k-sampled-${seed}-${total}.json`);
  if (existsSync(cached)) {
    const doc = JSON.parse(readFileSync(cached, 'utf8')) as unknown;
    if (Array.isArray(doc) && doc.length === total && doc.every((t) => Number.isInteger(t))) return doc as number[];
  }
  const doc = sampleFresh(modelDir, total, seed);
  writeFileSync(cached, JSON.stringify(doc));
  return doc;
}

function sampleFresh(modelDir: string, total: number, seed: number): number[] {
  const model = ReferenceModel.load(modelDir);
  const rand = mulberry32(seed);
  const doc: number[] = [];
  while (doc.length < total) {
    const cache = model.emptyCache();
    let logits = model.forwardStep([BOS], [0], cache)[0]!;
    doc.push(BOS);
    for (let t = 1; t < 480 && doc.length < total; t++) {
      let max = -Infinity;
      for (const v of logits) max = Math.max(max, v);
      let sum = 0;
      const p = Array.from(logits, (v) => (sum += Math.exp(v - max), Math.exp(v - max)));
      let u = rand() * sum;
      let next = 0;
      while (next < p.length - 1 && (u -= p[next]!) > 0) next++;
      if (next === EOS) break;
      doc.push(next);
      logits = model.forwardStep([next], [t], cache)[0]!;
    }
  }
  return doc.slice(0, total);
}


export interface PplSetup {
  /** Tokens scored at the end of the document. */
  evalLength: number;
  /** Tokens before them that act as the question (chunk scoring, re-encoded after the chunks). */
  questionLength: number;
}

/** Splits the context into BOS-first chunks that leave room for the question and eval tokens in the window. */
export function chunkContext(context: number[], window: number, s: PplSetup): number[][] {
  const room = window - s.questionLength - s.evalLength - 1; // -1: each chunk's BOS
  const n = Math.ceil(context.length / room);
  return Array.from({ length: n }, (_, i) => [BOS, ...context.slice(Math.floor((i * context.length) / n), Math.floor(((i + 1) * context.length) / n))]);
}

const ppl = (nll: Float32Array) => Math.exp(nll.reduce((a, b) => a + b, 0) / nll.length);

/** Perplexity of the eval tokens under each named policy (preset plus --set items). */
export async function measure(modelDir: string, doc: number[], s: PplSetup, policies: Record<string, [string, string[]]>): Promise<Record<string, { ppl: number; peakCacheBytes: number; keptChunks: unknown }>> {
  const model = await EngineModel.load(modelDir);
  try {
    const window = model.info.max_position_embeddings;
    const evalTokens = Int32Array.from(doc.slice(doc.length - s.evalLength));
    const question = doc.slice(doc.length - s.evalLength - s.questionLength, doc.length - s.evalLength);
    const context = doc.slice(1, doc.length - s.evalLength - s.questionLength); // doc[0] is BOS; chunks add their own
    const out: Record<string, { ppl: number; peakCacheBytes: number; keptChunks: unknown }> = {};
    for (const [name, [preset, sets]] of Object.entries(policies)) {
      const config = resolveConfig(preset, sets);
      const chunks = config['chunk.enabled'] ? chunkContext(context, window, s) : [[BOS, ...context]];
      const r = await model.run({ chunks: chunks.map((c) => Int32Array.from(c)), question: Int32Array.from(question), evalTokens, maxNewTokens: 0, stopIds: [] }, config);
      out[name] = { ppl: ppl(r.nll), peakCacheBytes: r.trace.peakCacheBytes as number, keptChunks: r.trace.keptChunks };
    }
    return out;
  } finally {
    model.free();
  }
}

export const POLICIES: Record<string, [string, string[]]> = {
  'parallelcomp (k=3)': ['parallelcomp', []],
  'parallelcomp k=1': ['parallelcomp', ['chunkEvict.k=1']],
  'parallelcomp-kv (capacity 128)': ['parallelcomp-kv', ['kvEvict.capacity=128']],
  pcw: ['pcw', []],
  'full, no truncation (4K positions)': ['full', ['full.maxTokens=100000']],
  'full, middle-truncated to 512': ['full', []],
  'full, middle-truncated to 384 (+128 eval = 512)': ['full', ['full.maxTokens=384']],
  'ntk (auto factor)': ['ntk', []],
  'dynamic-ntk': ['dynamic-ntk', []],
  'pi (auto factor)': ['pi', []],
  'streaming (4 + 380)': ['streaming', ['streaming.window=380']],
  'snapkv (capacity 384)': ['snapkv', ['snapkv.capacity=384', 'full.maxTokens=100000']],
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/models/stories260K/hf');
  const setup = { evalLength: 128, questionLength: 32 };
  const seeds = (process.argv[3] ?? '42').split(',').map(Number);
  const rows: Record<string, number[]> = {};
  for (const seed of seeds) {
    const doc = sampleStories(dir, 4096, seed);
    const res = await measure(dir, doc, setup, POLICIES);
    for (const [name, r] of Object.entries(res)) (rows[name] ??= []).push(r.ppl);
    console.log(`seed ${seed}: parallelcomp kept chunks ${JSON.stringify(res['parallelcomp (k=3)']!.keptChunks)}`);
  }
  console.log(`stories260K, 4096-token documents sampled from the model (seeds ${seeds.join(',')}), perplexity of the last ${setup.evalLength} tokens:`);
  for (const [name, v] of Object.entries(rows)) console.log(`  ${name.padEnd(48)} ${v.map((x) => x.toFixed(3).padStart(9)).join(' ')}`);
}

// stories260K (trained on 512 tokens) from 512 to 8K tokens of stories it wrote itself (openings
// sampled at temperature 1 with a fixed seed, continued greedily): full attention's perplexity rises
// past the trained length, ParallelComp's stays within STAY_WITHIN of its 512-token value. docs/ppl.md records the numbers and the command.
// Skips when ../shared (the real model) is absent.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EngineModel } from '../../engine/index.js';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import { mulberry32 } from '../oracle/prng.js';
import { cliEnv, hasStories, pcomp, readPplCsv, stories260K, tempRoot, type CliRun } from './helpers.js';

const BOS = 1;
const EOS = 2;
const LENGTHS = [512, 1024, 2048, 4096, 8192];
const DOCUMENTS = 2;
/** ParallelComp's perplexity at any length stays below this multiple of its 512-token value (docs/ppl.md). */
const STAY_WITHIN = 1.5;
/** Full attention's perplexity from 2K (four times the trained length) on exceeds this multiple of its 512-token value. */
const FULL_RISES = 1.5;

/** Tokens of a story's opening sampled at temperature 1; the rest is greedy. */
const OPENING = 16;
/** A story ends at EOS or at this many tokens, BOS included. */
const STORY = 256;

function sampleToken(logits: Float32Array, rand: () => number): number {
  let max = -Infinity;
  for (const x of logits) max = Math.max(max, x);
  let z = 0;
  for (const x of logits) z += Math.exp(x - max);
  const u = rand() * z;
  let acc = 0;
  for (let v = 0; v < logits.length; v++) {
    acc += Math.exp(logits[v]! - max);
    if (u < acc) return v;
  }
  return logits.length - 1;
}

/**
 * Stories the model writes itself until `total` tokens: each from BOS, its first OPENING tokens sampled
 * at temperature 1 (seeded; `streams` stories per batched EngineModel.logits call), then continued
 * greedily by EngineModel.generate until EOS. The engine has no sampling call, and sampling every
 * token by re-prefilling the story costs minutes on 2 cores; the sampled openings keep the stories apart.
 */
async function sampleStories(model: EngineModel, total: number, seed: number, streams = 16): Promise<Int32Array[]> {
  const rand = mulberry32(seed);
  const stories: Int32Array[] = [];
  let written = 0;
  while (written < total) {
    const openings = Array.from({ length: streams }, () => [BOS]);
    const ended = new Set<number>();
    for (let t = 1; t < OPENING; t++) {
      const open = openings.map((o, i) => ({ o, i })).filter(({ i }) => !ended.has(i));
      if (open.length === 0) break;
      const rows = await model.logits(open.map(({ o }) => ({ tokens: Int32Array.from(o) })), 'last');
      rows.forEach((logits, k) => {
        const token = sampleToken(logits, rand);
        if (token === EOS) ended.add(open[k]!.i);
        else open[k]!.o.push(token);
      });
    }
    for (const [i, opening] of openings.entries()) {
      const rest = ended.has(i) ? new Int32Array(0) : (await model.generate(Int32Array.from(opening), { maxNewTokens: STORY - opening.length, stopIds: [EOS] })).tokens;
      const story = Int32Array.from([...opening, ...rest]);
      stories.push(story);
      written += story.length;
    }
  }
  return stories;
}

if (!hasStories) console.warn(`skipped: ${stories260K} not found (a user's clone has no ../shared)`);

describe.skipIf(!hasStories)('stories260K perplexity from 512 to 8K tokens (pcomp ppl)', () => {
  const root = tempRoot();
  const data = path.join(root, 'stories.jsonl');
  const out = path.join(root, 'run');
  let run: CliRun;

  beforeAll(async () => {
    const model = await EngineModel.load(stories260K, { threads: 2 });
    const tok = await loadTokenizer(stories260K);
    let pool: Int32Array[];
    const sampling = performance.now();
    try {
      pool = await sampleStories(model, 8192 + 1024, 42);
    } finally {
      model.free();
    }
    console.log(`sampled ${pool.length} stories, ${pool.reduce((n, s) => n + s.length, 0)} tokens, in ${((performance.now() - sampling) / 1000).toFixed(1)} s`);
    // two documents from one pool of stories, in two seeded orders, one story per line
    const docs = Array.from({ length: DOCUMENTS }, (_, d) => {
      const order = pool.map((_, i) => i);
      const rand = mulberry32(100 + d);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      return { id: `stories-${d}`, text: order.map((i) => tok.decode(pool[i]!, { skipSpecialTokens: true })).join('\n') };
    });
    writeFileSync(data, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
    run = await pcomp(['ppl', '--model', stories260K, '--data', data, '--len', '512..8k', '--config', 'full,parallelcomp',
      '--eval-tokens', '128', '--query-tokens', '64', '--out', out, '--threads', '2'], cliEnv(path.join(root, 'cache')));
    console.log(run.stdout);
  }, 600_000);

  it('full attention rises past 512 tokens; ParallelComp stays near its 512-token value', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const csv = readPplCsv(out);
    const at = (config: string, length: number) => {
      const row = csv.get(`${config}/${length}`)!;
      expect(row.samples).toBe(DOCUMENTS);
      return row.ppl;
    };
    const full = LENGTHS.map((l) => at('full', l));
    const pc = LENGTHS.map((l) => at('parallelcomp', l));
    console.log(`stories260K ppl by length ${LENGTHS.join(', ')}: full ${full.map((p) => p.toFixed(2)).join(', ')}; parallelcomp ${pc.map((p) => p.toFixed(2)).join(', ')}`);
    LENGTHS.forEach((length, i) => {
      if (length >= 2048) expect(full[i]).toBeGreaterThan(FULL_RISES * full[0]!);
    });
    for (const p of pc) expect(p).toBeLessThan(STAY_WITHIN * pc[0]!);
    expect(pc[LENGTHS.length - 1]).toBeLessThan(full[LENGTHS.length - 1]!);
  });
});

// T-speed (Table 7's layout): prefill time, decode time per token and peak KV-cache memory against the
// number of chunks prefilled in parallel (chunk.parallel = P: chunks go through the model P at a time,
// the online chunk eviction freeing the losers after each wave), for parallelcomp and parallelcomp-kv on
// one story context of 16x the trained window. Every timed run is a line of <out>/t-speed/speed-<L>.jsonl
// (id config/P/repeat); a rerun measures only the missing ones. Timings are wall time of one
// EngineModel.run of G new tokens after an untimed warm-up: "prefill" runs until the first token
// (chunk prefill, scoring, eviction, question re-encoding), decode ms/token from the engine's per-token
// progress reports. Memory = the engine trace's peakCacheBytes (the KV cache's high-water mark).
import path from 'node:path';
import type { Sample } from '../../engine/index.js';
import type { PolicyConfig } from '../../engine/policy-config.js';
import { LineStore, type IdentifiedLine } from '../../results/line-store.js';
import { formatLength } from '../../results/plots.js';
import { Interrupted } from '../../util/errors.js';
import { speedConfigs } from './reproduce-configs.js';
import type { ReproduceContext, TableJob } from './reproduce-scale.js';
import { storyDocument } from '../../datasets/synth/stories.js';
import { buildChunkedSample } from './sample.js';

/** Tokens decoded for the per-token time. */
const DECODE_TOKENS = 16;
const QUESTION = 'Who found the lost thing, and where was it?';

export interface SpeedLine extends IdentifiedLine {
  config: string;
  parallel: number;
  repeat: number;
  length: number;
  chunks: number;
  prefill_s: number;
  decode_ms_per_token: number;
  peak_cache_bytes: number;
}

export interface SpeedCell {
  config: string;
  parallel: number;
  chunks: number;
  prefillSec: number;
  decodeMsPerToken: number;
  peakCacheMB: number;
  repeats: number;
}

export interface SpeedResult {
  length: number;
  cells: SpeedCell[];
  file: string;
  threads: number;
  device: string;
}

const cellTask = (parallel: number) => `speed P=${parallel}`;
const lineId = (config: string, parallel: number, repeat: number) => `${config}/P${parallel}/r${repeat}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A story context of `length` tokens (cut at a token boundary, decoded back to text). */
function storyContext(ctx: ReproduceContext, length: number): string {
  const ids = ctx.tok.encode(storyDocument(7, length * 8));
  return ctx.tok.decode(ids.subarray(0, length), { skipSpecialTokens: true });
}

export async function prepareSpeed(ctx: ReproduceContext): Promise<TableJob<SpeedResult>> {
  const { scale } = ctx;
  const file = path.join(ctx.out, 't-speed', `speed-${formatLength(scale.speedLength)}.jsonl`);
  const store = LineStore.open<SpeedLine>(file);
  const configs = speedConfigs(scale.configs.speed);
  for (const c of configs)
    for (const p of scale.speedWaves) {
      const done = Array.from({ length: scale.speedRepeats }, (_, r) => store.has(lineId(c.name, p, r))).filter(Boolean).length;
      ctx.progress.add(c.name, cellTask(p), scale.speedRepeats, done);
    }
  const context = storyContext(ctx, scale.speedLength);
  return {
    close: () => store.close(),
    run: async (signal) => {
      for (const { name, config } of configs)
        for (const parallel of scale.speedWaves) {
          const started = performance.now();
          const withWaves: PolicyConfig = { ...config, 'chunk.parallel': parallel };
          const sample: Sample = {
            ...buildChunkedSample({ tok: ctx.tok, context, question: QUESTION, config: withWaves, maxNew: DECODE_TOKENS, window: ctx.window }),
            stopIds: [], // decode all G tokens: EOS must not end the timing early
          };
          let warm = false;
          for (let repeat = 0; repeat < scale.speedRepeats; repeat++) {
            if (store.has(lineId(name, parallel, repeat))) continue;
            if (signal.aborted) throw new Interrupted('reproduce interrupted');
            // one untimed run first: the first run of a shape pays for allocations the others reuse
            if (!warm) await ctx.model.run(sample, withWaves, { signal });
            warm = true;
            const line = await timeOne(ctx, name, withWaves, sample, parallel, repeat, signal);
            store.append(line);
            ctx.progress.sample(name, cellTask(parallel), line.length);
          }
          const cell = summarize(store.read(), name, parallel);
          ctx.progress.cellDone(name, cellTask(parallel), cell?.prefillSec, (performance.now() - started) / 1000);
        }
      const lines = store.read();
      const cells = configs.flatMap((c) => scale.speedWaves.map((p) => summarize(lines, c.name, p)!));
      return { length: scale.speedLength, cells, file, threads: Number(ctx.provenance.threads ?? 0), device: String(ctx.provenance.device ?? 'cpu') };
    },
  };
}

/**
 * One timed run of G new tokens. The engine reports each new token as it is picked, before the forward
 * that feeds it back: the first report ends the prefill, the spacing of the rest is the time per token,
 * so one run yields both.
 */
async function timeOne(
  ctx: ReproduceContext, name: string, config: PolicyConfig, sample: Sample,
  parallel: number, repeat: number, signal: AbortSignal,
): Promise<SpeedLine> {
  const decodedAt: number[] = [];
  const t0 = performance.now();
  const result = await ctx.model.run(sample, config, { signal, onProgress: (stage) => { if (stage === 'decode') decodedAt.push(performance.now()); } });
  const end = performance.now();
  if (decodedAt.length < 2) decodedAt.push(end); // a build that reports no decode steps: the whole run is the prefill
  const perToken = (decodedAt.at(-1)! - decodedAt[0]!) / Math.max(1, decodedAt.length - 1);
  return {
    _id: lineId(name, parallel, repeat),
    config: name,
    parallel,
    repeat,
    length: sample.chunks.reduce((n, c) => n + c.length, 0) + sample.question.length,
    chunks: sample.chunks.length,
    prefill_s: Math.round(((decodedAt[0]! - t0) / 1000) * 1e4) / 1e4,
    decode_ms_per_token: Math.round(perToken * 1e3) / 1e3,
    peak_cache_bytes: Number((result.trace as { peakCacheBytes?: number }).peakCacheBytes ?? 0),
  };
}

function summarize(lines: readonly SpeedLine[], config: string, parallel: number): SpeedCell | undefined {
  const mine = lines.filter((l) => l.config === config && l.parallel === parallel);
  if (mine.length === 0) return undefined;
  return {
    config,
    parallel,
    chunks: mine[0]!.chunks,
    prefillSec: median(mine.map((l) => l.prefill_s)),
    decodeMsPerToken: median(mine.map((l) => l.decode_ms_per_token)),
    peakCacheMB: Math.max(...mine.map((l) => l.peak_cache_bytes)) / 2 ** 20,
    repeats: mine.length,
  };
}

// T-speed (Table 7's layout): prefill time, decode time per token and peak KV-cache memory against the
// number of chunks prefilled in parallel (chunk.parallel = P: chunks go through the model P at a time,
// the online chunk eviction freeing the losers after each wave), for parallelcomp and parallelcomp-kv on
// one story context of 16x the trained window. Every timed run is a line of <out>/t-speed/speed.jsonl
// (id config/P/repeat); a rerun measures only the missing ones. Timings are wall time of EngineModel.run:
// "prefill" = the run with no new token (chunk prefill, scoring, eviction, question re-encoding),
// decode ms/token = (run with G tokens − prefill) / G. Memory = the engine trace's peakCacheBytes.
import path from 'node:path';
import type { Sample } from '../../engine/index.js';
import type { PolicyConfig } from '../../engine/policy-config.js';
import { LineStore, type IdentifiedLine } from '../../results/line-store.js';
import { formatLength } from '../../results/plots.js';
import { Interrupted } from '../../util/errors.js';
import { speedConfigs } from './reproduce-configs.js';
import type { ReproduceContext, TableJob } from './reproduce-scale.js';
import { storyDocument } from './reproduce-text.js';
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
          const sample = (maxNew: number): Sample => ({
            ...buildChunkedSample({ tok: ctx.tok, context, question: QUESTION, config: withWaves, maxNew: DECODE_TOKENS, window: ctx.window }),
            maxNewTokens: maxNew,
            stopIds: [], // decode all G tokens: EOS must not end the timing early
          });
          for (let repeat = 0; repeat < scale.speedRepeats; repeat++) {
            if (store.has(lineId(name, parallel, repeat))) continue;
            if (signal.aborted) throw new Interrupted('reproduce interrupted');
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

async function timeOne(
  ctx: ReproduceContext, name: string, config: PolicyConfig, sample: (maxNew: number) => Sample,
  parallel: number, repeat: number, signal: AbortSignal,
): Promise<SpeedLine> {
  const prefill = sample(0);
  let t = performance.now();
  const first = await ctx.model.run(prefill, config, { signal });
  const prefillSec = (performance.now() - t) / 1000;
  t = performance.now();
  const decoded = await ctx.model.run(sample(DECODE_TOKENS), config, { signal });
  const withDecodeSec = (performance.now() - t) / 1000;
  const generated = Math.max(1, decoded.tokens.length);
  return {
    _id: lineId(name, parallel, repeat),
    config: name,
    parallel,
    repeat,
    length: prefill.chunks.reduce((n, c) => n + c.length, 0) + prefill.question.length,
    chunks: prefill.chunks.length,
    prefill_s: Math.round(prefillSec * 1e4) / 1e4,
    decode_ms_per_token: Math.round((Math.max(0, withDecodeSec - prefillSec) * 1e3 / generated) * 1e3) / 1e3,
    peak_cache_bytes: Number((first.trace as { peakCacheBytes?: number }).peakCacheBytes ?? 0),
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

// Engine-only properties of the pipeline: the degenerate cases are exact, evicted chunks and tokens
// are really freed (cache bytes in the trace, checked against the sizes they must have), progress
// and cancellation, config errors that name the key, the streaming baseline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineModel } from '../../engine/index.js';
import { Interrupted, UserError } from '../../util/errors.js';
import { tempDir } from '../engine/helpers.js';
import { config, engineRun, makeSample, tinyModel } from './helpers.js';

const tmp = tempDir('pcomp-pipeline-engine-');
let model: EngineModel;
const sample = makeSample([20, 24, 18, 22, 26, 19, 23, 21], 13);

beforeAll(async () => {
  model = await EngineModel.load(tinyModel(tmp.dir, 'gqa'));
});
afterAll(() => {
  model?.free();
  tmp.cleanup();
});

/** Bytes of one cache entry (K and V, f32) in one set of one layer. */
const entryBytes = () => 2 * model.info.head_dim * 4;

describe('degenerate cases are exact', () => {
  it('one chunk without eviction is full attention over chunk ‖ question', async () => {
    const one = { ...sample, chunks: [sample.chunks[0]!] };
    const pcw = await engineRun(model, one, config('pcw'));
    const full = await engineRun(model, one, config('full'));
    // Same cache, same positions, same tokens; the logits agree to f32 rounding only, because the
    // re-encoded question runs as its own forward (other matmul row blocks) rather than after the chunk.
    expect(pcw.trace.finalCache.map((l) => l.map((s) => s.map(([c, i]) => (c === -1 ? one.chunks[0]!.length + i : i)))))
      .toEqual(full.trace.finalCache.map((l) => l.map((s) => s.map(([, i]) => i))));
    const ids = (r: typeof pcw) => r.trace.finalTopLogits.map(([id]) => id);
    expect(ids(pcw)).toEqual(ids(full));
    pcw.trace.finalTopLogits.forEach(([, v], i) => expect(Math.abs(v - full.trace.finalTopLogits[i]![1])).toBeLessThan(1e-6 * Math.abs(full.trace.finalTopLogits[0]![1]) + 1e-6));
    expect(Array.from(pcw.tokens)).toEqual(Array.from(full.tokens));
    expect(pcw.trace.questionPositions).toEqual(full.trace.questionPositions);
    expect(pcw.trace.generatedPositions).toEqual(full.trace.generatedPositions);
  });

  it('keeping every chunk without KV eviction is PCW', async () => {
    const pcw = await engineRun(model, sample, config('pcw'));
    const all = await engineRun(model, sample, config('parallelcomp', ['chunkEvict.k=8']));
    expect(all.trace.keptChunks).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(all.trace.finalCache).toEqual(pcw.trace.finalCache);
    expect(all.trace.finalTopLogits).toEqual(pcw.trace.finalTopLogits);
    expect(Array.from(all.tokens)).toEqual(Array.from(pcw.tokens));
  });

  it('waves change nothing but memory', async () => {
    const one = await engineRun(model, sample, config('parallelcomp', ['chunk.parallel=1']));
    const all = await engineRun(model, sample, config('parallelcomp'));
    expect(one.trace.chunkScores).toEqual(all.trace.chunkScores);
    expect(one.trace.finalTopLogits).toEqual(all.trace.finalTopLogits);
    expect(one.trace.peakCacheBytes).toBeLessThan(all.trace.peakCacheBytes);
  });
});

describe('evicted chunks and tokens are freed', () => {
  const { layers, sets } = { layers: 3, sets: 2 };
  const nq = sample.question.length;

  it('chunks out of the top k are freed during the prefill', async () => {
    const r = await engineRun(model, sample, config('parallelcomp', ['chunk.parallel=1', 'chunkEvict.k=1']));
    const kept = r.trace.keptChunks[0]!;
    // After the prefill only the kept chunk's cache is left: its input, every layer and KV head.
    expect(r.trace.cacheBytesAfterPrefill).toBe(layers * sets * (sample.chunks[kept]!.length + nq) * entryBytes());
    expect(r.trace.freedChunks.length).toBe(7);
    // The peak holds at most two chunks at once (the kept one and the one being scored) plus the
    // global copy; PCW holds all eight.
    const inputs = sample.chunks.map((c) => c.length + nq).sort((a, b) => b - a);
    expect(r.trace.peakCacheBytes).toBeLessThanOrEqual(layers * sets * 2 * (inputs[0]! + inputs[1]!) * entryBytes());
    const pcw = await engineRun(model, sample, config('pcw', ['chunk.parallel=1']));
    const allInputs = inputs.reduce((a, b) => a + b, 0);
    expect(pcw.trace.peakCacheBytes).toBeGreaterThanOrEqual(layers * sets * allInputs * entryBytes());
    expect(r.trace.peakCacheBytes * 2).toBeLessThan(pcw.trace.peakCacheBytes);
  });

  it('KV eviction leaves BOS, capacity tokens and the question per head', async () => {
    const capacity = 5;
    const r = await engineRun(model, sample, config('parallelcomp-kv', ['chunk.parallel=1', 'chunkEvict.k=2', `kvEvict.capacity=${capacity}`]));
    expect(r.trace.cacheBytesAfterPrefill).toBe(2 * layers * sets * (1 + capacity + nq) * entryBytes());
    for (const chunk of r.trace.kvKept) for (const layer of chunk) for (const set of layer) expect(set.length).toBe(1 + capacity + nq);
  });
});

describe('progress, cancellation, errors', () => {
  it('reports prefill per wave and decode per token', async () => {
    const seen: string[] = [];
    const cfg = config('parallelcomp', ['chunk.parallel=3']);
    await model.run(
      { chunks: sample.chunks.map((c) => Int32Array.from(c)), question: Int32Array.from(sample.question), maxNewTokens: 3, stopIds: [] },
      cfg,
      { onProgress: (stage, done, total) => seen.push(`${stage} ${done}/${total}`) },
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual(['prefill 0/8', 'prefill 3/8', 'prefill 6/8', 'prefill 8/8', 'decode 1/3', 'decode 2/3', 'decode 3/3']);
  });

  it('an aborted signal cancels the run', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      model.run({ chunks: sample.chunks.map((c) => Int32Array.from(c)), question: Int32Array.from(sample.question), maxNewTokens: 3 }, config('parallelcomp'), { signal: ac.signal }),
    ).rejects.toBeInstanceOf(Interrupted);
  });

  it('config errors name the key', async () => {
    const run = (cfg: object) => model.run({ chunks: [Int32Array.from(sample.chunks[0]!)], question: Int32Array.from(sample.question), maxNewTokens: 1 }, cfg);
    await expect(run({ ...config('parallelcomp'), 'chunk.bugdet': 3 })).rejects.toThrow(/unknown key "chunk.bugdet"/);
    await expect(run({ ...config('parallelcomp'), 'kvEvict.capacity': -1 })).rejects.toThrow(/"kvEvict.capacity" must be int >= 0, got -1/);
    await expect(run({ ...config('parallelcomp'), pipeline: ['chunk-prefill', 'global-reencode'] })).rejects.toThrow(/"pipeline"/);
    await expect(run(config('parallelcomp-calib'))).rejects.toThrow(/calib.rules: rule recent:9-16 starts past the model's 3 layers/);
    await expect(run({ ...config('parallelcomp'), 'chunk.bugdet': 3 })).rejects.toBeInstanceOf(UserError);
  });
});

describe('streaming baseline', () => {
  it('keeps sink + window tokens at positions 0..; with room for everything it is full attention', async () => {
    const one = { ...sample, chunks: [sample.chunks[0]!] };
    const s = await engineRun(model, one, config('streaming', ['streaming.sink=2', 'streaming.window=10']));
    expect(s.trace.promptLength).toBe(12);
    expect(s.trace.finalCache[0]![0]!.map(([, i]) => i)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    // Decoding past the cache size: the oldest recent entry leaves, every new token enters at the last slot.
    const rolled = await engineRun(model, { ...one, maxNew: 5 }, config('streaming', ['streaming.sink=2', 'streaming.window=10']));
    expect(rolled.trace.generatedPositions).toEqual([11, 11, 11, 11, 11]);
    const wide = await engineRun(model, one, config('streaming'));
    const full = await engineRun(model, one, config('full'));
    expect(wide.trace.finalTopLogits).toEqual(full.trace.finalTopLogits);
  });
});

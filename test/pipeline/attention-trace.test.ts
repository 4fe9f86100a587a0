// The engine's attention trace (trace.attention, pcomp attn) against the float64 reference
// (test/oracle/policies/attention-trace.ts, recorded inside referencePipeline's hooked forward) on
// seeded random tiny models: per layer and query head, the position bins, the cache regions and the
// per-chunk regions within f32 tolerance, the same cache lengths and chunk groups, under full
// attention and the chunked pipeline (chunk eviction, KV eviction, calibration after and before).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineModel } from '../../engine/index.js';
import { referencePipeline, type PipelineSample } from '../oracle/policies/pipeline.js';
import type { TraceLayer } from '../oracle/policies/attention-trace.js';
import { tempDir } from '../engine/helpers.js';
import { config, engineRun, makeSample, tinyModel } from './helpers.js';

const tmp = tempDir('pcomp-attn-trace-');
const dirs: Record<string, string> = {};
const models: Record<string, EngineModel> = {};
const sample = makeSample([20, 24, 18, 22], 5, 10);
const one: PipelineSample = { ...sample, chunks: [[...sample.chunks[0]!, ...sample.chunks[1]!.slice(1)]] };

beforeAll(async () => {
  dirs.gqa = tinyModel(tmp.dir, 'gqa');
  dirs.mha = tinyModel(tmp.dir, 'mha', { numKvHeads: 4, seed: 9 });
  for (const [k, d] of Object.entries(dirs)) models[k] = await EngineModel.load(d);
});
afterAll(() => {
  for (const m of Object.values(models)) m.free();
  tmp.cleanup();
});

interface EngineTrace {
  window: number; bins: number; positions: number; chunkOffsets: number[]; questionOffset: number;
  layers: TraceLayer[];
}

const trace = ['trace.attention=true', 'trace.bins=7', 'trace.sinkSize=5', 'trace.recentSize=6', 'trace.window=4'];
const calib = ['calib.rules=middle:1-1,recent:2-2,sink:3-3', 'calib.sinkSize=6', 'calib.recentSize=6', 'calib.threshold=0.04'];

function close(got: number[][], want: number[][], what: string) {
  expect(got.length, what).toBe(want.length);
  got.forEach((row, h) => {
    expect(row.length, `${what} head ${h}`).toBe(want[h]!.length);
    row.forEach((v, i) => expect(Math.abs(v - want[h]![i]!), `${what} head ${h} [${i}]`).toBeLessThan(2e-6));
  });
}

async function compare(preset: string, sets: string[], s: PipelineSample = sample, model = 'gqa') {
  const cfg = config(preset, [...trace, ...sets]);
  const ref = referencePipeline(dirs[model]!, s, cfg);
  const got = await engineRun(models[model]!, s, cfg);
  const t = got.trace.attention as EngineTrace;
  expect(ref.attention).toBeDefined();
  expect(t.layers.length).toBe(ref.attention!.length);
  t.layers.forEach((l, li) => {
    const r = ref.attention![li]!;
    expect(l.rows).toBe(r.rows);
    expect(l.cacheLengths, `layer ${li}`).toEqual(r.cacheLengths);
    expect(l.groups, `layer ${li}`).toEqual(r.groups);
    close(l.bins, r.bins, `layer ${li} bins`);
    close(l.regions, r.regions, `layer ${li} regions`);
    close(l.groupRegions, r.groupRegions, `layer ${li} groupRegions`);
    // Every head's mass sums to 1 in each fold (the rows' softmax sums to 1 over what they see).
    for (const fold of [l.bins, l.regions, l.groupRegions]) for (const row of fold) expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-9);
  });
  // Observation only: the run's tokens and logits are those of the same config without the trace.
  const plain = await engineRun(models[model]!, s, config(preset, sets));
  expect(Array.from(got.tokens)).toEqual(Array.from(plain.tokens));
  return { t, ref };
}

describe('the attention trace matches the float64 reference', () => {
  it('full attention: one sequence, all three regions populated', async () => {
    const { t } = await compare('full', [], one);
    expect(t.positions).toBe(one.chunks[0]!.length + one.question.length);
    for (const l of t.layers) for (const r of l.regions) expect(Math.min(...r)).toBeGreaterThan(0);
  });
  it('full attention on a multi-head model', async () => {
    await compare('full', [], one, 'mha');
  });
  it('parallelcomp: chunk eviction, groups in document order, then the question', async () => {
    const { t } = await compare('parallelcomp', []);
    expect(t.chunkOffsets).toEqual([0, 20, 44, 62]);
    for (const l of t.layers) expect(l.groups[l.groups.length - 1]).toBe(-1);
  });
  it('pcw (no eviction), window larger than the question', async () => {
    await compare('pcw', ['trace.window=64', 'trace.bins=1']);
  });
  it('KV eviction and calibration, after calibration and before it', async () => {
    const kv = ['kvEvict.capacity=9', ...calib];
    const after = await compare('parallelcomp-calib-kv', kv);
    const before = await compare('parallelcomp-calib-kv', [...kv, 'trace.after=kv']);
    // Calibration evicts at some layer: the cache the trace saw there differs between the two.
    const lens = (x: typeof after) => x.t.layers.map((l) => l.cacheLengths.join(','));
    expect(lens(after)).not.toEqual(lens(before));
  });
  it('expanded-heads KV eviction and calibration (one cache set per query head)', async () => {
    await compare('parallelcomp-calib-kv', ['kvEvict.capacity=9', ...calib, 'calib.gqa=expanded-heads', 'kvEvict.gqa=expanded-heads']);
  });
});

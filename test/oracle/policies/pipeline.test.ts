// referencePipeline on seeded tiny models: exact degenerate cases, cross-checks against the plain
// forward pass (test/oracle/forward.ts), and the invariants each stage promises.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../engine/policy-config.js';
import { ReferenceModel, referenceGreedy, referenceLogits, referenceNll } from '../forward.js';
import { writeTinyModel, type TinyModelSpec } from '../model-writer.js';
import { mulberry32 } from '../prng.js';
import { selectChunks } from './chunk-evict.js';
import { HookedModel } from './hooked-forward.js';
import { referencePipeline, type PipelineSample } from './pipeline.js';

const BOS = 1;
const root = mkdtempSync(path.join(os.tmpdir(), 'pcomp-pipeline-'));
const model = (name: string, spec: TinyModelSpec) => writeTinyModel(path.join(root, name), { seed: 7, numLayers: 3, weightStd: 0.3, ...spec }).dir;

function randomTokens(rand: () => number, n: number): number[] {
  return Array.from({ length: n }, () => 3 + Math.floor(rand() * 290));
}

function makeSample(lengths: number[], seed = 11): PipelineSample {
  const rand = mulberry32(seed);
  return { chunks: lengths.map((n) => [BOS, ...randomTokens(rand, n - 1)]), question: randomTokens(rand, 6), maxNew: 4 };
}

let gqaDir: string;
let mhaDir: string;
const sample = makeSample([20, 24, 18, 22]);

beforeAll(() => {
  gqaDir = model('gqa', {});
  mhaDir = model('mha', { numKvHeads: 4 });
});

const run = (preset: string, sets: string[] = [], s = sample, dir = gqaDir) => referencePipeline(dir, s, resolveConfig(preset, sets));

describe('hooked forward', () => {
  it('equals the plain reference forward, expanded or not', () => {
    const tokens = randomTokens(mulberry32(3), 18);
    const positions = [...Array.from({ length: 15 }, (_, i) => i), 40, 41, 42];
    const plain = ReferenceModel.load(gqaDir);
    const cache = plain.emptyCache();
    const want = [...plain.forwardStep(tokens.slice(0, 15), positions.slice(0, 15), cache), ...plain.forwardStep(tokens.slice(15), positions.slice(15), cache)];
    for (const expanded of [false, true]) {
      const hooked = HookedModel.load(gqaDir);
      const hc = hooked.emptyCache(expanded);
      const tags = tokens.map((_, i) => ({ chunk: 0, index: i }));
      const got = [
        ...hooked.step(tokens.slice(0, 15), positions.slice(0, 15), hc, { tags: tags.slice(0, 15) }),
        ...hooked.step(tokens.slice(15), positions.slice(15), hc, { tags: tags.slice(15) }),
      ];
      got.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(want[i][j], 12)));
    }
  });
});

describe('degenerate cases are exact', () => {
  it('one chunk without eviction is full attention', () => {
    const one: PipelineSample = { ...sample, chunks: [sample.chunks[0]] };
    const prompt = [...one.chunks[0], ...one.question];
    const r = run('pcw', [], one);
    const want = referenceLogits(gqaDir, prompt).at(-1)!;
    r.finalLogits.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    expect(r.generated).toEqual(referenceGreedy(gqaDir, prompt, one.maxNew));
    expect(r.questionPositions).toEqual(one.question.map((_, i) => one.chunks[0].length + i));
    expect(r.generatedPositions).toEqual(r.generated.map((_, t) => prompt.length + t));
  });

  it('perplexity mode scores the evaluated tokens as one longer forward would', () => {
    const one: PipelineSample = { ...sample, chunks: [sample.chunks[0]], maxNew: 0, evaluate: [40, 41, 42, 43] };
    const prompt = [...one.chunks[0], ...one.question, ...one.evaluate!];
    const nll = referenceNll(gqaDir, prompt);
    const want = Array.from(nll.slice(-4));
    const got = run('pcw', [], one).evaluateNll;
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    run('full', [], one).evaluateNll.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    expect(run('pcw', [], one).generated).toEqual([]);
  });

  it('keeping every chunk without KV eviction is PCW', () => {
    const pcw = run('pcw');
    const all = run('parallelcomp', ['chunkEvict.k=4']);
    expect(all.keptChunks).toEqual([0, 1, 2, 3]);
    expect(all.globalCache).toEqual(pcw.globalCache);
    expect(Array.from(all.finalLogits)).toEqual(Array.from(pcw.finalLogits));
  });

  it('KV eviction with room for every token, and calibration with no outlier, change nothing', () => {
    const base = run('parallelcomp');
    expect(Array.from(run('parallelcomp-kv', ['kvEvict.capacity=1000']).finalLogits)).toEqual(Array.from(base.finalLogits));
    const calm = run('parallelcomp-calib', ['calib.threshold=0.999999', 'calib.rules=all:1-3']);
    expect(calm.finalCache).toEqual(base.finalCache);
    expect(Array.from(calm.finalLogits)).toEqual(Array.from(base.finalLogits));
  });

  it('full and snapkv with room for every token are the plain forward; middle truncation keeps head and tail halves', () => {
    const one: PipelineSample = { ...sample, chunks: [sample.chunks[1]] };
    const prompt = [...one.chunks[0], ...one.question];
    const want = referenceLogits(gqaDir, prompt).at(-1)!;
    expect(Array.from(run('full', [], one).finalLogits)).toEqual(Array.from(run('snapkv', ['snapkv.capacity=1000'], one).finalLogits));
    run('full', [], one).finalLogits.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    const cut = [...prompt.slice(0, 10), ...prompt.slice(-10)];
    const wantCut = referenceLogits(gqaDir, cut).at(-1)!;
    run('full', ['full.maxTokens=21'], one).finalLogits.forEach((v, i) => expect(v).toBeCloseTo(wantCut[i], 12));
  });
});

describe('chunk stages', () => {
  it('scores chunks by the mean question NLL of the plain forward and keeps the 3 lowest in order', () => {
    const r = run('parallelcomp');
    const lenQ = sample.question.length;
    const want = sample.chunks.map((ch) => {
      const nll = referenceNll(gqaDir, [...ch, ...sample.question]);
      return Array.from(nll.slice(ch.length - 1, ch.length - 1 + lenQ)).reduce((a, b) => a + b, 0) / lenQ;
    });
    r.chunkScores.forEach((s, i) => expect(s).toBeCloseTo(want[i], 12));
    expect(r.keptChunks).toEqual(selectChunks(want, 3));
    expect(run('parallelcomp', [], { ...sample, retrieval: true }).keptChunks).toEqual(selectChunks(want, 1));
    const ref = run('parallelcomp-reference');
    const nllWithBos = sample.chunks.map((ch) => {
      const nll = referenceNll(gqaDir, [...ch, BOS, ...sample.question]);
      return Array.from(nll.slice(ch.length - 1, ch.length + lenQ)).reduce((a, b) => a + b, 0) / lenQ;
    });
    ref.chunkScores.forEach((s, i) => expect(s).toBeCloseTo(nllWithBos[i], 12));
  });

  it('global cache: document order, no chunk question, one BOS; question after the longest kept chunk', () => {
    const r = run('parallelcomp');
    const lengths = r.keptChunks.map((c) => sample.chunks[c].length);
    expect(r.questionStart).toBe(Math.max(...lengths));
    for (const sets of r.globalCache) {
      for (const set of sets) {
        const expected = r.keptChunks.flatMap((c, order) => sample.chunks[c].map((_, i) => [c, i]).filter(([, i]) => order === 0 || i > 0));
        expect(set).toEqual(expected);
      }
    }
    // reference: without KV eviction, dropping cached index 0 of later chunks drops their BOS too
    const ref = run('parallelcomp-reference');
    const refLengths = ref.keptChunks.map((c) => sample.chunks[c].length);
    expect(ref.globalCache[0][0].length).toBe(refLengths.reduce((a, b) => a + b, 0) - (refLengths.length - 1));
    expect(ref.questionPositions.length).toBe(sample.question.length + 1);
  });
});

describe('KV eviction', () => {
  it('keeps BOS plus `capacity` context tokens per KV head, heads choosing their own', () => {
    const r = run('parallelcomp-kv', ['kvEvict.capacity=5']);
    const lenQ = sample.question.length;
    let headsDiffer = false;
    r.kvKept.forEach((layers, order) => {
      const lenC = sample.chunks[r.keptChunks[order]].length;
      for (const sets of layers) {
        expect(sets.length).toBe(2);
        for (const set of sets) {
          expect(set.length).toBe(1 + 5 + lenQ);
          expect(set[0]).toBe(0);
          expect(set.slice(-lenQ)).toEqual(sample.question.map((_, t) => lenC + t));
        }
        headsDiffer ||= JSON.stringify(sets[0]) !== JSON.stringify(sets[1]);
      }
    });
    expect(headsDiffer).toBe(true);
    expect(Array.from(r.finalLogits)).not.toEqual(Array.from(run('parallelcomp').finalLogits));
  });

  it('reference variant: one set per query head, later chunks never keep index 0', () => {
    const r = run('parallelcomp-kv-reference', ['kvEvict.capacity=5']);
    r.kvKept.forEach((layers, order) => {
      for (const sets of layers) {
        expect(sets.length).toBe(4);
        if (r.keptChunks[order] > 0) for (const set of sets) expect(set).not.toContain(0);
      }
    });
  });

  it('on a model without GQA, group-sum and expanded heads decide the same', () => {
    const a = run('parallelcomp-kv', ['kvEvict.capacity=5'], sample, mhaDir);
    const b = run('parallelcomp-kv', ['kvEvict.capacity=5', 'kvEvict.gqa=expanded-heads'], sample, mhaDir);
    expect(b.kvKept).toEqual(a.kvKept);
    expect(Array.from(b.finalLogits)).toEqual(Array.from(a.finalLogits));
  });
});

describe('calibration', () => {
  it('evicts during re-encoding, the same count on every head, only in the ruled layers', () => {
    const base = run('parallelcomp');
    const r = run('parallelcomp-calib', ['calib.threshold=0.05', 'calib.rules=all:2-3', 'calib.sinkSize=4', 'calib.recentSize=4']);
    const lenQ = sample.question.length;
    expect(r.finalCache[0]).toEqual(base.finalCache[0]);
    for (const l of [1, 2]) {
      const counts = r.finalCache[l].map((set) => set.length);
      expect(new Set(counts).size).toBe(1);
      expect(counts[0]).toBeLessThan(base.globalCache[l][0].length + lenQ);
      // paper regions cover the cached context only: the question's own entries stay
      for (const set of r.finalCache[l]) expect(set.filter(([c]) => c === -1).length).toBe(lenQ);
    }
  });

  it('reference variant: per query head, the question\'s own entries can go, and the re-encoding mask then matters', () => {
    const sets = ['calib.threshold=0.02', 'calib.rules=recent:2-3', 'calib.sinkSize=4', 'calib.recentSize=8'];
    const code = run('parallelcomp-calib-reference', sets);
    const lenQ = sample.question.length + 1; // the reference question carries its BOS
    for (const l of [1, 2]) {
      expect(code.finalCache[l].length).toBe(4);
      expect(new Set(code.finalCache[l].map((set) => set.length)).size).toBe(1);
    }
    const questionLeft = code.finalCache[2].map((set) => set.filter(([c]) => c === -1).length);
    expect(Math.min(...questionLeft)).toBeLessThan(lenQ);
    const byPosition = run('parallelcomp-calib-reference', [...sets, 'calib.reencodeMask=by-position']);
    expect(Array.from(byPosition.finalLogits)).not.toEqual(Array.from(code.finalLogits));
  });

  it('on a model without GQA, group-mean and expanded heads decide the same', () => {
    const sets = ['calib.threshold=0.05', 'calib.rules=middle:1-3', 'calib.sinkSize=3', 'calib.recentSize=3'];
    const a = run('parallelcomp-calib', sets, sample, mhaDir);
    const b = run('parallelcomp-calib', [...sets, 'calib.gqa=expanded-heads'], sample, mhaDir);
    expect(b.finalCache).toEqual(a.finalCache);
    expect(Array.from(b.finalLogits)).toEqual(Array.from(a.finalLogits));
  });

  it('in-chunk calibration (prefill_1) evicts context entries of each chunk, never its question', () => {
    const base = run('parallelcomp');
    const calm = run('parallelcomp-calib', ['calib.stage=chunk', 'calib.threshold=0.999999', 'calib.rules=all:1-3']);
    expect(Array.from(calm.finalLogits)).toEqual(Array.from(base.finalLogits));
    const r = run('parallelcomp-calib', ['calib.stage=chunk', 'calib.threshold=0.05', 'calib.rules=all:2-3']);
    const lenQ = sample.question.length;
    r.kvKept.forEach((layers, order) => {
      const lenC = sample.chunks[r.keptChunks[order]].length;
      expect(layers[0].every((set) => set.length === lenC + lenQ)).toBe(true);
      for (const l of [1, 2]) {
        for (const set of layers[l]) {
          expect(set.length).toBe(layers[l][0].length);
          expect(set.filter((i) => i >= lenC).length).toBe(lenQ);
        }
      }
    });
    expect(r.kvKept.some((layers) => layers[1][0].length < layers[0][0].length)).toBe(true);
  });

  it('rejects a rule past the last layer', () => {
    expect(() => run('parallelcomp-calib')).toThrow(/starts past the model's 3 layers/);
  });
});

describe('position baselines match a model whose config carries the scaling', () => {
  const one = (): PipelineSample => ({ ...sample, chunks: [sample.chunks[1]] });
  const prompt = () => [...sample.chunks[1], ...sample.question];

  it('linear PI and dynamic NTK', () => {
    const linear = model('linear2', { ropeScaling: { rope_type: 'linear', factor: 2 } });
    const dynamic = model('dynamic2', { ropeScaling: { rope_type: 'dynamic', factor: 2 }, maxPositionEmbeddings: 16 });
    const small = model('small16', { maxPositionEmbeddings: 16 });
    const a = run('pi', ['rope.factor=2'], one()).finalLogits;
    referenceLogits(linear, prompt()).at(-1)!.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 12));
    const b = run('dynamic-ntk', ['rope.factor=2'], one(), small).finalLogits;
    referenceLogits(dynamic, prompt()).at(-1)!.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 12));
  });

  it('NTK-aware scaling is a larger RoPE base', () => {
    const d = 32 / 4;
    const ntk = model('ntk3', { ropeTheta: 10000 * 3 ** (d / (d - 2)) });
    const a = run('ntk', ['rope.factor=3'], one()).finalLogits;
    referenceLogits(ntk, prompt()).at(-1)!.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 12));
  });
});

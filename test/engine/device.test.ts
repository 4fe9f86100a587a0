// Device selection through EngineModel.load: cpu by default, auto resolved by the engine (the CPU
// here unless the build has CUDA and a usable GPU), cuda refused with the engine's reason when no GPU
// is usable, and on a GPU every call and config running there.
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { EngineModel, buildInfo } from '../../engine/index.js';
import { presetNames, resolveConfig } from '../../engine/policy-config.js';
import { UserError } from '../../util/errors.js';
import { writeTinyModel } from '../oracle/model-writer.js';
import { seededTokens, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const dir = writeTinyModel(path.join(tmp.dir, 'm'), { seed: 11 }).dir;
const gpu = buildInfo().cuda_available;

describe('EngineModel.load device', () => {
  it('is cpu by default and when asked', async () => {
    for (const opts of [{}, { device: 'cpu' as const }]) {
      const m = await EngineModel.load(dir, opts);
      try {
        expect(m.info.device).toBe('cpu');
        expect(m.info.backend).toBe('cpu');
      } finally {
        m.free();
      }
    }
  });

  it(`auto resolves to ${gpu ? 'cuda (a usable GPU is present)' : 'cpu (no usable GPU here)'} and runs there`, async () => {
    const m = await EngineModel.load(dir, { device: 'auto' });
    try {
      expect(m.info.device).toBe(gpu ? 'cuda' : 'cpu');
      const r = await m.run(
        { chunks: [seededTokens(40, m.info.vocab_size, 1), seededTokens(30, m.info.vocab_size, 2)], question: seededTokens(6, m.info.vocab_size, 3), maxNewTokens: 3, stopIds: [] },
        { 'chunk.enabled': true, 'chunkEvict.enabled': true, 'chunkEvict.k': 1 },
      );
      expect(r.tokens.length).toBe(3);
      expect(r.trace.keptChunks).toHaveLength(1);
      expect(r.trace.device ?? 'cpu').toBe(m.info.device);
    } finally {
      m.free();
    }
  });

  it('checkConfig refuses what run() would, without running (cpu: bad keys and layers)', async () => {
    const m = await EngineModel.load(dir, { device: 'cpu' });
    try {
      expect(() => m.checkConfig({ 'rope.scaling': 'ntk' })).not.toThrow();
      expect(() => m.checkConfig({ 'chunk.enbled': true })).toThrow(UserError);
      expect(() => m.checkConfig({ 'chunk.enbled': true })).toThrow(/unknown key "chunk.enbled"/);
      expect(() => m.checkConfig({ 'chunk.enabled': true, 'calib.enabled': true, 'calib.rules': [{ region: 'all', from: 99, to: 99 }] }))
        .toThrow(/starts past the model's \d+ layers/);
    } finally {
      m.free();
    }
  });

  it.skipIf(gpu)('cuda without a usable GPU is a UserError carrying the reason (skipped where a GPU is usable)', async () => {
    const reason = buildInfo().cuda_reason;
    expect(reason).not.toBe('');
    const err = await EngineModel.load(dir, { device: 'cuda' }).then(
      (m) => { m.free(); return null; },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toContain('device cuda is not available');
    expect((err as UserError).message).toContain(reason);
  });

  it('every preset passes the config check on the device auto picks (cuda where a GPU is usable: nothing is refused there)', async () => {
    // 32 layers: the paper's calibration rules name layers up to 32.
    const deep = writeTinyModel(path.join(tmp.dir, 'deep'), { seed: 12, numLayers: 32 }).dir;
    const m = await EngineModel.load(deep, { device: 'auto' });
    try {
      const names = presetNames();
      expect(names.length).toBeGreaterThan(5);
      for (const name of names) expect(() => m.checkConfig(resolveConfig(name)), name).not.toThrow();
    } finally {
      m.free();
    }
  });

  it.runIf(gpu)('on cuda, logits run and every preset passes the config check (runs only where a GPU is usable)', async () => {
    const m = await EngineModel.load(dir, { device: 'cuda' });
    try {
      const l = await m.logits([{ tokens: seededTokens(5, m.info.vocab_size, 4) }]);
      expect(l.length).toBeGreaterThan(0);
      expect(() => m.checkConfig({ 'chunk.enabled': true, 'rope.scaling': 'ntk' })).not.toThrow();
      expect(() => m.checkConfig({ 'chunk.enabled': true, 'chunkEvict.enabled': true, 'kvEvict.enabled': true })).not.toThrow();
      const r = await m.run({ chunks: [seededTokens(20, m.info.vocab_size, 5)], question: seededTokens(4, m.info.vocab_size, 6), maxNewTokens: 2 },
        { 'chunk.enabled': true, 'rope.scaling': 'ntk' });
      expect(r.tokens.length).toBeLessThanOrEqual(2);
    } finally {
      m.free();
    }
  });
});

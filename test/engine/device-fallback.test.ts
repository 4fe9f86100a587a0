// --device and the config check: both devices run the one engine, so every config is checked on the
// device the model landed on and a refusal is the config's (a bad key), never a reason to move the
// run. The loader is faked (no GPU here or in CI): what is tested is the choice, not CUDA.
import { describe, expect, it } from 'vitest';
import type { Device, EngineModel } from '../../engine/index.js';
import { loadForConfigs } from '../../cli/runners/device.js';
import { UserError } from '../../util/errors.js';

interface Fake { device: 'cpu' | 'cuda'; freed: boolean }

function fakeLoader(gpuPresent: boolean) {
  const made: Fake[] = [];
  const load = async (device: Device): Promise<EngineModel> => {
    const f: Fake = { device: device === 'cpu' || (device === 'auto' && !gpuPresent) ? 'cpu' : 'cuda', freed: false };
    made.push(f);
    return {
      info: { device: f.device },
      checkConfig(config: { [k: string]: unknown }) {
        if (config['chunk.nope'] !== undefined) throw new UserError('config: unknown key "chunk.nope"');
      },
      free() { f.freed = true; },
    } as unknown as EngineModel;
  };
  return { load, made };
}

const parallelcomp = { name: 'parallelcomp', config: { 'chunk.enabled': true } };
const ntk = { name: 'ntk', config: { 'rope.scaling': 'ntk' } };
const bad = { name: 'bad', config: { 'chunk.nope': 1 } };

describe('loadForConfigs', () => {
  it('auto keeps the GPU for every config, the RoPE baselines included', async () => {
    const { load, made } = fakeLoader(true);
    const m = await loadForConfigs(load, 'auto', [parallelcomp, ntk]);
    expect(m.info.device).toBe('cuda');
    expect(made).toHaveLength(1);
  });

  it('a config the engine refuses is refused on the device it landed on, naming it, and the model is freed', async () => {
    for (const device of ['auto', 'cuda', 'cpu'] as const) {
      const { load, made } = fakeLoader(true);
      await expect(loadForConfigs(load, device, [parallelcomp, bad])).rejects.toThrow(/--config bad: config: unknown key "chunk\.nope"/);
      expect(made.map((f) => f.freed)).toEqual([true]);
    }
  });

  it('auto without a GPU is the CPU from the start', async () => {
    const { load, made } = fakeLoader(false);
    const m = await loadForConfigs(load, 'auto', [parallelcomp, ntk]);
    expect(m.info.device).toBe('cpu');
    expect(made).toHaveLength(1);
  });
});

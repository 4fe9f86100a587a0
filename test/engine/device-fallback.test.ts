// --device auto moves a run to the CPU when the GPU pipeline cannot run one of its configs; --device cuda
// refuses instead. The loader is faked (no GPU here or in CI): what is tested is the choice, not CUDA.
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
        if (f.device === 'cuda' && config['rope.scaling'] !== undefined && config['rope.scaling'] !== 'none')
          throw new UserError('rope.scaling=ntk is not implemented on cuda (use --device cpu)');
      },
      free() { f.freed = true; },
    } as unknown as EngineModel;
  };
  return { load, made };
}

const parallelcomp = { name: 'parallelcomp', config: { 'chunk.enabled': true } };
const ntk = { name: 'ntk', config: { 'rope.scaling': 'ntk' } };

describe('loadForConfigs', () => {
  it('auto keeps the GPU when it runs every config', async () => {
    const { load, made } = fakeLoader(true);
    const warnings: string[] = [];
    const m = await loadForConfigs(load, 'auto', [parallelcomp], (w) => warnings.push(w));
    expect(m.info.device).toBe('cuda');
    expect(made).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it('auto falls back to the CPU, with a warning naming the config and knob, when one config needs it', async () => {
    const { load, made } = fakeLoader(true);
    const warnings: string[] = [];
    const m = await loadForConfigs(load, 'auto', [parallelcomp, ntk], (w) => warnings.push(w));
    expect(m.info.device).toBe('cpu');
    expect(made.map((f) => [f.device, f.freed])).toEqual([['cuda', true], ['cpu', false]]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/--config ntk on device cuda: rope\.scaling=ntk .*CPU instead/);
  });

  it('cuda refuses such a config and frees the model', async () => {
    const { load, made } = fakeLoader(true);
    await expect(loadForConfigs(load, 'cuda', [ntk], () => {})).rejects.toThrow(/--config ntk on device cuda: rope\.scaling=ntk/);
    expect(made.map((f) => f.freed)).toEqual([true]);
  });

  it('auto without a GPU is the CPU from the start', async () => {
    const { load, made } = fakeLoader(false);
    const m = await loadForConfigs(load, 'auto', [parallelcomp, ntk], () => {});
    expect(m.info.device).toBe('cpu');
    expect(made).toHaveLength(1);
  });
});

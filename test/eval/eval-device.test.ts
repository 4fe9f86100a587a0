// `pcomp eval --device`: auto runs where the engine says (the CPU here unless a usable GPU is
// present) and the manifest records it; --device cuda without a usable GPU stops before anything is
// written, naming the reason, with a non-zero exit; with one, every config runs there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildInfo } from '../../engine/index.js';
import { cliEnv, pcomp, readJson, readPredictions, removeTempRoots, tempRoot, writeDataDir, writeModel } from './helpers.js';

afterAll(removeTempRoots);

const gpu = buildInfo().cuda_available;

describe('pcomp eval --device', () => {
  const root = tempRoot();
  const dataDir = path.join(root, 'data');
  const model = path.join(root, 'model');
  const env = cliEnv(path.join(root, 'cache'));
  const args = (out: string, device: string) => ['eval', 'longbench', '--model', model, '--config', 'parallelcomp', '--tasks', 'trec',
    '--data-dir', dataDir, '--out', out, '--set', 'chunk.budget=200', '--max-new-tokens', '4', '--threads', '1', '--device', device, '--quiet'];

  beforeAll(() => {
    writeDataDir(dataDir, { trec: 2 }, { contextWords: 80 });
    writeModel(model);
  });

  it(`auto runs the samples on ${gpu ? 'cuda' : 'the CPU'} and records it`, async () => {
    const out = path.join(root, 'auto');
    const r = await pcomp(args(out, 'auto'), env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readPredictions(out, 'parallelcomp', 'trec')).toHaveLength(2);
    expect(readJson(path.join(out, 'manifest.json')).device).toBe(gpu ? 'cuda' : 'cpu');
  });

  it.skipIf(gpu)('cuda without a usable GPU exits non-zero naming the reason and writes nothing (skipped where a GPU is usable)', async () => {
    const out = path.join(root, 'cuda');
    const r = await pcomp(args(out, 'cuda'), env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--device cuda: no usable GPU');
    expect(r.stderr).toContain(buildInfo().cuda_reason);
    expect(r.stderr).not.toMatch(/\n\s+at /);  // a UserError, not a stack
    expect(existsSync(out)).toBe(false);
  });

  it.runIf(gpu)('cuda runs a RoPE baseline beside parallelcomp (runs only where a GPU is usable)', async () => {
    const out = path.join(root, 'ntk');
    const r = await pcomp(args(out, 'cuda').map((a) => (a === 'parallelcomp' ? 'full,ntk' : a)), env);
    expect(r.code).toBe(0);
    expect(readJson(path.join(out, 'manifest.json')).device).toBe('cuda');
  });
});

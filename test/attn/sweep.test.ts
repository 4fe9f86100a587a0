// `pcomp attn sweep`: the layer ranges of Tables 6/8 scaled to the model's depth, the table's layout,
// and the sweep end to end on the built-in model with synthetic passkey records (the official
// InfiniteBench scorer): one baseline and one cell per region and range, each scored over the samples.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { layerRanges, sweepMarkdown } from '../../results/sweep.js';
import { cliEnv, pcomp, tempRoot } from '../ppl/helpers.js';

describe('layer ranges and the table', () => {
  it('32 layers give the paper\'s 1-8, 9-16, 17-24, 25-32; shallow models one range per layer or more', () => {
    expect(layerRanges(32)).toEqual([[1, 8], [9, 16], [17, 24], [25, 32]]);
    expect(layerRanges(5)).toEqual([[1, 1], [2, 2], [3, 3], [4, 5]]);
    expect(layerRanges(2)).toEqual([[1, 1], [2, 2]]);
  });
  it('rows per region, columns per range, the baseline below', () => {
    const md = sweepMarkdown([
      { region: 'none', from: 0, to: 0, score: 50, samples: 2 },
      { region: 'recent', from: 1, to: 2, score: 25, samples: 2 },
      { region: 'sink', from: 1, to: 2, score: 0, samples: 2 },
    ], { task: 'passkey', model: 'm' });
    expect(md).toContain('| evicted region | layers 1-2 |');
    expect(md).toContain('| recent | 25.00 |');
    expect(md).toContain('| sink | 0.00 |');
    expect(md).toContain('| middle |  |');
    expect(md).toContain('calib.enabled=false): 50.00');
  });
});

describe('pcomp attn sweep', () => {
  it('built-in model on synthetic passkey: every region × range cell, scores in [0, 100]', async () => {
    const root = tempRoot('pcomp-sweep-');
    const env = cliEnv(path.join(root, 'hf'));
    const data = path.join(root, 'data');
    mkdirSync(data, { recursive: true });
    const synth = await pcomp(['data', 'synth', 'passkey', '--len', '600', '--n', '2', '--out', path.join(data, 'passkey.jsonl')], env);
    expect(synth.code).toBe(0);
    const out = path.join(root, 'out');
    const r = await pcomp(['attn', 'sweep', '--model', 'builtin:tiny', '--task', 'passkey', '--data-dir', data, '--samples', '2', '--device', 'cpu', '--out', out], env);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as { cells: Array<{ region: string; from: number; to: number; score: number; samples: number }> };
    expect(s.cells.map((c) => `${c.region}:${c.from}-${c.to}`)).toEqual(['none:0-0',
      'recent:1-1', 'recent:2-2', 'recent:3-3', 'recent:4-4', 'sink:1-1', 'sink:2-2', 'sink:3-3', 'sink:4-4', 'middle:1-1', 'middle:2-2', 'middle:3-3', 'middle:4-4']);
    for (const c of s.cells) {
      expect(c.samples).toBe(2);
      expect(c.score).toBeGreaterThanOrEqual(0);
      expect(c.score).toBeLessThanOrEqual(100);
    }
    expect(r.stdout).toContain('| evicted region | layers 1-1 | layers 2-2 | layers 3-3 | layers 4-4 |');
    expect(readFileSync(path.join(out, 'sweep.csv'), 'utf8').split('\n')[0]).toBe('region,from,to,score,samples');
  }, 120_000);
  it('a base config without chunking is refused with exit 2', async () => {
    const root = tempRoot('pcomp-sweep-');
    const r = await pcomp(['attn', 'sweep', '--model', 'builtin:tiny', '--task', 'passkey', '--base', 'full', '--data-dir', root], cliEnv(path.join(root, 'hf')));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--base full');
  }, 60_000);
});

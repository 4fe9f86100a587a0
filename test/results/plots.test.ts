import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { CONFIG_COLORS, formatLength, pplChartSpec, pplMarkdown, pplTerminalChart, writePplOutputs } from '../../results/plots.js';
import { PplStore, readPplPoints, type PplPoint } from '../../results/ppl-store.js';
import { columnsWithColor, decodePng } from './helpers/png-decode.js';

const LENGTHS = [512, 1024, 2048, 4096, 8192];
const CURVES: Record<string, (i: number) => number> = {
  full: (i) => 5 * Math.exp(1.2 * i),
  parallelcomp: (i) => 5 + 0.4 * i,
  ntk: (i) => 6 + i * i,
};
const points: PplPoint[] = Object.entries(CURVES).flatMap(([config, f]) =>
  LENGTHS.map((length, i) => ({ config, length, ppl: f(i), samples: 3, skipped: 0, tokens: 3 * 256 })));

describe('perplexity chart', () => {
  it('is a log-scale vega-lite spec with one colour per config and the trained length marked', () => {
    const spec = pplChartSpec(points, { trainedLength: 512 }) as any;
    const line = spec.layer[0];
    expect(line.encoding.y.scale.type).toBe('log');
    expect(line.encoding.color.scale).toEqual({ domain: ['full', 'parallelcomp', 'ntk'], range: CONFIG_COLORS.slice(0, 3) });
    expect(spec.layer[1].mark.type).toBe('rule');
    expect(spec.layer[1].data.values[0].length).toBe(512);
  });

  it('renders a PNG of the requested size with one coloured line per config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcomp-plot-'));
    const { files, terminalChart } = await writePplOutputs(dir, points, { trainedLength: 512, width: 800, height: 480 });
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['ppl.csv', 'ppl.arrow', 'ppl.md', 'ppl.svg', 'ppl.png']);
    const img = decodePng(readFileSync(join(dir, 'ppl.png')));
    expect([img.width, img.height]).toEqual([800, 480]);
    // each config's colour spans most of the plot's width (a line, not just its legend swatch) ...
    for (const color of CONFIG_COLORS.slice(0, 3)) expect(columnsWithColor(img, color).size).toBeGreaterThan(400);
    // ... and no other line colour is drawn
    for (const color of CONFIG_COLORS.slice(3)) expect(columnsWithColor(img, color).size).toBeLessThan(10);
    // the dashed rule: one column of grey running most of the plot's height
    const greyPerColumn = new Map<number, number>();
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++) {
        const i = (y * img.width + x) * 4;
        if (Math.abs(img.rgba[i] - 0x55) <= 12 && img.rgba[i] === img.rgba[i + 1] && img.rgba[i + 1] === img.rgba[i + 2])
          greyPerColumn.set(x, (greyPerColumn.get(x) ?? 0) + 1);
      }
    expect(Math.max(...greyPerColumn.values())).toBeGreaterThan(150);
    expect(terminalChart).toContain('── full');
  });

  it('draws a terminal chart with perplexity labels and the lengths below', () => {
    const chart = pplTerminalChart(points, { trainedLength: 512 });
    const lines = chart.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s+607\.55 ┤/); // the top label is the largest perplexity, not its log
    expect(lines.at(-2)!.trim()).toMatch(/^512\*\s+1k\s+2k\s+4k\s+8k$/);
    expect(lines.at(-1)).toContain('── parallelcomp');
    expect(chart).not.toContain('\u001b['); // no colour codes unless asked
  });
});

describe('perplexity tables and store', () => {
  it('formats lengths the way the flags spell them', () => {
    expect([512, 1024, 2048, 131072, 1536, 1000].map(formatLength)).toEqual(['512', '1k', '2k', '128k', '1.5k', '1000']);
  });

  it('tabulates configs × lengths with two decimals', () => {
    const md = pplMarkdown(points, { trainedLength: 512 });
    expect(md.split('\n').slice(0, 5)).toEqual([
      '| config | 512* | 1k | 2k | 4k | 8k |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      '| full | 5.00 | 16.60 | 55.12 | 182.99 | 607.55 |',
      '| parallelcomp | 5.00 | 5.40 | 5.80 | 6.20 | 6.60 |',
      '| ntk | 6.00 | 7.00 | 10.00 | 15.00 | 22.00 |',
    ]);
  });

  it('aggregates NLL lines token-weighted, counts skipped samples, and survives a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcomp-ppl-'));
    const id = { model: { id: 'm' }, configs: { full: {} }, settings: { evalTokens: 4 }, shard: { index: 0, count: 1 } };
    let store = PplStore.open(dir, id);
    store.plan(512, ['a', 'b', 'c']);
    store.append('full', 512, { _id: 'a', index: 0, nll: 1, tokens: 4 });
    store.finish();
    store = PplStore.open(dir, id);
    store.plan(512, ['a', 'b', 'c']);
    expect(store.pending('full', 512)).toEqual(['b', 'c']);
    store.append('full', 512, { _id: 'b', index: 1, nll: 2, tokens: 12 });
    store.append('full', 512, { _id: 'c', index: 2, skipped: 'shorter than 512 tokens' });
    expect(() => store.append('full', 512, { _id: 'a', index: 0 })).toThrow(/finite nll/);
    store.finish();
    const [p] = readPplPoints(dir);
    // (1·4 + 2·12) / 16 = 1.75
    expect(p).toEqual({ config: 'full', length: 512, ppl: Math.exp(1.75), samples: 2, skipped: 1, tokens: 16 });
    const out = await writePplOutputs(dir, [p]);
    expect(readFileSync(join(dir, 'ppl.csv'), 'utf8')).toBe(`config,length,ppl,samples,skipped,tokens\nfull,512,${Math.exp(1.75)},2,1,16\n`);
    const arrow = tableFromIPC(readFileSync(join(dir, 'ppl.arrow')));
    expect(arrow.toArray().map((r) => r.toJSON())).toEqual([p]);
    expect(out.files).toHaveLength(5);
  });
});

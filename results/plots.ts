// Perplexity against context length, one line per config, the model's trained length marked:
//   a vega-lite spec → vega (headless, renderer 'none') → SVG → resvg → PNG, all offline;
//   an asciichart rendering for the terminal; and ppl.csv / ppl.arrow / ppl.md.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import asciichart from 'asciichart';
import { stringify } from 'csv-stringify/sync';
import { Float64, Int32, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { formatFixed } from './format.js';
import type { PplPoint } from './ppl-store.js';

/** Line colours, one per config in run order; none grey, so they stay apart from axes, grid and the trained-length rule. */
export const CONFIG_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
const RULE_COLOR = '#555555';

export interface PplChartOptions {
  /** The model's trained context length, drawn as a dashed rule. */
  trainedLength?: number;
  title?: string;
  width?: number;
  height?: number;
}

/** "2k", "128k", "1.5k", "512". */
export function formatLength(tokens: number): string {
  if (tokens < 1024 || tokens % 512 !== 0) return String(tokens);
  return `${tokens / 1024}k`;
}

function configsInOrder(points: readonly PplPoint[]): string[] {
  return [...new Set(points.map((p) => p.config))];
}

export function pplChartSpec(points: readonly PplPoint[], opts: PplChartOptions = {}): TopLevelSpec {
  const configs = configsInOrder(points);
  if (configs.length > CONFIG_COLORS.length) throw new Error(`at most ${CONFIG_COLORS.length} configs fit one chart`);
  const lengths = [...new Set([...points.map((p) => p.length), ...(opts.trainedLength ? [opts.trainedLength] : [])])].sort((a, b) => a - b);
  const x = {
    field: 'length', type: 'quantitative' as const, title: 'context length (tokens)',
    // a little room either side, so a rule at the first or last length stays clear of the axes
    scale: { type: 'log' as const, base: 2, domain: [lengths[0] / 2 ** 0.25, lengths[lengths.length - 1] * 2 ** 0.25], nice: false },
    axis: { values: lengths, labelExpr: "datum.value >= 1024 ? format(datum.value / 1024, '~g') + 'k' : datum.value", grid: true },
  };
  const line = {
    data: { values: points.map((p) => ({ config: p.config, length: p.length, ppl: p.ppl })) },
    mark: { type: 'line' as const, point: true, strokeWidth: 2.5 },
    encoding: {
      x,
      y: { field: 'ppl', type: 'quantitative' as const, title: 'perplexity (log scale)', scale: { type: 'log' as const } },
      color: { field: 'config', type: 'nominal' as const, title: 'config', scale: { domain: configs, range: CONFIG_COLORS.slice(0, configs.length) } },
    },
  };
  // the rule and its label need one data row of their own: a layer without data draws nothing
  const trained = { values: [{ length: opts.trainedLength, label: `trained length ${formatLength(opts.trainedLength ?? 0)}` }] };
  const rule = opts.trainedLength
    ? [
        { data: trained, mark: { type: 'rule' as const, color: RULE_COLOR, strokeDash: [6, 4], strokeWidth: 1.5 }, encoding: { x } },
        {
          data: trained,
          mark: { type: 'text' as const, color: RULE_COLOR, align: 'left' as const, baseline: 'top' as const, dx: 5, dy: 5 },
          encoding: { x, y: { value: 0 }, text: { field: 'label', type: 'nominal' as const } },
        },
      ]
    : [];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title ?? 'Perplexity vs context length',
    width: opts.width ?? 800,
    height: opts.height ?? 480,
    // 'fit' + 'padding': the whole image, axes and legend included, is exactly width × height
    autosize: { type: 'fit', contains: 'padding' },
    background: 'white',
    config: { font: 'DejaVu Sans' },
    layer: [line, ...rule],
  } as TopLevelSpec;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string): Uint8Array {
  const resvg = new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return resvg.render().asPng();
}

/** The terminal chart: log-scale y (labelled in perplexity), one coloured line per config, lengths below. */
export function pplTerminalChart(points: readonly PplPoint[], opts: { trainedLength?: number; color?: boolean; height?: number; columnsPerLength?: number } = {}): string {
  const configs = configsInOrder(points);
  // a line needs a value at every length: keep the lengths every config reached
  const lengths = [...new Set(points.map((p) => p.length))].sort((a, b) => a - b)
    .filter((len) => configs.every((c) => points.some((p) => p.config === c && p.length === len)));
  if (configs.length === 0 || lengths.length === 0) return '(no perplexity points to chart)\n';
  const step = opts.columnsPerLength ?? 8;
  const palette = [asciichart.blue, asciichart.red, asciichart.green, asciichart.yellow, asciichart.magenta, asciichart.cyan];
  const series = configs.map((c) => lengths.flatMap((len, i) => {
    const value = Math.log10(points.find((p) => p.config === c && p.length === len)!.ppl);
    return i === lengths.length - 1 ? [value] : Array<number>(step).fill(value);
  }));
  const label = (v: number) => formatFixed(10 ** v, 2).padStart(10);
  const chart = asciichart.plot(series, { height: opts.height ?? 12, format: label, colors: opts.color ? palette : undefined });
  const offset = 10 + 2; // label width + axis
  let axis = ' '.repeat(offset - 1);
  lengths.forEach((len, i) => {
    const tag = formatLength(len) + (len === opts.trainedLength ? '*' : '');
    const at = offset - 1 + i * step;
    axis = axis.padEnd(at) + tag;
  });
  const legend = configs.map((c, i) => `${opts.color ? palette[i % palette.length] : ''}── ${c}${opts.color ? asciichart.reset : ''}`).join('   ');
  const note = opts.trainedLength ? `   (* trained length ${formatLength(opts.trainedLength)})` : '';
  return `${chart}\n${axis}\n${' '.repeat(offset - 1)}${legend}${note}\n`;
}

export function pplCsv(points: readonly PplPoint[]): string {
  return stringify(points.map((p) => ({ ...p })), { header: true, columns: ['config', 'length', 'ppl', 'samples', 'skipped', 'tokens'], cast: { number: (x) => String(x) } });
}

export function pplArrow(points: readonly PplPoint[]): Uint8Array {
  return tableToIPC(new Table({
    config: vectorFromArray(points.map((p) => p.config), new Utf8()),
    length: vectorFromArray(points.map((p) => p.length), new Int32()),
    ppl: vectorFromArray(points.map((p) => p.ppl), new Float64()),
    samples: vectorFromArray(points.map((p) => p.samples), new Int32()),
    skipped: vectorFromArray(points.map((p) => p.skipped), new Int32()),
    tokens: vectorFromArray(points.map((p) => p.tokens), new Int32()),
  }), 'file');
}

/** Rows configs, columns lengths (as the paper's Table 3), perplexity with two decimals. */
export function pplMarkdown(points: readonly PplPoint[], opts: { trainedLength?: number } = {}): string {
  const configs = configsInOrder(points);
  const lengths = [...new Set(points.map((p) => p.length))].sort((a, b) => a - b);
  const header = ['config', ...lengths.map((l) => formatLength(l) + (l === opts.trainedLength ? '*' : ''))];
  const rows = configs.map((c) => [c, ...lengths.map((l) => {
    const p = points.find((q) => q.config === c && q.length === l);
    return p ? formatFixed(p.ppl, 2) : '–';
  })]);
  const lines = [header, header.map((_, i) => (i === 0 ? '---' : '---:')), ...rows].map((r) => `| ${r.join(' | ')} |`);
  const samples = [...new Set(points.map((p) => p.samples))];
  const notes = [
    opts.trainedLength ? `\\* the model's trained length (${opts.trainedLength} tokens).` : '',
    `Perplexity = exp(token-weighted mean NLL) over ${samples.length === 1 ? samples[0] : `${Math.min(...samples)}–${Math.max(...samples)}`} samples per cell; – marks a length no sample reached.`,
  ].filter(Boolean);
  return `${lines.join('\n')}\n\n${notes.join('\n')}\n`;
}

/** Writes ppl.csv, ppl.arrow, ppl.md, ppl.svg and ppl.png; returns the terminal chart. */
export async function writePplOutputs(dir: string, points: readonly PplPoint[], opts: PplChartOptions = {}): Promise<{ files: string[]; terminalChart: string }> {
  const svg = await renderSvg(pplChartSpec(points, opts));
  const files: Record<string, string | Uint8Array> = {
    'ppl.csv': pplCsv(points),
    'ppl.arrow': pplArrow(points),
    'ppl.md': pplMarkdown(points, opts),
    'ppl.svg': svg,
    'ppl.png': svgToPng(svg),
  };
  for (const [name, data] of Object.entries(files)) writeFileAtomic(join(dir, name), data);
  return { files: Object.keys(files).map((n) => join(dir, n)), terminalChart: pplTerminalChart(points, { trainedLength: opts.trainedLength, color: false }) };
}

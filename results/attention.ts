// `pcomp attn` outputs from the engine's attention trace (trace.attention; docs/attention.md): per
// config, per layer and head, the observation rows' attention mass in position bins, the region
// shares (sink, middle, recent; they sum to 1 per row), the per-chunk regions, each head's class
// (U-shape / mountain / uniform, the rule below), as CSV and Arrow, a heatmap (layers x position,
// chunk boundaries marked) and a line plot of region shares by layer, SVG and PNG (vega-lite →
// resvg, as results/plots.ts), and a terminal summary. Pure functions of the trace's JSON: nothing
// here imports the engine.
import { Float64, Int32, Table, Utf8, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import { stringify } from 'csv-stringify/sync';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from './atomic-file.js';
import { formatFixed } from './format.js';
import { CONFIG_COLORS, renderSvg, svgToPng } from './plots.js';

/** The trace's `attention` object as the engine writes it. */
export interface AttentionTrace {
  window: number;
  bins: number;
  after: string;
  sinkSize: number;
  recentSize: number;
  positions: number;
  chunkOffsets: number[];
  questionOffset: number;
  layers: Array<{
    rows: number;
    cacheLengths: number[];
    groups: number[];
    bins: number[][];
    regions: number[][];
    groupRegions: number[][];
  }>;
}

export type HeadKind = 'query' | 'kv';
export type HeadClass = 'U-shape' | 'mountain' | 'uniform';

/** Layers are numbered from 1, as the paper's layer ranges. */
export interface BinRow { config: string; layer: number; head_kind: HeadKind; head: number; bin: number; start: number; end: number; mass: number }
export interface RegionRow {
  config: string; layer: number; head_kind: HeadKind; head: number; cache_length: number;
  sink: number; middle: number; recent: number;
  /** Share over the region's share of the cache's entries (1 = as much as uniform attention gives it). */
  sink_density: number; middle_density: number; recent_density: number;
  class: HeadClass;
}
export interface ChunkRow { config: string; layer: number; head_kind: HeadKind; head: number; group: string; sink: number; middle: number; recent: number; total: number }

export interface ConfigAttention { config: string; trace: AttentionTrace; heads: number; kvHeads: number; cacheSets: number }

/** Region sizes of a cache of n entries: sink = first S, recent = last R of the rest, middle = the rest. */
export function regionSizes(n: number, sink: number, recent: number): [number, number, number] {
  const s = Math.min(sink, n);
  const r = Math.min(recent, n - s);
  return [s, n - s - r, r];
}

/**
 * The head classes (docs/attention.md): from the region densities d = share / (region entries / n),
 *   uniform   max(d) < 2 min(d) over the regions that hold entries (no region gets twice another's
 *             per-entry mass);
 *   mountain  otherwise, when the middle's density is the largest (a peak away from both ends);
 *   U-shape   otherwise: an end (the sink, the recent tokens, or both) outweighs the middle.
 */
export function classifyHead(density: [number, number, number]): HeadClass {
  const present = density.filter((d) => Number.isFinite(d));
  if (present.length === 0) return 'uniform';
  const max = Math.max(...present), min = Math.min(...present);
  if (max < 2 * min) return 'uniform';
  const [s, m, r] = density;
  if (Number.isFinite(m) && m >= (Number.isFinite(s) ? s : -Infinity) && m >= (Number.isFinite(r) ? r : -Infinity)) return 'mountain';
  return 'U-shape';
}

/** Query heads as traced, then KV heads (the mean of their group's query heads). */
function headsOf(c: ConfigAttention, fold: number[][]): Array<{ kind: HeadKind; head: number; values: number[]; set: number }> {
  const H = c.heads, KV = c.kvHeads, group = H / KV;
  const setOf = (h: number) => (c.cacheSets === H ? h : Math.floor(h / group));
  const out: Array<{ kind: HeadKind; head: number; values: number[]; set: number }> = fold.map((v, h) => ({ kind: 'query' as HeadKind, head: h, values: v, set: setOf(h) }));
  for (let g = 0; g < KV; g++) {
    const members = fold.slice(g * group, (g + 1) * group);
    const values = members[0]!.map((_, i) => members.reduce((a, m) => a + m[i]!, 0) / members.length);
    out.push({ kind: 'kv', head: g, values, set: c.cacheSets === H ? g * group : g });
  }
  return out;
}

export function binRows(c: ConfigAttention): BinRow[] {
  const t = c.trace, rows: BinRow[] = [];
  t.layers.forEach((l, layer) => {
    for (const h of headsOf(c, l.bins)) {
      h.values.forEach((mass, bin) => rows.push({
        config: c.config, layer: layer + 1, head_kind: h.kind, head: h.head, bin,
        start: Math.ceil((bin * t.positions) / t.bins), end: Math.ceil(((bin + 1) * t.positions) / t.bins), mass,
      }));
    }
  });
  return rows;
}

export function regionRows(c: ConfigAttention): RegionRow[] {
  const t = c.trace, rows: RegionRow[] = [];
  t.layers.forEach((l, layer) => {
    for (const h of headsOf(c, l.regions)) {
      const total = h.values.reduce((a, b) => a + b, 0) || 1;
      const share = h.values.map((v) => v / total) as [number, number, number];
      const n = l.cacheLengths[h.set] ?? 0;
      const sizes = regionSizes(n, t.sinkSize, t.recentSize);
      const density = share.map((v, i) => (sizes[i]! > 0 ? v / (sizes[i]! / n) : NaN)) as [number, number, number];
      rows.push({
        config: c.config, layer: layer + 1, head_kind: h.kind, head: h.head, cache_length: n,
        sink: share[0], middle: share[1], recent: share[2],
        sink_density: density[0], middle_density: density[1], recent_density: density[2],
        class: classifyHead(density),
      });
    }
  });
  return rows;
}

export function chunkRows(c: ConfigAttention): ChunkRow[] {
  const rows: ChunkRow[] = [];
  c.trace.layers.forEach((l, layer) => {
    for (const h of headsOf(c, l.groupRegions)) {
      l.groups.forEach((g, gi) => {
        const [s, m, r] = [h.values[3 * gi]!, h.values[3 * gi + 1]!, h.values[3 * gi + 2]!];
        rows.push({ config: c.config, layer: layer + 1, head_kind: h.kind, head: h.head, group: g < 0 ? 'question' : `chunk ${g}`, sink: s, middle: m, recent: r, total: s + m + r });
      });
    }
  });
  return rows;
}

const csv = (rows: object[], columns: string[]) => stringify(rows.map((r) => ({ ...r })), { header: true, columns, cast: { number: (x) => (Number.isNaN(x) ? '' : String(x)) } });

function arrow(rows: Array<Record<string, unknown>>, columns: Array<[string, 'str' | 'int' | 'f64']>): Uint8Array {
  const cols: Record<string, Vector> = {};
  for (const [name, type] of columns) {
    const values = rows.map((r) => r[name]);
    cols[name] = (type === 'str' ? vectorFromArray(values as string[], new Utf8())
      : type === 'int' ? vectorFromArray(values as number[], new Int32()) : vectorFromArray(values as number[], new Float64())) as Vector;
  }
  return tableToIPC(new Table(cols), 'file');
}

const BIN_COLS: Array<[string, 'str' | 'int' | 'f64']> = [['config', 'str'], ['layer', 'int'], ['head_kind', 'str'], ['head', 'int'], ['bin', 'int'], ['start', 'int'], ['end', 'int'], ['mass', 'f64']];
const REGION_COLS: Array<[string, 'str' | 'int' | 'f64']> = [['config', 'str'], ['layer', 'int'], ['head_kind', 'str'], ['head', 'int'], ['cache_length', 'int'], ['sink', 'f64'], ['middle', 'f64'], ['recent', 'f64'],
  ['sink_density', 'f64'], ['middle_density', 'f64'], ['recent_density', 'f64'], ['class', 'str']];
const CHUNK_COLS: Array<[string, 'str' | 'int' | 'f64']> = [['config', 'str'], ['layer', 'int'], ['head_kind', 'str'], ['head', 'int'], ['group', 'str'], ['sink', 'f64'], ['middle', 'f64'], ['recent', 'f64'], ['total', 'f64']];

/** Boundaries drawn on the heatmap: each chunk's start after the first, and the question's. */
export function boundaries(t: AttentionTrace): Array<{ at: number; label: string }> {
  const out = t.chunkOffsets.slice(1).map((at, i) => ({ at, label: `chunk ${i + 1}` }));
  if (t.questionOffset > 0 && t.questionOffset < t.positions) out.push({ at: t.questionOffset, label: 'question' });
  return out;
}

/** Layers x position: each layer's mass per bin, averaged over the query heads; chunk boundaries as rules. */
export function heatmapSpec(c: ConfigAttention, opts: { title?: string } = {}): TopLevelSpec {
  const t = c.trace;
  const cells = t.layers.flatMap((l, layer) => Array.from({ length: t.bins }, (_, b) => ({
    layer: layer + 1, start: (b * t.positions) / t.bins, end: ((b + 1) * t.positions) / t.bins,
    mass: l.bins.reduce((a, h) => a + h[b]!, 0) / Math.max(1, l.bins.length),
  })));
  const y = { field: 'layer', type: 'ordinal' as const, title: 'layer', sort: 'descending' as const };
  const rules = boundaries(t);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title ?? `${c.config}: attention of the last ${t.window} query rows (after ${t.after})`,
    width: 800, height: Math.max(160, 22 * t.layers.length),
    autosize: { type: 'fit', contains: 'padding' },
    background: 'white',
    config: { font: 'DejaVu Sans' },
    layer: [
      {
        data: { values: cells },
        mark: { type: 'rect' as const },
        encoding: {
          x: { field: 'start', type: 'quantitative' as const, title: 'prompt position (tokens; chunks end to end, then the question)', scale: { domain: [0, t.positions], nice: false } },
          x2: { field: 'end' },
          y,
          color: { field: 'mass', type: 'quantitative' as const, title: 'mass', scale: { scheme: 'viridis', type: 'sqrt' as const } },
        },
      },
      ...(rules.length
        ? [{
            data: { values: rules },
            mark: { type: 'rule' as const, color: '#ff3b30', strokeDash: [4, 3], strokeWidth: 1.2 },
            encoding: { x: { field: 'at', type: 'quantitative' as const } },
          }]
        : []),
    ],
  } as TopLevelSpec;
}

/** Region shares by layer (mean over query heads), one colour per region, one panel per config. */
export function regionLinesSpec(configs: readonly ConfigAttention[]): TopLevelSpec {
  const values = configs.flatMap((c) => {
    const rows = regionRows(c).filter((r) => r.head_kind === 'query');
    return c.trace.layers.flatMap((_, layer) => {
      const at = rows.filter((r) => r.layer === layer + 1);
      const mean = (k: 'sink' | 'middle' | 'recent') => at.reduce((a, r) => a + r[k], 0) / Math.max(1, at.length);
      return (['sink', 'middle', 'recent'] as const).map((region) => ({ config: c.config, layer: layer + 1, region, share: mean(region) }));
    });
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Region shares of the observation rows by layer (mean over query heads)',
    width: Math.max(300, Math.floor(760 / Math.max(1, configs.length))), height: 380,
    autosize: { type: 'pad' },
    background: 'white',
    config: { font: 'DejaVu Sans' },
    data: { values },
    mark: { type: 'line' as const, point: true, strokeWidth: 2.2 },
    encoding: {
      x: { field: 'layer', type: 'quantitative' as const, title: 'layer', axis: { tickMinStep: 1 } },
      y: { field: 'share', type: 'quantitative' as const, title: 'share of attention', scale: { domain: [0, 1] } },
      color: { field: 'region', type: 'nominal' as const, scale: { domain: ['sink', 'middle', 'recent'], range: CONFIG_COLORS.slice(0, 3) } },
      column: { field: 'config', type: 'nominal' as const, title: null, sort: configs.map((c) => c.config) },
    },
  } as TopLevelSpec;
}

/** The terminal summary: per config and layer, mean region shares over query heads and the class counts. */
export function attentionSummary(configs: readonly ConfigAttention[]): string {
  const lines: string[] = [];
  for (const c of configs) {
    const rows = regionRows(c).filter((r) => r.head_kind === 'query');
    const t = c.trace;
    lines.push(`${c.config}: ${t.layers.length} layers × ${c.heads} query heads, last ${t.window} rows over ${t.positions} prompt positions (after ${t.after})`);
    lines.push('  layer   cache    sink  middle  recent   U-shape  mountain  uniform');
    t.layers.forEach((_, layer) => {
      const at = rows.filter((r) => r.layer === layer + 1);
      const mean = (k: 'sink' | 'middle' | 'recent') => formatFixed(at.reduce((a, r) => a + r[k], 0) / Math.max(1, at.length), 3).padStart(7);
      const count = (k: HeadClass) => String(at.filter((r) => r.class === k).length).padStart(k === 'U-shape' ? 9 : k === 'mountain' ? 10 : 9);
      lines.push(`  ${String(layer + 1).padStart(5)} ${String(at[0]?.cache_length ?? 0).padStart(7)} ${mean('sink')} ${mean('middle')} ${mean('recent')} ${count('U-shape')}${count('mountain')}${count('uniform')}`);
    });
    const all = (k: HeadClass) => rows.filter((r) => r.class === k).length;
    lines.push(`  heads: ${all('U-shape')} U-shape, ${all('mountain')} mountain, ${all('uniform')} uniform (rule: docs/attention.md)`);
  }
  return lines.join('\n') + '\n';
}

/** Every output file into `dir`; returns the paths and the terminal summary. */
export async function writeAttentionOutputs(dir: string, configs: readonly ConfigAttention[]): Promise<{ files: string[]; summary: string }> {
  const bins = configs.flatMap(binRows), regions = configs.flatMap(regionRows), chunks = configs.flatMap(chunkRows);
  const files: Record<string, string | Uint8Array> = {
    'attn_bins.csv': csv(bins, BIN_COLS.map(([n]) => n)),
    'attn_bins.arrow': arrow(bins as unknown as Array<Record<string, unknown>>, BIN_COLS),
    'attn_regions.csv': csv(regions, REGION_COLS.map(([n]) => n)),
    'attn_regions.arrow': arrow(regions as unknown as Array<Record<string, unknown>>, REGION_COLS),
    'attn_chunks.csv': csv(chunks, CHUNK_COLS.map(([n]) => n)),
    'attn_chunks.arrow': arrow(chunks as unknown as Array<Record<string, unknown>>, CHUNK_COLS),
  };
  for (const c of configs) {
    const svg = await renderSvg(heatmapSpec(c));
    files[`heatmap-${c.config}.svg`] = svg;
    files[`heatmap-${c.config}.png`] = svgToPng(svg);
  }
  const lines = await renderSvg(regionLinesSpec(configs));
  files['regions.svg'] = lines;
  files['regions.png'] = svgToPng(lines);
  const summary = attentionSummary(configs);
  files['summary.txt'] = summary;
  for (const [name, data] of Object.entries(files)) writeFileAtomic(join(dir, name), data);
  return { files: Object.keys(files).map((n) => join(dir, n)), summary };
}

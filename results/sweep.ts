// `pcomp attn sweep` tables: the layer-range ablation of ParallelComp's Tables 6/8 (one region
// evicted by calibration in one layer range at a time) in their layout: a row per evicted region,
// a column per layer range, the uncalibrated baseline beside. Pure functions: no engine here.
import { stringify } from 'csv-stringify/sync';
import { formatFixed } from './format.js';

export type SweepRegion = 'sink' | 'recent' | 'middle';
export const SWEEP_REGIONS: readonly SweepRegion[] = ['recent', 'sink', 'middle'];

export interface SweepCell { region: SweepRegion | 'none'; from: number; to: number; score: number; samples: number }

/** The depth cut in `parts` contiguous 1-based ranges (32 layers, 4 parts: 1-8, 9-16, 17-24, 25-32); empty ones dropped. */
export function layerRanges(layers: number, parts = 4): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let k = 0; k < parts; k++) {
    const a = Math.floor((k * layers) / parts) + 1, b = Math.floor(((k + 1) * layers) / parts);
    if (b >= a) out.push([a, b]);
  }
  return out;
}

export function sweepMarkdown(cells: readonly SweepCell[], opts: { task: string; model: string }): string {
  const ranges = [...new Map(cells.filter((c) => c.region !== 'none').map((c) => [`${c.from}-${c.to}`, c])).keys()];
  const base = cells.find((c) => c.region === 'none');
  const lines = [
    `Layer-range calibration ablation on ${opts.task} (${opts.model}; score ×100 over ${base?.samples ?? cells[0]?.samples ?? 0} samples)`,
    '',
    `| evicted region | ${ranges.map((r) => `layers ${r}`).join(' | ')} |`,
    `|---|${ranges.map(() => '---:').join('|')}|`,
  ];
  for (const region of SWEEP_REGIONS) {
    const row = ranges.map((r) => {
      const c = cells.find((x) => x.region === region && `${x.from}-${x.to}` === r);
      return c ? formatFixed(c.score, 2) : '';
    });
    lines.push(`| ${region} | ${row.join(' | ')} |`);
  }
  if (base) lines.push('', `No calibration (the same config with calib.enabled=false): ${formatFixed(base.score, 2)}`);
  return lines.join('\n') + '\n';
}

export function sweepCsv(cells: readonly SweepCell[]): string {
  return stringify(cells.map((c) => ({ ...c })), { header: true, columns: ['region', 'from', 'to', 'score', 'samples'], cast: { number: (x) => String(x) } });
}

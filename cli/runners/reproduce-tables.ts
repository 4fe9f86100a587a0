// Each reproduced table in the paper's layout, measured values first and the paper's own numbers
// beside (datasets/paper-numbers.ts), as markdown for the terminal and docs and as csv for programs.
import { stringify } from 'csv-stringify/sync';
import {
  IB_TASK_LABELS, PAPER_ROW_OF_PRESET, PPL_ROW_OF_PRESET, TABLE2_IB, TABLE3_PPL, TABLE7_SPEED,
  formatPaperValue, pplAtSameMultiple, type IbTask, type PaperValue,
} from '../../datasets/paper-numbers.js';
import { formatFixed } from '../../results/format.js';
import { formatLength } from '../../results/plots.js';
import type { IbResult } from './reproduce-ib.js';
import { ibKey } from './reproduce-ib.js';
import type { PplResult } from './reproduce-ppl.js';
import type { ScoreResult } from './reproduce-score.js';
import type { SpeedResult } from './reproduce-speed.js';

export interface RenderedTable {
  markdown: string;
  csv: string;
}

const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
const rule = (n: number) => row(Array.from({ length: n }, (_, i) => (i === 0 ? '---' : '---:')));
const multiple = (length: number, window: number) => `${Number((length / window).toFixed(2))}×`;
const num = (v: PaperValue | undefined) => (typeof v === 'number' ? v : undefined);

function csv(rows: Array<Record<string, string | number | undefined>>, columns: string[]): string {
  return stringify(rows, { header: true, columns, cast: { number: (x) => String(x) } });
}

// ---------------------------------------------------------------------------------------------

export function pplTable(r: PplResult, window: number): RenderedTable {
  const head = ['config (paper row)', ...r.lengths.map((l) => `${formatLength(l)} (${multiple(l, window)})${l === window ? '*' : ''}`)];
  const lines = [row(head), rule(head.length)];
  const records: Array<Record<string, string | number | undefined>> = [];
  for (const config of r.configs) {
    const paperRow = PPL_ROW_OF_PRESET[config];
    const at = (l: number) => r.points.find((p) => p.config === config && p.length === l);
    lines.push(row([`${config}${paperRow ? ` (${paperRow})` : ''}`, ...r.lengths.map((l) => (at(l) ? formatFixed(at(l)!.ppl, 2) : '–'))]));
    for (const paper of paperRow ? TABLE3_PPL : []) {
      const cells = r.lengths.map((l) => formatPaperValue(pplAtSameMultiple(paper, paperRow!, l, window)));
      if (cells.some((c) => c !== '')) lines.push(row([`  paper · ${paper.model}`, ...cells.map((c) => (c ? `_${c}_` : ''))]));
    }
    for (const l of r.lengths)
      records.push({
        config, length: l, multiple: l / window, ppl: at(l)?.ppl, samples: at(l)?.samples,
        paper_llama2: paperRow ? num(pplAtSameMultiple(TABLE3_PPL[0]!, paperRow, l, window)) : undefined,
        paper_llama3: paperRow ? num(pplAtSameMultiple(TABLE3_PPL[1]!, paperRow, l, window)) : undefined,
      });
  }
  const notes = [
    `\\* the model's trained length (${window} tokens). Perplexity of the last min(${r.evalTokens}, L/2) tokens of the first L, the ${r.queryTokens} tokens before them scoring the chunks (\`pcomp ppl\`'s default protocol), over ${r.documents} story document${r.documents === 1 ? '' : 's'}.`,
    `Paper rows (_italic_, ${TABLE3_PPL[0]!.cite.replace(/, Llama2.*/, '')}, NarrativeQA) sit at the same multiple of their model's trained length: 2× is 8k for Llama2-7b (4k) and 16k for Llama3-8b (8k). >10² as printed. full here reads the whole text, the paper's "base".`,
  ];
  return {
    markdown: `${lines.join('\n')}\n\n${notes.join('\n')}\n`,
    csv: csv(records, ['config', 'length', 'multiple', 'ppl', 'samples', 'paper_llama2', 'paper_llama3']),
  };
}

// ---------------------------------------------------------------------------------------------

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export function ibTable(r: IbResult, window: number): RenderedTable {
  const blocks: string[] = [];
  const records: Array<Record<string, string | number | undefined>> = [];
  const paperCell = (paperRow: string | undefined, i: number) => {
    const p = paperRow ? TABLE2_IB[i]!.rows[paperRow] : undefined;
    if (!p) return '';
    const values = r.tasks.map((t) => p[t as IbTask]);
    return `_${values.map((v) => formatPaperValue(v, 1)).join(' / ')}_`;
  };
  for (const length of r.lengths) {
    const head = ['config (paper row)', ...r.tasks.map((t) => IB_TASK_LABELS[t as IbTask]), 'Avg', ...TABLE2_IB.map((t) => `paper · ${t.model}`)];
    const lines = [`**${formatLength(length)} tokens (${multiple(length, window)} the trained length)**`, '', row(head), rule(head.length)];
    for (const config of r.configs) {
      const paperRow = PAPER_ROW_OF_PRESET[config];
      const scores = r.tasks.map((t) => r.scores.get(ibKey(config, t, length)));
      const known = scores.filter((s): s is number => s !== undefined);
      lines.push(row([
        `${config}${paperRow ? ` (${paperRow})` : ''}`,
        ...scores.map((s) => (s === undefined ? '–' : formatFixed(s, 2))),
        known.length === scores.length ? formatFixed(mean(known), 2) : '–',
        ...TABLE2_IB.map((_, i) => paperCell(paperRow, i)),
      ]));
      r.tasks.forEach((task, k) =>
        records.push({
          config, task, length, multiple: length / window, accuracy: scores[k], samples: r.samples,
          paper_llama2: paperRow ? num(TABLE2_IB[0]!.rows[paperRow]?.[task as IbTask]) : undefined,
          paper_llama3: paperRow ? num(TABLE2_IB[1]!.rows[paperRow]?.[task as IbTask]) : undefined,
        }));
    }
    blocks.push(lines.join('\n'));
  }
  const notes = [
    `Accuracy (%) of ${r.samples} synthetic records per task and length (InfiniteBench's formats and official scorers; \`pcomp data synth\`). Avg = mean of the task columns.`,
    `Paper columns (_italic_, R.PK / R.Num / R.KV): ${TABLE2_IB[0]!.cite.replace(/, Llama2.*/, '')}, on InfiniteBench's real 125k-175k-token records: about 32× Llama2-7B's 4k and 16× Llama3-8B's 8k.`,
    'full is FullKV (middle-truncated to the trained window); extrapolate reads the whole prompt at positions past the window (no paper row).',
  ];
  return {
    markdown: `${blocks.join('\n\n')}\n\n${notes.join('\n')}\n`,
    csv: csv(records, ['config', 'task', 'length', 'multiple', 'accuracy', 'samples', 'paper_llama2', 'paper_llama3']),
  };
}

// ---------------------------------------------------------------------------------------------

export function speedTable(r: SpeedResult, window: number): RenderedTable {
  const configs = [...new Set(r.cells.map((c) => c.config))];
  const waves = [...new Set(r.cells.map((c) => c.parallel))].sort((a, b) => a - b);
  const head = ['chunks in parallel', ...configs.flatMap((c) => [`${c} prefill (s) / decode (ms/tok)`, 'peak KV (MB)', 'prefill speed-up']), 'paper Ours prefill (s) / gen (ms/tok)', 'paper Ours mem (MB)', 'paper Ours-Compression prefill / gen', 'paper mem (MB)'];
  const lines = [row(head), rule(head.length)];
  const records: Array<Record<string, string | number | undefined>> = [];
  for (const p of waves) {
    const cells = configs.flatMap((config) => {
      const c = r.cells.find((x) => x.config === config && x.parallel === p)!;
      const one = r.cells.find((x) => x.config === config && x.parallel === waves[0]);
      records.push({ config, parallel: p, chunks: c.chunks, prefill_s: c.prefillSec, decode_ms_per_token: c.decodeMsPerToken, peak_cache_mb: c.peakCacheMB, repeats: c.repeats });
      return [`${formatFixed(c.prefillSec, 3)} / ${formatFixed(c.decodeMsPerToken, 2)}`, formatFixed(c.peakCacheMB, 2), one ? `${formatFixed(one.prefillSec / c.prefillSec, 2)}×` : ''];
    });
    const paper = TABLE7_SPEED.rows.find((x) => x.chunks === p);
    const side = (v: { prefillSec: number; genMsPerToken: number; maxMemMB: number } | null | undefined) =>
      paper === undefined ? ['', ''] : v === null || v === undefined ? ['_OOM_', '_OOM_'] : [`_${formatFixed(v.prefillSec, 2)} / ${formatFixed(v.genMsPerToken, 2)}_`, `_${v.maxMemMB}_`];
    lines.push(row([String(p), ...cells, ...side(paper?.ours), ...side(paper?.compression)]));
  }
  const chunks = r.cells[0]?.chunks ?? 0;
  const notes = [
    `One story context of ${formatLength(r.length)} tokens (${multiple(r.length, window)} the trained length) in ${chunks} chunks, prefilled P at a time (chunk.parallel = P); median of the timed runs on ${r.device}, ${r.threads || 'all'} threads.`,
    'prefill = EngineModel.run until its first new token (chunk prefill, scoring, eviction, question re-encoding); decode = time per token over 16 tokens; peak KV = the engine trace\'s peakCacheBytes (the cache only, not activations).',
    `Paper columns (_italic_): ${TABLE7_SPEED.cite}, rows with the same chunk count; its memory is the whole GPU's.`,
  ];
  return {
    markdown: `${lines.join('\n')}\n\n${notes.join('\n')}\n`,
    csv: csv(records, ['config', 'parallel', 'chunks', 'prefill_s', 'decode_ms_per_token', 'peak_cache_mb', 'repeats']),
  };
}

// ---------------------------------------------------------------------------------------------

export function scoreTables(r: ScoreResult): RenderedTable {
  if ('skipped' in r) return { markdown: `${r.skipped}\n`, csv: csv([], ['benchmark', 'task', 'ours', 'official', 'paper', 'samples']) };
  const blocks: string[] = [];
  const records: Array<Record<string, string | number | undefined>> = [];
  for (const t of r.tables) {
    const head = ['task', 'scored here', 'official script', 'same', 'paper'];
    const lines = [`**${t.title}**`, '', row(head), rule(head.length)];
    for (const x of t.rows) {
      const same = x.official === undefined ? '' : Math.abs(x.ours - x.official) < 0.005 ? 'yes' : 'NO';
      lines.push(row([x.task, formatFixed(x.ours, 2), x.official === undefined ? '' : formatFixed(x.official, 2), same, x.paper === undefined ? '' : `_${formatFixed(x.paper, 2)}_`]));
      records.push({ benchmark: t.title.split(' ·')[0], task: x.task, ours: x.ours, official: x.official, paper: x.paper, samples: x.samples });
    }
    const avg = (xs: Array<number | undefined>) => (xs.every((x) => x !== undefined) ? formatFixed(mean(xs as number[]), 2) : '');
    lines.push(row(['**Avg**', avg(t.rows.map((x) => x.ours)), avg(t.rows.map((x) => x.official)), '', t.paperAvg === undefined ? '' : `_${formatFixed(t.paperAvg, 2)}_`]));
    lines.push('', `Predictions: ${t.source}; official: ${t.officialSource}; paper (_italic_): ${t.paperCite}, ${t.paperNote}.` +
      (t.paperAvg === undefined ? '' : ' Avg over these rows; the paper\'s Avg as printed.'));
    blocks.push(lines.join('\n'));
  }
  return { markdown: `${blocks.join('\n\n')}\n`, csv: csv(records, ['benchmark', 'task', 'ours', 'official', 'paper', 'samples']) };
}

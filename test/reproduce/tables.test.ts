// The pure parts of `pcomp reproduce`: the paper's numbers as data, the scale (lengths as multiples of
// the trained window, --quick, --config/--tasks), calibration layer ranges fitted to a shallow model,
// and each table rendered in the paper's layout with the paper's values beside the measured ones.
import { describe, expect, it } from 'vitest';
import {
  TABLE2_IB, TABLE3_PPL, TABLE7_SPEED, formatPaperValue, pplAtSameMultiple,
} from '../../datasets/paper-numbers.js';
import { PAPER_CALIB_RULES } from '../../engine/presets/knobs.js';
import { ibConfigs, scaledCalibRules } from '../../cli/runners/reproduce-configs.js';
import { scaleFor } from '../../cli/runners/reproduce-scale.js';
import { ibTable, pplTable, scoreTables, speedTable } from '../../cli/runners/reproduce-tables.js';
import { ibKey } from '../../cli/runners/reproduce-ib.js';

describe('paper numbers', () => {
  it('reads Table 3 at the same multiple of the trained length', () => {
    const [llama2, llama3] = TABLE3_PPL;
    // 1K on a 512-token model is 2x: Llama2's 8k column, Llama3's 16k column
    expect(pplAtSameMultiple(llama2!, 'Ours', 1024, 512)).toBe(11.97);
    expect(pplAtSameMultiple(llama3!, 'Ours', 1024, 512)).toBe(6.3);
    expect(pplAtSameMultiple(llama2!, 'base', 1024, 512)).toEqual({ above: 100 });
    // 512 on a 512-token model is 1x: Llama2's 4k column, Llama3's 8k column
    expect(pplAtSameMultiple(llama2!, 'base', 512, 512)).toBe(6.71);
    expect(pplAtSameMultiple(llama3!, 'base', 512, 512)).toBe(7.94);
    // 64x is past Llama2's 128k (32x)
    expect(pplAtSameMultiple(llama2!, 'Ours', 32768, 512)).toBeUndefined();
    expect(pplAtSameMultiple(llama2!, 'no such row', 512, 512)).toBeUndefined();
  });

  it('prints open bounds as the paper does', () => {
    expect(formatPaperValue({ above: 100 })).toBe('>10²');
    expect(formatPaperValue({ below: 5 })).toBe('<5');
    expect(formatPaperValue(97.63)).toBe('97.63');
    expect(formatPaperValue(undefined)).toBe('');
  });

  it('keeps the tables the way the paper prints them', () => {
    expect(TABLE2_IB[0]!.rows.Ours).toEqual({ passkey: 100, number_string: 97.63, kv_retrieval: 20.6, avg: 49.45 });
    expect(TABLE2_IB[1]!.rows['Ours-calibration']!.avg).toBe(68.88);
    // the abstract's 23.50x prefill acceleration is Table 7's 1 vs 23 chunks
    const rows = TABLE7_SPEED.rows;
    const one = rows.find((r) => r.chunks === 1)!.compression!.prefillSec;
    const most = rows.find((r) => r.chunks === 23)!.compression!.prefillSec;
    expect(one / most).toBeCloseTo(23.5, 2);
    expect(rows.find((r) => r.chunks === 16)!.ours).toBeNull();
  });
});

describe('scale', () => {
  it('measures 1x..16x the trained window by default, passkey in T-IB, and only 16x with --quick', () => {
    const s = scaleFor(512, { quick: false });
    expect(s.pplLengths).toEqual([512, 1024, 2048, 4096, 8192]);
    expect(s.ibLengths).toEqual([512, 2048, 8192]);
    expect(s.ibTasks).toEqual(['passkey']);
    expect(s.configs.ib).toContain('parallelcomp-calib-kv');
    expect(s.speedLength).toBe(8192);
    const q = scaleFor(4096, { quick: true });
    expect(q.ibLengths).toEqual([65536]);
    expect(q.ibTasks).toEqual(['passkey']);
    expect(q.configs).toEqual({ ppl: ['full', 'parallelcomp'], ib: ['full', 'extrapolate', 'parallelcomp'], speed: ['parallelcomp'] });
  });

  it('keeps the chunk budget of a small window above half of it', () => {
    const s = scaleFor(512, { quick: false });
    expect(512 - s.evalTokens - s.queryTokens).toBeGreaterThan(256);
    expect(scaleFor(4096, { quick: false })).toMatchObject({ evalTokens: 1024, queryTokens: 64 });
  });

  it('narrows every table with --config and T-IB with --tasks, and names what it does not know', () => {
    const s = scaleFor(512, { quick: true, config: 'parallelcomp,ntk', tasks: 'kv_retrieval,passkey', len: [1024], samples: 3 });
    expect(s.configs).toEqual({ ppl: ['ntk', 'parallelcomp'], ib: ['ntk', 'parallelcomp'], speed: ['parallelcomp'] });
    expect(s.ibTasks).toEqual(['kv_retrieval', 'passkey']);
    expect([s.pplLengths, s.ibLengths, s.ibSamples, s.pplDocuments]).toEqual([[1024], [1024], 3, 3]);
    expect(() => scaleFor(512, { quick: false, config: 'full,fulll' })).toThrow(/--config: unknown "fulll" \(one of full, /);
    expect(() => scaleFor(512, { quick: false, tasks: 'math_find' })).toThrow(/--tasks: unknown "math_find"/);
  });
});

describe('calibration layers on a shallow model', () => {
  it('keeps each of the paper\'s ranges at its place in the depth', () => {
    expect(scaledCalibRules(PAPER_CALIB_RULES, 32)).toEqual(PAPER_CALIB_RULES);
    expect(scaledCalibRules(PAPER_CALIB_RULES, 4)).toEqual([
      { region: 'middle', from: 1, to: 1 }, { region: 'recent', from: 2, to: 2 }, { region: 'sink', from: 4, to: 4 },
    ]);
    expect(scaledCalibRules(PAPER_CALIB_RULES, 16)).toEqual([
      { region: 'middle', from: 1, to: 4 }, { region: 'recent', from: 5, to: 8 }, { region: 'sink', from: 13, to: 16 },
    ]);
  });

  it('resolves the calibration presets with fitted rules and leaves the others alone', () => {
    const configs = ibConfigs(['full', 'extrapolate', 'parallelcomp-calib', 'parallelcomp-kv'], 4);
    expect(configs.map((c) => c.name)).toEqual(['full', 'extrapolate', 'parallelcomp-calib', 'parallelcomp-kv']);
    expect(configs[1]!.config['full.maxTokens']).toBe(131072);
    expect(configs[2]!.set).toEqual(['calib.rules=middle:1-1,recent:2-2,sink:4-4']);
    expect(configs[3]!.set).toEqual([]);
    expect(ibConfigs(['parallelcomp-calib'], 32)[0]!.set).toEqual([]);
  });
});

describe('tables in the paper\'s layout', () => {
  it('T-PPL: measured rows with the paper\'s rows at the same multiples beneath', () => {
    const points = [512, 1024].flatMap((length, i) => [
      { config: 'full', length, ppl: [3.5, 250][i]!, samples: 1, skipped: 0, tokens: 128 },
      { config: 'parallelcomp', length, ppl: [3.6, 3.9][i]!, samples: 1, skipped: 0, tokens: 128 },
    ]);
    const t = pplTable({ lengths: [512, 1024], configs: ['full', 'parallelcomp'], points, documents: 1, evalTokens: 128, queryTokens: 64, runDir: 'x' }, 512);
    const lines = t.markdown.split('\n');
    expect(lines[0]).toBe('| config (paper row) | 512 (1×)* | 1k (2×) |');
    expect(lines).toContain('| full (base) | 3.50 | 250.00 |');
    expect(lines).toContain('|   paper · Llama2-7b (4k) | _6.71_ | _>10²_ |');
    expect(lines).toContain('| parallelcomp (Ours) | 3.60 | 3.90 |');
    expect(lines).toContain('|   paper · Llama3-8b-instruct (8k) | _6.65_ | _6.30_ |');
    expect(t.csv.split('\n')[0]).toBe('config,length,multiple,ppl,samples,paper_llama2,paper_llama3');
    expect(t.csv).toContain('parallelcomp,1024,2,3.9,1,11.97,6.3');
  });

  it('T-IB: one block per length, accuracy per task, Avg, the paper\'s row beside', () => {
    const scores = new Map([[ibKey('full', 'passkey', 8192), 0], [ibKey('parallelcomp', 'passkey', 8192), 100]]);
    const t = ibTable({ lengths: [8192], configs: ['full', 'parallelcomp'], tasks: ['passkey'], samples: 4, scores, runDirs: [] }, 512);
    expect(t.markdown).toContain('**8k tokens (16× the trained length)**');
    expect(t.markdown).toContain('| full (FullKV) | 0.00 | 0.00 | _1.4_ | _6.1_ |');
    expect(t.markdown).toContain('| parallelcomp (Ours) | 100.00 | 100.00 | _100.0_ | _100.0_ |');
    expect(t.csv).toContain('parallelcomp,passkey,8192,16,100,4,100,100');
  });

  it('T-speed: rows by chunks in parallel, speed-up against one at a time, the paper\'s row where the count matches', () => {
    const cell = (parallel: number, prefillSec: number) => ({ config: 'parallelcomp', parallel, chunks: 18, prefillSec, decodeMsPerToken: 2, peakCacheMB: parallel, repeats: 1 });
    const t = speedTable({ length: 8192, cells: [cell(1, 4), cell(4, 2), cell(2, 3)], file: 'x', threads: 2, device: 'cpu' }, 512);
    const lines = t.markdown.split('\n');
    expect(lines[2]).toBe('| 1 | 4.000 / 2.00 | 1.00 | 1.00× | _1317.72 / 24.30_ | _19394_ | _1317.72 / 22.16_ | _16994_ |');
    expect(lines[3]).toBe('| 2 | 3.000 / 2.00 | 2.00 | 1.33× |  |  |  |  |');
    expect(lines[4]).toBe('| 4 | 2.000 / 2.00 | 4.00 | 2.00× | _321.40 / 43.69_ | _35518_ | _321.40 / 23.28_ | _24734_ |');
  });

  it('T-SCORE: marks a score that differs from the official one, and says why a table was skipped', () => {
    const t = scoreTables({ tables: [{ title: 'LongBench · x', source: 's', officialSource: 'o', paperCite: 'c', paperNote: 'n', paperAvg: 30, rows: [
      { task: 'qasper', ours: 21.82, official: 21.82, paper: 19.53, samples: 200 },
      { task: 'trec', ours: 64.5, official: 64, paper: 62, samples: 200 },
    ] }] });
    expect(t.markdown).toContain('| qasper | 21.82 | 21.82 | yes | _19.53_ |');
    expect(t.markdown).toContain('| trec | 64.50 | 64.00 | NO | _62.00_ |');
    expect(t.markdown).toContain('| **Avg** | 43.16 | 42.91 |  | _30.00_ |');
    expect(scoreTables({ skipped: 'T-SCORE skipped: none here' }).markdown).toBe('T-SCORE skipped: none here\n');
  });
});

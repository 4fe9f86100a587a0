import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  infinitebenchMarkdown, longbenchEMarkdown, longbenchMarkdown, readScoresArrow, scoresArrow, scoresCsv, writeScoreTables,
  lengthBucket, type ScoreRecord,
} from '../../results/tables.js';
import { formatFixed } from '../../results/format.js';
import { scoreRunLines, rebuildScoreTables } from '../../results/score-run.js';
import { RunDir, type PredictionLine } from '../../results/run-dir.js';
import { identity } from './fixtures/synthetic-run.js';

const CATEGORIES = { narrativeqa: 'Single-Doc QA', qasper: 'Single-Doc QA', hotpotqa: 'Multi-Doc QA', trec: 'Few-shot' };
const rec = (config: string, task: string, score: number, extra: Partial<ScoreRecord> = {}): ScoreRecord => ({ config, task, score, samples: 10, ...extra });

const LB: ScoreRecord[] = [
  rec('full', 'trec', 62), rec('full', 'hotpotqa', 40.125), rec('full', 'qasper', 30), rec('full', 'narrativeqa', 10),
  rec('parallelcomp', 'narrativeqa', 20), rec('parallelcomp', 'qasper', 25), rec('parallelcomp', 'hotpotqa', 50), rec('parallelcomp', 'trec', 64),
];

describe('two-decimal formatting', () => {
  it('rounds half to even on the exact binary value, like Python round()', () => {
    expect(formatFixed(10.125)).toBe('10.12'); // exact tie → even (toFixed says 10.13)
    expect(formatFixed(0.375)).toBe('0.38');
    expect(formatFixed(2.675)).toBe('2.67'); // 2.67499999... in binary
    expect(formatFixed(99.995)).toBe('100.00'); // 99.99500000000000454...
    expect(formatFixed(-0.004)).toBe('0.00');
    expect(formatFixed(62)).toBe('62.00');
  });
});

describe('LongBench table', () => {
  it('puts configs in rows, tasks in category order, then category averages and Avg (hand-checked)', () => {
    expect(longbenchMarkdown(LB, { categories: CATEGORIES })).toBe(
      '| config | NQA | Qsp | Hot | TREC | Single-Doc QA | Multi-Doc QA | Few-shot | Avg |\n' +
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n' +
      // full: Single (10+30)/2 = 20; Multi 40.125 → 40.12 (tie to even); Avg (10+30+40.125+62)/4 = 35.53125
      '| full | 10.00 | 30.00 | 40.12 | 62.00 | 20.00 | 40.12 | 62.00 | 35.53 |\n' +
      // parallelcomp: Single 22.5; Avg (20+25+50+64)/4 = 39.75
      '| parallelcomp | 20.00 | 25.00 | 50.00 | 64.00 | 22.50 | 50.00 | 64.00 | 39.75 |\n' +
      "\nAvg is the mean over tasks (the ParallelComp paper's AVG); category columns average their tasks.\n",
    );
  });

  it('can average categories instead, as the LongBench leaderboard does', () => {
    const md = longbenchMarkdown(LB, { categories: CATEGORIES, overall: 'categories' });
    // full: (20 + 40.125 + 62) / 3 = 40.7083…; parallelcomp: (22.5 + 50 + 64) / 3 = 45.5
    expect(md).toContain('| full | 10.00 | 30.00 | 40.12 | 62.00 | 20.00 | 40.12 | 62.00 | 40.71 |');
    expect(md).toContain('| parallelcomp | 20.00 | 25.00 | 50.00 | 64.00 | 22.50 | 50.00 | 64.00 | 45.50 |');
  });

  it('reproduces the paper\'s AVG for Ours-calibration on Llama2-7B-chat (Table 1: 37.21)', () => {
    const tasks = ['narrativeqa', 'qasper', 'multifieldqa_en', 'hotpotqa', '2wikimqa', 'musique', 'gov_report', 'qmsum',
      'multi_news', 'trec', 'triviaqa', 'samsum', 'passage_count', 'passage_retrieval_en', 'lcc', 'repobench-p'];
    const scores = [24.95, 19.07, 38.16, 39.53, 32.62, 22.64, 25.42, 22.82, 26.01, 63.0, 85.41, 40.36, 5.0, 32.5, 59.04, 58.84];
    const md = longbenchMarkdown(tasks.map((t, i) => rec('ours-calibration', t, scores[i])));
    expect(md.split('\n')[0]).toBe('| config | NQA | Qsp | MF-en | Hot | 2W | Mus | Gov | QMS | MN | TREC | TQA | SAM | PC | PRe | Lcc | RBP | Avg |');
    expect(md.split('\n')[2].endsWith('| 37.21 |')).toBe(true);
  });

  it('leaves an average blank when one of its tasks is missing, instead of averaging fewer', () => {
    const md = longbenchMarkdown(LB.filter((r) => !(r.config === 'parallelcomp' && r.task === 'qasper')), { categories: CATEGORIES });
    expect(md).toContain('| parallelcomp | 20.00 | – | 50.00 | 64.00 | – | 50.00 | 64.00 | – |');
  });

  it('labels rows config@run when runs are compared', () => {
    const md = longbenchMarkdown([rec('full', 'trec', 1, { run: 'a' }), rec('full', 'trec', 2, { run: 'b' })], { categories: CATEGORIES });
    expect(md).toContain('| full@a | 1.00 | 1.00 | 1.00 |');
    expect(md).toContain('| full@b | 2.00 | 2.00 | 2.00 |');
  });
});

describe('LongBench-E table', () => {
  it('averages tasks per length bucket (hand-checked)', () => {
    const records = [
      rec('full', 'qasper', 30, { bucket: '0-4k' }), rec('full', 'qasper', 20, { bucket: '4-8k' }), rec('full', 'qasper', 10, { bucket: '8k+' }),
      rec('full', 'trec', 60, { bucket: '0-4k' }), rec('full', 'trec', 50, { bucket: '4-8k' }), rec('full', 'trec', 41, { bucket: '8k+' }),
      rec('full', 'trec', 99), // an unbucketed record is not part of this table
    ];
    const md = longbenchEMarkdown(records);
    // (30+60)/2 = 45, (20+50)/2 = 35, (10+41)/2 = 25.5, all six /6 = 35.1666…
    expect(md).toContain('| config | 0-4k | 4-8k | 8k+ | Avg |\n| --- | ---: | ---: | ---: | ---: |\n| full | 45.00 | 35.00 | 25.50 | 35.17 |\n');
    expect(md).toContain('| task | full 0-4k | full 4-8k | full 8k+ |');
    expect(md).toContain('| Qsp | 30.00 | 20.00 | 10.00 |');
    expect(md).toContain('| TREC | 60.00 | 50.00 | 41.00 |');
  });

  it('buckets lengths as LongBench-E does', () => {
    expect([0, 3999, 4000, 7999, 8000, 50000].map(lengthBucket)).toEqual(['0-4k', '0-4k', '4-8k', '4-8k', '8k+', '8k+']);
  });
});

describe('InfiniteBench table', () => {
  it('uses the task abbreviations in the benchmark order; reproduces the paper\'s Ours row (Table 2: 49.45)', () => {
    const ours = { code_debug: 25.13, passkey: 100, math_find: 19.71, kv_retrieval: 20.6, number_string: 97.63, longbook_choice_eng: 33.62 };
    const md = infinitebenchMarkdown(Object.entries(ours).map(([t, s]) => rec('ours', t, s)));
    expect(md).toBe(
      '| config | R.PK | R.Num | R.KV | En.MC | Code.Debug | Math.F | Avg |\n' +
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n' +
      '| ours | 100.00 | 97.63 | 20.60 | 33.62 | 25.13 | 19.71 | 49.45 |\n',
    );
  });
});

describe('csv and arrow', () => {
  it('write full-precision rows and read back from Arrow', () => {
    const records = [rec('full', 'qasper', 100 / 3), rec('full', 'qasper', 12.5, { bucket: '4-8k', run: 'r1' })];
    expect(scoresCsv(records, CATEGORIES)).toBe(
      'run,config,task,category,bucket,score,samples\n' +
      `,full,qasper,Single-Doc QA,,${100 / 3},10\n` +
      'r1,full,qasper,Single-Doc QA,4-8k,12.5,10\n',
    );
    const bytes = scoresArrow(records, CATEGORIES);
    expect(Buffer.from(bytes.subarray(0, 6)).toString()).toBe('ARROW1');
    expect(readScoresArrow(bytes)).toEqual({ records, categories: { qasper: 'Single-Doc QA' } });
  });

  it('writes the three files into a directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcomp-tables-'));
    const files = writeScoreTables(dir, LB, { benchmark: 'longbench', categories: CATEGORIES });
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['scores.csv', 'scores.arrow', 'scores.md']);
    expect(readFileSync(join(dir, 'scores.md'), 'utf8')).toBe(longbenchMarkdown(LB, { categories: CATEGORIES }));
  });
});

describe('tables rebuilt from prediction lines', () => {
  // exact-match accuracy as a stand-in metric: the real ones are injected the same way
  const accuracy = (_task: string, lines: readonly PredictionLine[]) => (100 * lines.filter((l) => l.pred === l.answers[0]).length) / lines.length;

  it('scores each config × task, and each length bucket for LongBench-E', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcomp-rescore-'));
    const run = RunDir.open(dir, identity({ settings: { benchmark: 'longbench-e' } }));
    const ids = ['a', 'b', 'c', 'd', 'e'];
    run.plan('trec', ids);
    const lengths = [100, 5000, 9000, 200, 6000];
    const correct = [true, false, true, false, true];
    for (const [i, id] of ids.entries())
      run.append('full', 'trec', { _id: id, index: i, pred: correct[i] ? 'yes' : 'no', answers: ['yes'], all_classes: null, length: lengths[i] });
    run.finish();
    const records = rebuildScoreTables(dir, accuracy);
    expect(records).toEqual([
      { config: 'full', task: 'trec', score: 60, samples: 5 },
      { config: 'full', task: 'trec', bucket: '0-4k', score: 50, samples: 2 },
      { config: 'full', task: 'trec', bucket: '4-8k', score: 50, samples: 2 },
      { config: 'full', task: 'trec', bucket: '8k+', score: 100, samples: 1 },
    ]);
    expect(readFileSync(join(dir, 'scores.md'), 'utf8')).toContain('| full | 50.00 | 50.00 | 100.00 | 66.67 |');
    expect(scoreRunLines([{ config: 'x', unit: 't', lines: [] }], accuracy, false)).toEqual([]);
  });
});

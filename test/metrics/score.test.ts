// Scoring prediction directories end to end on small synthetic files written to a temp dir.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register } from '../../cli/commands/score.js';
import { readPredictionFile, scoreDirectory, scoreTask } from '../../datasets/score.js';
import { summarize, summaryJson, summaryTable } from '../../datasets/score-summary.js';
import { isUserError } from '../../util/errors.js';

function tempDir(files: Record<string, unknown[] | string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pcomp-score-'));
  for (const [name, rows] of Object.entries(files)) {
    const text = typeof rows === 'string' ? rows : rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const lb = (pred: string, answers: string[], length = 1000, all_classes: string[] | null = null) => ({ pred, answers, all_classes, length });

/** 800 passage_count records, 81 right: 100 * 81 / 800 = 10.125 exactly, which Python rounds to 10.12. */
const tieRecords = Array.from({ length: 800 }, (_, i) => lb(i < 81 ? '5' : '6', ['5']));

describe('scoreTask (LongBench)', () => {
  it('rounds half to even like eval.py', () => {
    const t = scoreTask('passage_count', tieRecords);
    expect(t.score).toBe(10.12);
    expect(t.samples).toBe(800);
  });
  it('keeps only the first line for trec/triviaqa/samsum/lsht, after leading newlines', () => {
    const classes = ['LOC', 'HUM'];
    const recs = [lb('\n\nLOC\nHUM', ['LOC'], 10, classes), lb('HUM', ['LOC'], 10, classes)];
    expect(scoreTask('trec', recs).perRecord).toEqual([1, 0]);
    // without the first-line rule the first record would name both classes and score 0.5
    expect(scoreTask('passage_count', [lb('\n\n5\n6', ['5'])]).perRecord).toEqual([0.5]);
  });
  it('uses the last record\'s all_classes for every record, as eval.py does', () => {
    const recs = [lb('NUM', ['NUM'], 10, ['LOC']), lb('LOC', ['LOC'], 10, ['LOC', 'NUM'])];
    expect(scoreTask('trec', recs).perRecord).toEqual([1, 1]);
  });
  it('LongBench-E: buckets by length (<4000, <8000, else), numpy mean, NaN when empty', () => {
    const recs = [lb('5', ['5'], 3999), lb('6', ['5'], 4000), lb('5', ['5'], 7999), lb('5', ['5'], 8000)];
    const t = scoreTask('passage_count_e', recs, { e: true });
    expect(t.task).toBe('passage_count');
    expect(t.buckets).toEqual({ '0-4k': 100, '4-8k': 50, '8k+': 100 });
    const empty = scoreTask('passage_count', [lb('5', ['5'], 10)], { e: true });
    expect(empty.buckets!['4-8k']).toBeNaN();
  });
  it('rejects malformed records with the file and line', () => {
    const source = { file: 'x/trec.jsonl', lines: [3] };
    expect(() => scoreTask('trec', [{ pred: 'a', answers: 'a' }], { source })).toThrow('x/trec.jsonl:3: field "answers" must be an array of strings');
    expect(() => scoreTask('trec', [{ answers: ['a'] }], { source })).toThrow('x/trec.jsonl:3: field "pred" must be a string');
    expect(() => scoreTask('passage_count', [lb('1', ['1'])].map((r) => ({ ...r, length: 'x' })), { e: true, source })).toThrow(/:3: field "length"/);
    expect(() => scoreTask('passage_retrieval_en', [lb('1', ['no marker'])], { source })).toThrow(/x\/trec\.jsonl:3: retrieval_score: .*no Paragraph/);
    expect(() => scoreTask('nope', [])).toThrow(/unknown task "nope"/);
    expect(() => scoreTask('trec', [])).toThrow(/no predictions/);
  });
});

describe('scoreTask (InfiniteBench)', () => {
  it('mean ×100 of per-example scores; label key from the first row, "prediction" before "pred"', () => {
    const rows = [
      { id: 0, prediction: 'key 11', pred: 'key 99', ground_truth: '11' },
      { id: 1, pred: 'key 22', ground_truth: '22' },
      { id: 2, prediction: 'key 33', label: '33' }, // no ground_truth: the official placeholder label
    ];
    const t = scoreTask('passkey', rows);
    expect(t.perRecord).toEqual([1, 1, 0]);
    expect(t.score).toBeCloseTo(200 / 3, 12);
  });
  it('accepts the runner\'s {pred, answers} lines', () => {
    expect(scoreTask('kv_retrieval', [{ pred: 'v: "abc"', answers: ['abc'] }]).score).toBe(100);
  });
  it('reports missing fields and metric errors with the line', () => {
    const source = { file: 'r/preds_math_find.jsonl', lines: [7] };
    expect(() => scoreTask('math_find', [{ prediction: '3', ground_truth: '3' }], { source })).toThrow(
      'r/preds_math_find.jsonl:7: math_find: Expected int or float, got str',
    );
    expect(() => scoreTask('passkey', [{ ground_truth: '3' }], { source })).toThrow(/:7: no "prediction" or "pred" field/);
  });
});

describe('scoreDirectory and summary', () => {
  const classes = ['LOC', 'HUM'];
  const longbenchDir = () =>
    tempDir({
      'passage_count.jsonl': tieRecords,
      'trec.jsonl': [lb('LOC', ['LOC'], 10, classes), lb('HUM', ['LOC'], 10, classes)],
      'multifieldqa_zh.jsonl': [lb('北京', ['北京'])],
      'notes.jsonl': [{ x: 1 }],
      'readme.txt': 'not scored',
    });

  it('scores every task file in canonical order and lists unknown .jsonl files', () => {
    const scores = scoreDirectory(longbenchDir());
    expect(scores.benchmark).toBe('longbench');
    expect(scores.tasks.map((t) => [t.task, t.score])).toEqual([['multifieldqa_zh', 100], ['trec', 50], ['passage_count', 10.12]]);
    expect(scores.skipped).toEqual(['notes.jsonl']);
  });

  it('averages categories (mean of tasks) and overall (mean of categories), per language too', () => {
    const summary = summarize(scoreDirectory(longbenchDir()));
    expect(summary.categories).toEqual({ 'single-doc-qa': 100, 'few-shot': 50, synthetic: 10.12 });
    expect(summary.overall).toBe(53.37); // (100 + 50 + 10.12) / 3 = 53.373…
    expect(summary.languages).toEqual({
      en: { categories: { 'few-shot': 50, synthetic: 10.12 }, overall: 30.06 },
      zh: { categories: { 'single-doc-qa': 100 }, overall: 100 },
    });
    const json = summaryJson(summary);
    expect(json.trec).toBe(50);
    expect(json.overall).toBe(53.37);
  });

  it('LongBench-E: per-bucket values, null for an empty bucket, averages per bucket', () => {
    const dir = tempDir({ 'passage_count.jsonl': [lb('5', ['5'], 100), lb('6', ['5'], 5000)], 'trec.jsonl': [lb('LOC', ['LOC'], 9000, classes)] });
    const scores = scoreDirectory(dir, { e: true });
    expect(scores.benchmark).toBe('longbench-e');
    const json = summaryJson(summarize(scores));
    expect(json.passage_count).toEqual({ '0-4k': 100, '4-8k': 0, '8k+': null });
    expect(json.trec).toEqual({ '0-4k': null, '4-8k': null, '8k+': 100 });
    expect(json.overall).toEqual({ '0-4k': null, '4-8k': null, '8k+': null });
    expect(summaryTable(scores, summarize(scores))).toMatch(/passage_count\s+Synthetic\s+100\.00\s+0\.00\s+–\s+2/);
  });

  it('InfiniteBench directory: preds_<task>.jsonl, blank lines skipped, float labels kept as floats', () => {
    const dir = tempDir({
      'preds_passkey.jsonl': '{"id": 0, "prediction": "1", "ground_truth": "1"}\n\n{"id": 1, "prediction": "2", "ground_truth": "3"}\n',
      'preds_math_find.jsonl': '{"id": 0, "prediction": "51.0", "ground_truth": 51.0}\n{"id": 1, "prediction": "51.0", "ground_truth": 51}\n',
      'preds_code_debug_step_by_step.jsonl': '{}\n',
    });
    const scores = scoreDirectory(dir);
    expect(scores.benchmark).toBe('infinitebench');
    expect(scores.tasks.map((t) => [t.task, t.score])).toEqual([['passkey', 50], ['math_find', 50]]);
    expect(scores.skipped).toEqual(['preds_code_debug_step_by_step.jsonl']);
    const summary = summarize(scores);
    expect(summary.categories).toEqual({ retrieval: 50, math: 50 });
    expect(summaryTable(scores, summary)).toMatch(/passkey\s+Retrieve\.PassKey\s+50\.00\s+2/);
  });

  it('errors name the file and line; an empty directory says what was expected', () => {
    const bad = tempDir({ 'trec.jsonl': '{"pred": "a", "answers": ["a"], "all_classes": ["a"], "length": 1}\n{oops\n' });
    expect(() => scoreDirectory(bad)).toThrow(`${path.join(bad, 'trec.jsonl')}:2: not valid JSON`);
    const empty = mkdtempSync(path.join(os.tmpdir(), 'pcomp-score-'));
    let error: unknown;
    try {
      scoreDirectory(empty);
    } catch (e) {
      error = e;
    }
    expect(isUserError(error)).toBe(true);
    expect((error as Error).message).toMatch(/no longbench prediction files found/);
    expect(() => scoreDirectory(path.join(empty, 'missing'))).toThrow(/cannot read prediction directory/);
    mkdirSync(path.join(empty, 'sub'));
    expect(() => readPredictionFile(path.join(empty, 'sub'))).toThrow(/cannot read/);
  });
});

describe('code-sim flavour', () => {
  it('switches lcc/repobench-p to the indel ratio and leaves other tasks alone', () => {
    const a = 'abcdefghij'.repeat(5);
    const recs = [lb(a, ['x'.repeat(150) + a])];
    expect(scoreTask('lcc', recs).score).toBe(0);
    expect(scoreTask('lcc', recs, { codeSim: 'levenshtein' }).score).toBe(40);
    expect(scoreTask('passage_count', tieRecords, { codeSim: 'levenshtein' }).score).toBe(10.12);
  });
});

describe('pcomp score (command)', () => {
  afterEach(() => vi.restoreAllMocks());

  async function run(args: string[]): Promise<{ out: string; err: string }> {
    let out = '';
    let err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
    const program = new Command('pcomp').exitOverride();
    register(program);
    await program.parseAsync(['node', 'pcomp', 'score', ...args]);
    return { out, err };
  }

  it('--json prints {task: score, ..., categories, overall}', async () => {
    const dir = tempDir({ 'passage_count.jsonl': tieRecords, 'notes.jsonl': [{}] });
    const { out, err } = await run([dir, '--json']);
    const json = JSON.parse(out);
    expect(json.passage_count).toBe(10.12);
    expect(json.categories).toEqual({ synthetic: 10.12 });
    expect(json.overall).toBe(10.12);
    expect(err).toMatch(/skipped files that name no longbench task: notes\.jsonl/);
  });

  it('prints a table by default, and rejects bad flags as user errors', async () => {
    const dir = tempDir({ 'passage_count.jsonl': tieRecords });
    const { out } = await run([dir]);
    expect(out).toMatch(/passage_count\s+Synthetic\s+10\.12\s+800/);
    expect(out).toMatch(/Avg \(mean of categories\)\s+10\.12/);
    await expect(run([dir, '--benchmark', 'mmlu'])).rejects.toThrow(/--benchmark must be longbench or infinitebench/);
    await expect(run([dir, '--benchmark', 'infinitebench', '--e'])).rejects.toThrow(/--e applies to LongBench only/);
    await expect(run([dir, '--code-sim', 'jaro'])).rejects.toThrow(/--code-sim must be difflib or levenshtein/);
  });

  it('--model-name enables the gpt4 math_calc rule; by default it is the directory name', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'pcomp-score-'));
    const dir = path.join(root, 'gpt4');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'preds_math_calc.jsonl'), '{"prediction": "9, 1, 2", "ground_truth": [1, 2]}\n');
    expect(JSON.parse((await run([dir, '--json'])).out).math_calc).toBe(100);
    expect(JSON.parse((await run([dir, '--json', '--model-name', 'other'])).out).math_calc).toBe(0);
  });
});

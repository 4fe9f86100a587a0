import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { RunDir, type PredictionLine } from '../../results/run-dir.js';
import { PplStore } from '../../results/ppl-store.js';
import { register as registerReport, reportText } from '../../cli/commands/report.js';
import { register as registerMerge, mergeCommand } from '../../cli/commands/merge.js';
import { identity } from './fixtures/synthetic-run.js';
import { decodePng } from './helpers/png-decode.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'pcomp-report-'));
const IDS = ['s0', 's1', 's2', 's3'];

/** LongBench-format lines whose official scores are easy to check by hand. */
function line(task: string, i: number, correct: boolean): PredictionLine {
  if (task === 'trec')
    return { _id: IDS[i], index: i, pred: correct ? 'Location' : 'Number', answers: ['Location'], all_classes: ['Location', 'Number'], length: 3000 };
  return { _id: IDS[i], index: i, pred: correct ? `answer ${i}` : 'unrelated words', answers: [`answer ${i}`], all_classes: null, length: 3000 };
}

function evalRun(dir: string, correct: Record<string, boolean[]>, shard = { index: 0, count: 1 }): void {
  const run = RunDir.open(dir, identity({ shard }));
  for (const task of Object.keys(correct)) {
    const mine = run.plan(task, IDS);
    for (const config of ['full', 'parallelcomp'])
      for (const id of mine) run.append(config, task, line(task, IDS.indexOf(id), correct[task][IDS.indexOf(id)]));
  }
  run.finish();
}

describe('pcomp report', () => {
  it('puts two runs side by side, rows config@run, scored with the official metrics (hand-checked)', async () => {
    const root = tmp();
    evalRun(join(root, 'a'), { qasper: [true, false, true, false], trec: [true, true, true, false] });
    evalRun(join(root, 'b'), { qasper: [true, true, true, true], trec: [false, true, false, true] });
    const text = await reportText([join(root, 'a'), join(root, 'b')], { format: 'md', overall: 'tasks', rescore: false });
    expect(text).toContain('- a: synthetic/model@abc123');
    expect(text).toContain(
      '| config | Qsp | TREC | Single-Doc QA | Few-shot | Avg |\n' +
      '| --- | ---: | ---: | ---: | ---: | ---: |\n' +
      '| full@a | 50.00 | 75.00 | 50.00 | 75.00 | 62.50 |\n' +
      '| parallelcomp@a | 50.00 | 75.00 | 50.00 | 75.00 | 62.50 |\n' +
      '| full@b | 100.00 | 50.00 | 100.00 | 50.00 | 75.00 |\n' +
      '| parallelcomp@b | 100.00 | 50.00 | 100.00 | 50.00 | 75.00 |\n',
    );
    const json = JSON.parse(await reportText([join(root, 'a')], { format: 'json', overall: 'tasks', rescore: false }));
    expect(json).toEqual([
      { config: 'full', task: 'qasper', score: 50, samples: 4 },
      { config: 'full', task: 'trec', score: 75, samples: 4 },
      { config: 'parallelcomp', task: 'qasper', score: 50, samples: 4 },
      { config: 'parallelcomp', task: 'trec', score: 75, samples: 4 },
    ]);
  });

  it('refuses runs on different benchmarks and bad flags', async () => {
    const root = tmp();
    evalRun(join(root, 'a'), { trec: [true, true, true, true] });
    const other = join(root, 'b');
    RunDir.open(other, identity({ settings: { benchmark: 'infinitebench' } })).close();
    await expect(reportText([join(root, 'a'), other], { format: 'md', overall: 'tasks', rescore: false })).rejects.toThrow(/different benchmarks/);
    await expect(reportText([join(root, 'a')], { format: 'xml', overall: 'tasks', rescore: false })).rejects.toThrow(/--format must be md, csv or json/);
    await expect(reportText([join(root, 'missing')], { format: 'md', overall: 'tasks', rescore: false })).rejects.toThrow(/not a run directory/);
  });
});

describe('pcomp merge', () => {
  it('merges shards, rebuilds the tables, and reports what an unsharded run reports', async () => {
    const root = tmp();
    const correct = { qasper: [true, false, true, false], trec: [true, true, true, false] };
    evalRun(join(root, 'whole'), correct);
    for (const index of [0, 1]) evalRun(join(root, `shard${index}`), correct, { index, count: 2 });
    const summary = await mergeCommand([join(root, 'shard0'), join(root, 'shard1')], { out: join(root, 'merged') });
    expect(summary).toContain(`merged 2 shards: 2 configs × 2 tasks, 16 lines → ${join(root, 'merged')}`);
    expect(summary).toContain('| full | 50.00 | 75.00 | 50.00 | 75.00 | 62.50 |');
    for (const f of ['scores.md', 'scores.csv', 'scores.arrow']) expect(existsSync(join(root, 'merged', f))).toBe(true);
    const opts = { format: 'md', overall: 'tasks', rescore: true };
    expect(await reportText([join(root, 'merged')], opts)).toBe(await reportText([join(root, 'whole')], opts));
    await expect(mergeCommand([join(root, 'shard0')], { out: join(root, 'again') })).rejects.toThrow(/shard 1\/2 not given/);
  });

  it('merges perplexity shards and draws their plot', async () => {
    const root = tmp();
    const id = { model: { id: 'm', trainedLength: 512 }, configs: { full: {}, parallelcomp: {} }, settings: { evalTokens: 8 } };
    for (const index of [0, 1]) {
      const store = PplStore.open(join(root, `s${index}`), { ...id, shard: { index, count: 2 } });
      for (const length of [512, 1024, 2048]) {
        const mine = store.plan(length, ['d0', 'd1', 'd2']);
        for (const config of ['full', 'parallelcomp'])
          for (const doc of mine) store.append(config, length, { _id: doc, index: Number(doc[1]), nll: (config === 'full' ? length / 512 : 1) + Number(doc[1]) / 10, tokens: 8 });
      }
      store.finish();
    }
    const out = join(root, 'merged');
    const summary = await mergeCommand([join(root, 's0'), join(root, 's1')], { out });
    expect(summary).toContain('merged 2 shards: 2 configs × 3 lengths, 18 lines');
    expect(summary).toContain('(* trained length 512)');
    const png = decodePng(readFileSync(join(out, 'ppl.png')));
    expect([png.width, png.height]).toEqual([800, 480]);
    // full: mean NLL over d0..d2 = L/512 + 0.1 → exp(1.1), exp(2.1), exp(4.1)
    expect(readFileSync(join(out, 'ppl.md'), 'utf8')).toContain(`| full | ${Math.exp(1.1).toFixed(2)} | ${Math.exp(2.1).toFixed(2)} | ${Math.exp(4.1).toFixed(2)} |`);
    const report = await reportText([out, out.replace('merged', 's0')], { format: 'csv', overall: 'tasks', rescore: false });
    expect(report.split('\n')[1]).toMatch(/^full@merged,512,/);
  });
});

describe('command registration', () => {
  it('declares report and merge with examples, and merge requires --out', async () => {
    const program = new Command('pcomp').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerReport(program);
    registerMerge(program);
    const help = (name: string) => program.commands.find((c) => c.name() === name)!.helpInformation();
    expect(help('report')).toContain('<run-dirs...>');
    expect(help('merge')).toContain('--out <dir>');
    await expect(program.parseAsync(['node', 'pcomp', 'merge', 'a', 'b'])).rejects.toThrow(/required option '--out <dir>' not specified/);
  });
});

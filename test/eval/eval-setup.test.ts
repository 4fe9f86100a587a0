// The parts of `pcomp eval` that come before the engine: task selection, plans, names, and the
// user errors a mistyped command gets (exit 2, a message naming the flag, no stack).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { selectTasks, readTaskIds, isRetrievalTask, pendingRecords, checkBenchmark } from '../../cli/runners/eval-tasks.js';
import { defaultOutDir, modelName } from '../../cli/runners/eval-identity.js';
import { RunningScore } from '../../cli/runners/eval-predict.js';
import { registry } from '../../datasets/registry.js';
import { cliEnv, pcomp, tempRoot, writeDataDir, writeModel, removeTempRoots } from './helpers.js';

afterAll(removeTempRoots);

describe('eval setup', () => {
  it('selects a benchmark\'s tasks, or the --tasks list, and refuses tasks of another benchmark', () => {
    expect(selectTasks('longbench').map((t) => t.name)).toHaveLength(21);
    expect(selectTasks('longbench-e').every((t) => t.name.endsWith('_e'))).toBe(true);
    expect(selectTasks('longbench', 'trec, lcc,trec').map((t) => t.name)).toEqual(['trec', 'lcc']);
    expect(() => selectTasks('longbench', 'passkey')).toThrow('--tasks: "passkey" belongs to infinitebench, not longbench');
    expect(() => selectTasks('longbench', 'trecc')).toThrow(/unknown task "trecc"/);
    expect(() => checkBenchmark('longbench2')).toThrow('unknown benchmark "longbench2" (one of longbench, longbench-e, infinitebench)');
  });

  it('plans a task by record ids, falling back to the position where an id is missing or repeated', async () => {
    const dir = tempRoot();
    const file = path.join(dir, 'trec.jsonl');
    const rec = (id: string) => JSON.stringify({ input: 'q', context: 'c', answers: ['a'], all_classes: null, length: 1, _id: id });
    writeFileSync(file, [rec('a'), rec(''), '{broken', rec('b'), rec('b'), rec('c')].join('\n') + '\n');
    const trec = registry().get('trec');
    const all = await readTaskIds(trec, file);
    expect(all.ids).toEqual(['a', '#1', '#2', '#3', 'c']);
    expect(all.problems).toEqual([expect.stringMatching(/trec\.jsonl:3: invalid JSON/)]);
    expect((await readTaskIds(trec, file, 2)).ids).toEqual(['a', '#1']);
    expect((await readTaskIds(trec, file, 0)).ids).toEqual([]);
    const pending = [];
    for await (const r of pendingRecords(trec, file, all.ids, ['#3', 'a'])) pending.push([r.id, r.index, r.line]);
    expect(pending).toEqual([['a', 0, 1], ['#3', 3, 5]]);
  });

  it('names models and run directories readably and marks the retrieval tasks', () => {
    expect(modelName('meta-llama/Llama-2-7b-chat-hf', '/cache/models--meta-llama--Llama-2-7b-chat-hf/snapshots/' + 'a'.repeat(40))).toBe('Llama-2-7b-chat-hf');
    const root = tempRoot();
    const local = path.join(root, 'stories260K', 'hf');
    mkdirSync(local, { recursive: true });
    expect(modelName(local, local)).toBe('stories260K');
    expect(defaultOutDir('longbench', 'stories260K', { index: 0, count: 1 })).toBe(path.join('runs', 'longbench', 'stories260K'));
    expect(defaultOutDir('infinitebench', 'a b', { index: 2, count: 4 })).toBe(path.join('runs', 'infinitebench', 'a_b-shard-2-of-4'));
    const reg = registry();
    expect(['passage_retrieval_en', 'passage_retrieval_en_e', 'passkey', 'kv_retrieval', 'number_string'].every((t) => isRetrievalTask(reg.get(t)))).toBe(true);
    expect(['trec', 'qasper_e', 'passage_retrieval_zh', 'longbook_qa_eng'].some((t) => isRetrievalTask(reg.get(t)))).toBe(false);
  });

  it('keeps a running score as the mean of per-sample scores', () => {
    const s = new RunningScore('trec');
    expect(s.value).toBeUndefined();
    const line = (pred: string, i: number) => ({ _id: `s${i}`, index: i, pred, answers: ['Location'], all_classes: ['Location', 'Number'], length: 5 });
    expect(s.add([line('Location', 0), line('Number', 1)])).toBe(50);
    expect(s.add([line('Location\nNumber', 2)])).toBeCloseTo(200 / 3, 12); // first line only, as eval.py
  });
});

describe('pcomp eval: user errors before any sample runs', () => {
  const root = tempRoot();
  const dataDir = writeDataDir(path.join(root, 'data'), { trec: 2 });
  const model = writeModel(path.join(root, 'model'));
  const env = cliEnv(path.join(root, 'cache'));
  const base = ['eval', 'longbench', '--model', model, '--data-dir', dataDir, '--out', path.join(root, 'run')];

  it('names the bad flag, exits 2 and prints no stack', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['eval', 'longbenc', '--model', model, '--config', 'full'], /unknown benchmark "longbenc"/],
      [[...base, '--config', 'fulll', '--tasks', 'trec'], /unknown preset "fulll"/],
      [[...base, '--config', 'full', '--tasks', 'qasper'], /--data-dir .*: no file for task "qasper"/],
      [['eval', 'longbench', '--model', model, '--config', 'full', '--tasks', 'trec', '--offline'], /trec\) \(.*cache\), and it cannot be downloaded: offline.*\nhint: run `pcomp data pull longbench --tasks trec` .* --data-dir DIR/],
    ];
    const runs = await Promise.all(cases.map(([args]) => pcomp(args, env)));
    for (const [i, [args, message]] of cases.entries()) {
      const r = runs[i]!;
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    }
  });
});

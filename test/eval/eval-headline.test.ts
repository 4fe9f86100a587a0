// `pcomp eval longbench`, typed exactly so, in a fresh folder with a private Hugging Face cache:
//   no data and no network (offline, a refused port, or a hub that never answers): exit 2 naming
//   `pcomp data pull longbench` and --data-dir, the first line naming the default model, and nothing created;
//   data in the cache (pulled from the loopback hub by `pcomp data pull longbench`): every LongBench task on
//   builtin:tiny with full and parallelcomp, progress lines, the tables, prompts sized as the reference sizes
//   Llama-2-7B-chat-4K scaled to the 512-token window, and the note that the scores measure the pipeline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import { registry } from '../../datasets/registry.js';
import { storyDocument } from '../../datasets/synth/stories.js';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub.js';
import { cliEnv, hasEngine, pcomp, readJson, readPredictions, removeTempRoots, tempRoot, type CliRun } from './helpers.js';

const FIRST_LINE = /^no --model given: using builtin:tiny, .*pick a real model with --model <HF folder or org\/name>/;
const tasks = registry().byBenchmark('longbench');

/** One LongBench-format record per task: a story context of a few thousand tokens (so parallelcomp has several chunks). */
function record(task: string, i: number): Record<string, unknown> {
  const classes = ['Location', 'Number', 'Person'];
  return {
    input: 'Where did Anna find the red ball?',
    context: storyDocument(500 + i, 9000),
    answers: task === 'passage_retrieval_en' ? ['Paragraph 1'] : task === 'passage_retrieval_zh' ? ['段落1'] : task === 'passage_count' ? ['3'] : ['in the garden'],
    all_classes: task === 'trec' || task === 'lsht' ? classes : null,
    length: 2000,
    dataset: task,
    language: task.endsWith('_zh') || ['dureader', 'vcsum', 'lsht'].includes(task) ? 'zh' : 'en',
    _id: `${task}-${i}`,
  };
}

function longBenchZipAll(): Uint8Array {
  return zipSync(Object.fromEntries(tasks.map((t, i) => [`data/${t.name}.jsonl`, strToU8(JSON.stringify(record(t.name, i)) + '\n')])), { level: 1 });
}

/** A TCP port that accepts connections and never answers: a run must give up on it, not hang. */
async function silentServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => { sockets.push(s); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }) };
}

afterAll(removeTempRoots);

describe('pcomp eval longbench, exactly as typed, with no data and no network', () => {
  const root = tempRoot('pcomp-headline-');
  let silent: Awaited<ReturnType<typeof silentServer>>;
  const runs: Record<string, { cwd: string; cache: string; r: CliRun }> = {};

  beforeAll(async () => {
    silent = await silentServer();
    const cases: Record<string, Record<string, string>> = {
      refused: {}, // cliEnv's endpoint is a closed port
      offline: { HF_HUB_OFFLINE: '1' },
      silent: { HF_ENDPOINT: silent.url },
    };
    await Promise.all(Object.entries(cases).map(async ([name, extra]) => {
      const cwd = path.join(root, name, 'cwd');
      const cache = path.join(root, name, 'hf');
      mkdirSync(cwd, { recursive: true });
      runs[name] = { cwd, cache, r: await pcomp(['eval', 'longbench'], cliEnv(cache, extra), cwd) };
    }));
  });
  afterAll(async () => { await silent?.close(); });

  it.each(['refused', 'offline', 'silent'])('%s: exit 2, says what to run next, creates nothing', (name) => {
    const { cwd, cache, r } = runs[name]!;
    expect(r.stdout.split('\n')[0]).toMatch(FIRST_LINE);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^pcomp: error: no longbench data in the cache \(.*\), and it cannot be downloaded: /);
    expect(r.stderr).toContain('`pcomp data pull longbench`');
    expect(r.stderr).toContain('--data-dir DIR');
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    if (name === 'offline') expect(r.stderr).toMatch(/offline \(--offline or HF_HUB_OFFLINE\)/);
    if (name === 'silent') expect(r.stderr).toMatch(/no answer within 4 s/);
    expect(readdirSync(cwd)).toEqual([]);
    expect(existsSync(cache)).toBe(false);
  });
});

describe.skipIf(!hasEngine)('pcomp eval longbench, exactly as typed, with the data in the cache', () => {
  const root = tempRoot('pcomp-headline-');
  const cwd = path.join(root, 'cwd');
  const cache = path.join(root, 'hf');
  const out = path.join(cwd, 'runs', 'longbench', 'tiny');
  let hub: FakeHub;
  let pull: CliRun;
  let run: CliRun;

  beforeAll(async () => {
    mkdirSync(cwd, { recursive: true });
    const lb = tasks[0]!.hub;
    hub = await startFakeHub([{ type: 'dataset', name: lb.repo, commit: lb.revision, files: { [lb.archive!]: longBenchZipAll() } }]);
    pull = await pcomp(['data', 'pull', 'longbench'], cliEnv(cache, { HF_ENDPOINT: hub.url }), cwd);
    await hub.close();
    // The hub is gone: the run reads the cache only.
    run = await pcomp(['eval', 'longbench'], cliEnv(cache), cwd);
  }, 600_000);

  it('runs every task with full and parallelcomp on builtin:tiny, with progress and the tables', () => {
    expect(pull.code, pull.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(FIRST_LINE);
    expect(run.stdout).toContain(`eval longbench · tiny: 2 configs × ${tasks.length} tasks, ${2 * tasks.length} samples → runs/longbench/tiny`);
    for (const config of ['full', 'parallelcomp'])
      for (const t of tasks) {
        expect(run.stdout).toContain(`[${config}/${t.name}] 1/1 (100%)`);
        const preds = readPredictions(out, config, t.name);
        expect(preds, `${config}/${t.name}`).toHaveLength(1);
        expect(preds[0]!._id).toBe(`${t.name}-${tasks.indexOf(t)}`);
      }
    for (const f of ['scores.md', 'scores.csv', 'scores.arrow', 'manifest.json']) expect(existsSync(path.join(out, f)), f).toBe(true);
    const md = readFileSync(path.join(out, 'scores.md'), 'utf8');
    expect(md).toMatch(/^\| config \| NQA \|/);
    expect(md).toMatch(/\n\| full \|/);
    expect(md).toMatch(/\n\| parallelcomp \|/);
    // The table is printed too, and both say what the scores of a toy model mean.
    for (const text of [md, run.stdout]) expect(text).toContain('builtin:tiny is a 512-token toy model: these scores measure the pipeline');
  });

  it('sizes the prompts as the reference sizes Llama-2-7B-chat-4K, scaled to the 512-token window', () => {
    // LongBench model2maxlen 3500 and ParallelComp 3600 / 3950 (caps 2500 and 2800), all × 512/4096.
    expect(run.stdout).toContain('full: middle-truncate to 437 (LongBench model2maxlen["llama2-7b-chat-4k"]; × 0.125: builtin:tiny sized as llama2-7b-chat-4k, scaled to its window)');
    expect(run.stdout).toMatch(/parallelcomp \([^)]*narrativeqa[^)]*\): chunk budget 450, window 493 \(ParallelComp "llama2"; × 0\.125/);
    for (const [task, chunk, cap] of [['triviaqa', 312, 2500], ['repobench-p', 312, 2500], ['samsum', 350, 2800], ['passage_retrieval_en', 350, 2800]])
      expect(run.stdout).toContain(`parallelcomp (${task}): chunk budget ${chunk}, window 493 (ParallelComp "llama2", ${task} cap ${cap}; × 0.125`);
    const m = readJson(path.join(out, 'manifest.json')) as { model: { id: string }; settings: Record<string, unknown> };
    expect(m.model.id).toBe('builtin:tiny');
    expect(m.settings).toMatchObject({ benchmark: 'longbench', lengths: 'paper', lengthsModel: 'llama2-7b-chat-4k', lengthsScale: 0.125 });
    // A few-thousand-token context in 450-token chunks: several chunks, the first three kept (one for retrieval).
    for (const t of tasks) {
      const [p] = readPredictions(out, 'parallelcomp', t.name);
      expect(p!.chunks, t.name).toBeGreaterThan(3);
      expect(p!.kept_chunks!.length, t.name).toBe(t.name === 'passage_retrieval_en' ? 1 : 3);
    }
  });
});

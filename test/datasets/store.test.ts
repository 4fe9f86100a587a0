import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import { startFakeHub, sha256Hex, type FakeHub } from '../helpers/fake-hub.js';
import { registry } from '../../datasets/registry.js';
import { pullTasks, taskFile, taskFiles } from '../../datasets/store.js';
import { readRecords, streamRecords } from '../../datasets/records.js';
import type { HubEnv } from '../../datasets/hub.js';
import { UserError } from '../../util/errors.js';

const reg = registry();
const lbTask = reg.get('hotpotqa');
const lbCommit = lbTask.hub.revision;
const ibCommit = reg.get('passkey').hub.revision;

function lbLine(i: number, dataset: string): string {
  return JSON.stringify({ input: `q${i}`, context: `ctx ${i} `.repeat(20), answers: [`a${i}`], length: 40, dataset, language: 'en', all_classes: null, _id: `id${i}` });
}
const jsonl = (dataset: string, n: number) => Array.from({ length: n }, (_, i) => lbLine(i, dataset)).join('\n') + '\n';

describe('pulling benchmark data from a loopback hub', () => {
  let hub: FakeHub;
  let cache: string;
  let env: HubEnv;
  const members = { 'data/hotpotqa.jsonl': jsonl('hotpotqa', 5), 'data/hotpotqa_e.jsonl': jsonl('hotpotqa', 3), 'data/qasper.jsonl': jsonl('qasper', 4) };
  const zip = zipSync(Object.fromEntries(Object.entries(members).map(([k, v]) => [k, strToU8(v)])), { level: 6 });
  const passkey = [JSON.stringify({ id: 0, context: 'noise', input: 'What is the pass key?', answer: ['12345'], options: [] })].join('\n') + '\n';

  beforeEach(async () => {
    hub = await startFakeHub([
      { type: 'dataset', name: 'THUDM/LongBench', commit: lbCommit, files: { 'data.zip': zip, 'README.md': '# LongBench' } },
      { type: 'dataset', name: 'xinrongzhang2022/InfiniteBench', commit: ibCommit, files: { 'passkey.jsonl': passkey, 'kv_retrieval.jsonl': passkey } },
    ]);
    cache = await mkdtemp(path.join(os.tmpdir(), 'pcomp-store-'));
    env = { endpoint: hub.url, cacheDir: cache, offline: false };
  });
  afterEach(async () => {
    await hub.close();
    await rm(cache, { recursive: true, force: true });
  });

  it('unzips the requested LongBench members into the cache and records their sha256', async () => {
    const tasks = [reg.get('hotpotqa'), reg.get('hotpotqa_e')];
    const pulled = await pullTasks('longbench', tasks, { env });
    expect(pulled.map((p) => p.task)).toEqual(['hotpotqa', 'hotpotqa_e']);
    for (const p of pulled) {
      const text = await readFile(p.path, 'utf8');
      expect(text).toBe(members[`data/${p.task}.jsonl` as keyof typeof members]);
      expect(p.sha256).toBe(sha256Hex(Buffer.from(text)));
    }
    expect(await taskFile(reg.get('hotpotqa'), { env })).toBe(pulled[0]!.path);
    const { records } = await readRecords(pulled[0]!.path, 'longbench');
    expect(records.map((r) => (r.record as { input: string }).input)).toEqual(['q0', 'q1', 'q2', 'q3', 'q4']);
    // Not pulled yet: the error names the task and the command that fetches it.
    const err = await taskFiles([reg.get('qasper'), reg.get('hotpotqa'), reg.get('passkey')], { env }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/qasper[\s\S]*passkey/);
    expect(err.message).not.toMatch(/^\s+hotpotqa$/m);
    expect(err.hint).toBe('run: pcomp data pull longbench --tasks qasper && pcomp data pull infinitebench --tasks passkey');
  });

  it('re-extracts a corrupted member and works offline once pulled', async () => {
    const [p] = await pullTasks('longbench', [lbTask], { env });
    await writeFile(p!.path, 'garbage\n');
    expect(await taskFile(lbTask, { env }).catch((e) => e)).toBeInstanceOf(UserError); // size differs from the manifest
    const [again] = await pullTasks('longbench', [lbTask], { env });
    expect(await readFile(again!.path, 'utf8')).toBe(members['data/hotpotqa.jsonl']);
    await hub.close();
    const offline = { ...env, offline: true };
    const [off] = await pullTasks('longbench', [lbTask], { env: offline });
    expect(off!.sha256).toBe(again!.sha256);
    await expect(pullTasks('infinitebench', [reg.get('passkey')], { env: offline })).rejects.toThrow(/not in the cache/);
    hub = await startFakeHub([]);
  });

  it('downloads InfiniteBench task files directly', async () => {
    const pulled = await pullTasks('infinitebench', [reg.get('passkey')], { env });
    expect(await readFile(pulled[0]!.path, 'utf8')).toBe(passkey);
    const offline = { ...env, offline: true };
    await expect(pullTasks('infinitebench', [reg.get('passkey'), reg.get('kv_retrieval')], { env: offline }))
      .rejects.toThrow(/missing from the cache[\s\S]*kv_retrieval\.jsonl/);
  });

  it('reads tasks from a --data-dir folder in either layout', async () => {
    const dir = path.join(cache, 'local');
    await mkdir(path.join(dir, 'data'), { recursive: true });
    await writeFile(path.join(dir, 'data', 'qasper.jsonl'), jsonl('qasper', 2));
    await writeFile(path.join(dir, 'passkey.jsonl'), passkey);
    expect(await taskFile(reg.get('qasper'), { env, dataDir: dir })).toBe(path.join(dir, 'data', 'qasper.jsonl'));
    expect(await taskFile(reg.get('passkey'), { env, dataDir: dir })).toBe(path.join(dir, 'passkey.jsonl'));
    await expect(taskFile(reg.get('trec'), { env, dataDir: dir })).rejects.toThrow(/no file for task "trec"/);
  });
});

describe('jsonl records', () => {
  it('reports malformed lines as file:line and keeps the rest', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pcomp-rec-'));
    const file = path.join(dir, 'x.jsonl');
    await writeFile(file, [lbLine(0, 'x'), '{"input": "q", "context": "c", "answers": "not a list"}', '{broken', '', lbLine(3, 'x'), '[1]'].join('\n'));
    const { records, problems } = await readRecords(file, 'longbench', { displayName: 'data/x.jsonl' });
    expect(records.map((r) => [r.line, r.index])).toEqual([[1, 0], [5, 1]]);
    expect(problems).toEqual([
      'data/x.jsonl:2: field "answers" must be an array of strings',
      expect.stringMatching(/^data\/x\.jsonl:3: invalid JSON/),
      'data/x.jsonl:6: not a JSON object',
    ]);
    const picked = [];
    for await (const r of streamRecords(file, 'longbench', { indices: new Set([1]) })) picked.push(r.line);
    expect(picked).toEqual([5]);
    await expect(readRecords(path.join(dir, 'absent.jsonl'), 'longbench')).rejects.toThrow(/absent\.jsonl: cannot read/);
  });

  it('keeps InfiniteBench answer types and defaults missing options', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pcomp-rec-'));
    const file = path.join(dir, 'math_find.jsonl');
    await writeFile(file, `${JSON.stringify({ id: 1, context: 'c', input: 'i', answer: [3.5] })}\n${JSON.stringify({ id: 2, context: 'c', input: 'i', answer: 7 })}\n`);
    const { records } = await readRecords(file, 'infinitebench');
    expect(records.map((r) => r.record)).toEqual([
      { id: 1, context: 'c', input: 'i', answer: [3.5], options: [] },
      { id: 2, context: 'c', input: 'i', answer: [7], options: [] },
    ]);
  });
});


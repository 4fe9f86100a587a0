import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeByteTokenizer } from '../helpers/byte-tokenizer.js';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub.js';
import { registry } from '../../datasets/registry.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Run { code: number; stdout: string; stderr: string }
/** Runs bin/pcomp.js asynchronously (the loopback hub lives in this process and must keep serving). */
function pcomp(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot, 'bin/pcomp.js'), ...args], { cwd: repoRoot, env: { ...process.env, HF_HUB_OFFLINE: '', HF_TOKEN: '', ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

const rec = (i: number, ctx: string) => JSON.stringify({ input: `question ${i}?`, context: ctx, answers: ['a'], length: 3, dataset: 'hotpotqa', language: 'en', all_classes: null, _id: `x${i}` });

describe('pcomp data (CLI)', () => {
  let dir: string;
  let dataDir: string;
  let model: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcomp-datacli-'));
    dataDir = path.join(dir, 'data');
    await mkdir(dataDir);
    await writeFile(path.join(dataDir, 'hotpotqa.jsonl'), ['{"oops"', rec(0, 'short context'), rec(1, 'L'.repeat(400))].join('\n') + '\n');
    model = await writeByteTokenizer(path.join(dir, 'model'), { eosIds: [2] });
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('shows the exact prompt, its token count and the malformed line as file:line', async () => {
    const r = await pcomp(['data', 'show', 'hotpotqa', '--data-dir', dataDir, '--model', model, '--max-length', '60', '--index', '1']);
    expect(r.code).toBe(0);
    const template = registry().get('hotpotqa').template;
    const filled = template.replace('{context}', 'L'.repeat(400)).replace('{input}', 'question 1?');
    expect(r.stdout).toBe(filled.slice(0, 29) + filled.slice(-30));
    expect(r.stderr).toContain('hotpotqa.jsonl:1: invalid JSON');
    expect(r.stderr).toMatch(/hotpotqa\[1\] \(hotpotqa\.jsonl:3\): 60 tokens \(middle-truncated from \d+\); max length 60 \(--max-length\)/);
    const json = JSON.parse((await pcomp(['data', 'show', 'hotpotqa', '--data-dir', dataDir, '--model', model, '--max-length', '1000', '--json'])).stdout);
    expect(json).toMatchObject({ index: 0, line: 2, truncated: false, maxNew: 32, stopIds: [2] });
    expect(json.tokens).toBe(1 + Buffer.byteLength(json.text));
  });

  it('shows the chunked form and rejects unknown tasks with a user error', async () => {
    const r = await pcomp(['data', 'show', 'hotpotqa', '--data-dir', dataDir, '--model', model, '--index', '1', '--chunked', '--chunk-budget', '220', '--max-length', '400']);
    expect(r.code).toBe(0);
    // 400 context bytes, 220-token chunks of which the template (BOS + prefix bytes) takes 150: six chunks.
    expect(r.stdout).toMatch(/^----- chunk 1\/6: 210 tokens -----\n<s>Answer the question/);
    expect(r.stderr).toMatch(/6 chunk\(s\) \+ question = \d+ tokens; chunk budget 220, window 400/);
    expect(r.stdout).toContain('----- question: ');
    const bad = await pcomp(['data', 'show', 'hotpot', '--data-dir', dataDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown task "hotpot" \(did you mean hotpotqa/);
    expect(bad.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('lists tasks with their availability', async () => {
    const r = await pcomp(['data', 'ls', '--json', '--data-dir', dataDir, '--benchmark', 'longbench']);
    const rows = JSON.parse(r.stdout) as Array<{ task: string; size: number | null }>;
    expect(rows).toHaveLength(21);
    expect(rows.find((x) => x.task === 'hotpotqa')!.size).toBeGreaterThan(0);
    expect(rows.find((x) => x.task === 'qasper')!.size).toBeNull();
  });

  it('writes synthetic records (the --out folder is made when missing)', async () => {
    const out = path.join(dir, 'synth-new', 'pk.jsonl');
    const r = await pcomp(['data', 'synth', 'passkey', '--len', '2k', '--n', '3', '--seed', '4', '--tokenizer', model, '--out', out]);
    expect(r.code).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(r.stderr).toMatch(/3 passkey record\(s\), \d+ noise lines each, \d+ tokens measured/);
  });

  it('pulls from HF_ENDPOINT into HF_HUB_CACHE, and offline lists what is missing', async () => {
    const hub: FakeHub = await startFakeHub([{ type: 'dataset', name: 'xinrongzhang2022/InfiniteBench', commit: registry().get('passkey').hub.revision, files: {
      'passkey.jsonl': JSON.stringify({ id: 0, context: 'c', input: 'What is the pass key?', answer: ['11111'], options: [] }) + '\n',
    } }]);
    const cache = path.join(dir, 'cache');
    try {
      const ok = await pcomp(['data', 'pull', 'infinitebench', '--tasks', 'passkey'], { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache });
      expect(ok.stderr).toContain('1 task file(s) ready');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/^passkey\t/);
      const off = await pcomp(['data', 'pull', 'infinitebench', '--tasks', 'passkey,kv_retrieval', '--offline'], { HF_HUB_CACHE: cache });
      expect(off.code).toBe(2);
      expect(off.stderr).toContain('kv_retrieval.jsonl');
      expect(off.stderr).toContain('hint: run without --offline / HF_HUB_OFFLINE: pcomp data pull infinitebench --tasks passkey,kv_retrieval');
      const shown = await pcomp(['data', 'show', 'passkey', '--offline'], { HF_HUB_CACHE: cache });
      expect(shown.stdout).toContain('What is the pass key?');
    } finally {
      await hub.close();
    }
  });
});

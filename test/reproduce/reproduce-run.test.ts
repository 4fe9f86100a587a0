// `pcomp reproduce` end to end on a seeded random model (test/oracle/model-writer.ts, trained window 256):
// every table's files, run directories that `pcomp eval` and `pcomp ppl` recognise and continue, resume
// with nothing left to do, a run that adds configs to an earlier one, and T-SCORE skipped with its reason.
// The numbers of a random model mean nothing; the shapes on the built-in model are in builtin-claims.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, pcomp, tempRoot, writeModel, type CliRun } from '../eval/helpers.js';

const readText = (...p: string[]) => readFileSync(path.join(...p), 'utf8');
const csvRows = (file: string) => readFileSync(file, 'utf8').trim().split('\n').slice(1).map((r) => r.split(','));

describe('pcomp reproduce on a seeded model', () => {
  const root = tempRoot('pcomp-repro-');
  const model = writeModel(path.join(root, 'model'), { maxPositionEmbeddings: 256 });
  const out = path.join(root, 'out');
  const env = cliEnv(path.join(root, 'cache'));
  const common = ['--model', model, '--out', out, '--len', '256,1k', '--samples', '2', '--tasks', 'passkey,number_string,kv_retrieval',
    '--bench-samples', path.join(root, 'none'), '--threads', '2'];
  let first: CliRun;
  let partial: CliRun;

  beforeAll(async () => {
    // T-IB with two configs first: the full run below must reuse their samples
    partial = await pcomp(['reproduce', 't-ib', '--config', 'full,parallelcomp', ...common], env);
    first = await pcomp(['reproduce', 'all', ...common], env);
  }, 600_000);

  it('runs every table and writes each as markdown and csv, and all of them in reproduction.md', () => {
    expect(partial.stderr).toBe('');
    expect(partial.code).toBe(0);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    for (const t of ['t-ppl', 't-ib', 't-speed', 't-score']) {
      expect(existsSync(path.join(out, `${t}.md`)), t).toBe(true);
      expect(existsSync(path.join(out, `${t}.csv`)), t).toBe(true);
    }
    const report = readText(out, 'reproduction.md');
    expect(report).toMatch(/^# pcomp reproduce\n\nCommand: `pcomp reproduce all --model /m);
    expect(report).toContain("## T-PPL · perplexity vs context length (Table 3's layout)");
    expect(report).toContain('**1k tokens (4× the trained length)**');
    expect(report).toContain('_1317.72 / 24.30_');
    expect(report).toContain(`T-SCORE skipped: no published predictions under ${path.join(root, 'none')}`);
    expect(first.stdout).toContain(report.slice(0, 200));
  });

  it('measures every config at every length: T-IB accuracy, T-PPL perplexity, T-speed timings', () => {
    const ib = csvRows(path.join(out, 't-ib.csv'));
    expect(ib).toHaveLength(10 * 3 * 2);
    for (const [, , , , accuracy, samples] of ib) {
      expect(Number(accuracy)).toBeGreaterThanOrEqual(0);
      expect(Number(accuracy)).toBeLessThanOrEqual(100);
      expect(samples).toBe('2');
    }
    const ppl = csvRows(path.join(out, 't-ppl.csv'));
    expect(ppl.map((r) => `${r[0]}@${r[1]}`)).toEqual(['full', 'ntk', 'dynamic-ntk', 'chunkllama', 'streaming', 'parallelcomp'].flatMap((c) => [`${c}@256`, `${c}@1024`]));
    for (const r of ppl) expect(Number(r[3])).toBeGreaterThan(1);
    const speed = csvRows(path.join(out, 't-speed.csv'));
    expect(speed.map((r) => `${r[0]}/${r[1]}`)).toEqual([1, 4, 16].flatMap((p) => ['parallelcomp', 'parallelcomp-kv'].map((c) => `${c}/${p}`)));
    for (const r of speed) {
      expect(Number(r[2])).toBeGreaterThan(16); // 4096 tokens in chunks of at most 256
      expect(Number(r[3])).toBeGreaterThan(0);
      expect(Number(r[5])).toBeGreaterThan(0);
    }
  });

  it('keeps ordinary eval and ppl run directories, which the eval command continues with nothing to do', async () => {
    const ibRun = path.join(out, 't-ib', '1k-n2');
    const manifest = JSON.parse(readText(ibRun, 'manifest.json'));
    expect(manifest.kind).toBe('eval');
    expect(manifest.settings).toEqual({ benchmark: 'infinitebench', maxNewTokens: 'official' });
    expect(Object.keys(manifest.configs)).toContain('extrapolate');
    expect(existsSync(path.join(ibRun, 'scores.md'))).toBe(true);
    expect(JSON.parse(readText(out, 't-ppl', 'n2', 'manifest.json')).kind).toBe('ppl');
    expect(existsSync(path.join(out, 't-ppl', 'n2', 'ppl.png'))).toBe(true);
    const again = await pcomp(['eval', 'infinitebench', '--model', model, '--config', 'full,parallelcomp', '--tasks', 'passkey,number_string,kv_retrieval',
      '--data-dir', path.join(out, 't-ib', 'data-1k-n2'), '--out', ibRun, '--threads', '2'], env);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/12 samples \(12 already done, resuming\)/);
    expect(again.stdout).toMatch(/done in .*: 0 samples/);
  });

  it('reuses the samples an earlier run finished', () => {
    // the partial run did full and parallelcomp on 3 tasks x 2 lengths x 2 samples
    expect(first.stdout).toMatch(/\((24) already done, resuming\)/);
  });

  it('does nothing but the tables when run again, and gets the same tables', async () => {
    const before = ['t-ib.csv', 't-ppl.csv', 't-speed.csv'].map((f) => readText(out, f));
    const again = await pcomp(['reproduce', 'all', ...common], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/done in .*: 0 samples/);
    expect(['t-ib.csv', 't-ppl.csv', 't-speed.csv'].map((f) => readText(out, f))).toEqual(before);
  }, 300_000);

  it('names a config it does not know', async () => {
    const bad = await pcomp(['reproduce', 't-ib', '--config', 'parallelcomp,fulll', ...common], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--config: unknown "fulll"');
  });
});

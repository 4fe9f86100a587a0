// `pcomp ppl` end to end on a seeded random model (trained window 256) and seeded word documents:
// every config × length × document lands once (too-short documents skipped and counted), full
// attention's NLL is exactly the model's NLL of the last E tokens given the whole context, chunked
// ParallelComp scores inside the window, the outputs agree with the lines, the PNG shows one line per
// config, a re-run resumes (and may add a length), and bad input is refused with a clear message.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { EngineModel } from '../../engine/index.js';
import type { PplOptions } from '../../cli/commands/ppl.js';
import { runPpl } from '../../cli/runners/ppl.js';
import { mergeRunDirs } from '../../results/merge.js';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import { CONFIG_COLORS } from '../../results/plots.js';
import { columnsWithColor, decodePng } from '../results/helpers/png-decode.js';
import { cliEnv, pcomp, readNll, readPplCsv, tempRoot, words, writeModel, type CliRun } from './helpers.js';

const CONFIGS = ['full', 'parallelcomp'];
const LENGTHS = [128, 256, 512];
const E = 32;
const Q = 16;
const WINDOW = 256;

describe('pcomp ppl on a seeded random model', () => {
  const root = tempRoot();
  const model = path.join(root, 'model');
  const data = path.join(root, 'docs.jsonl');
  const out = path.join(root, 'run');
  const env = cliEnv(path.join(root, 'cache'));
  const docs = [
    { id: 'long-a', text: words(1, 500) },
    { id: 'short', text: words(2, 60) },
    { id: 'long-b', text: words(3, 500) },
  ];
  const args = ['ppl', '--model', model, '--data', data, '--len', '128..512', '--config', CONFIGS.join(','),
    '--eval-tokens', String(E), '--query-tokens', String(Q), '--out', out, '--threads', '1'];
  let first: CliRun;
  let tokens: Int32Array[];

  beforeAll(async () => {
    writeModel(model);
    writeFileSync(data, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
    const tok = await loadTokenizer(model);
    tokens = docs.map((d) => tok.encode(d.text));
    first = await pcomp(args, env);
  }, 120_000);

  it('the documents span the lengths: two long ones, one shorter than 256 tokens', () => {
    expect(tokens[0]!.length).toBeGreaterThan(512);
    expect(tokens[2]!.length).toBeGreaterThan(512);
    expect(tokens[1]!.length).toBeGreaterThan(128);
    expect(tokens[1]!.length).toBeLessThan(256);
  });

  it('writes one line per config × length × document, skipping (never padding) the short one', () => {
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    for (const config of CONFIGS)
      for (const length of LENGTHS) {
        const lines = readNll(out, config, length);
        expect(lines.map((l) => l._id)).toEqual(docs.map((d) => d.id));
        lines.forEach((l, i) => {
          expect(l.index).toBe(i);
          if (tokens[i]!.length < length) {
            expect(l.skipped).toBe(`shorter than ${length} tokens (${tokens[i]!.length})`);
            expect(l.nll).toBeUndefined();
          } else {
            expect(l.skipped).toBeUndefined();
            expect(l.tokens).toBe(Math.min(E, length / 2));
            expect(Number.isFinite(l.nll)).toBe(true);
            expect(l.nll).toBeGreaterThan(0);
          }
        });
      }
  });

  it('full attention scores the last E tokens exactly as one forward over the first L tokens does', async () => {
    const m = await EngineModel.load(model, { threads: 1 });
    try {
      for (const length of LENGTHS)
        for (const [i, line] of readNll(out, 'full', length).entries()) {
          if (line.skipped) continue;
          const nll = await m.nll(tokens[i]!.subarray(0, length));
          const e = Math.min(E, length / 2);
          const last = nll.subarray(length - 1 - e);
          const mean = last.reduce((a, b) => a + b, 0) / e;
          expect(Math.abs(line.nll! - mean)).toBeLessThan(1e-3 * mean);
          expect(line.first_eval_position).toBe(length - e);
        }
    } finally {
      m.free();
    }
  });

  it('ParallelComp chunks the context past the window and scores inside it', () => {
    const lines = readNll(out, 'parallelcomp', 512).filter((l) => !l.skipped);
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      // 512 − 32 − 16 = 464 body tokens in chunks of at most 256 − 16 − 32 = 208
      expect(l.chunks).toBe(Math.ceil((464 - 1) / 207));
      expect(l.kept_chunks!.length).toBe(Math.min(3, l.chunks!));
      expect(l.first_eval_position! + E).toBeLessThanOrEqual(WINDOW);
    }
  });

  it('derives ppl.csv from the lines: exp(token-weighted mean NLL), samples and skips counted', () => {
    const csv = readPplCsv(out);
    expect(csv.size).toBe(CONFIGS.length * LENGTHS.length);
    for (const config of CONFIGS)
      for (const length of LENGTHS) {
        const lines = readNll(out, config, length);
        const used = lines.filter((l) => !l.skipped);
        const tokensUsed = used.reduce((n, l) => n + l.tokens!, 0);
        const ppl = Math.exp(used.reduce((s, l) => s + l.nll! * l.tokens!, 0) / tokensUsed);
        const row = csv.get(`${config}/${length}`)!;
        expect(row.samples).toBe(used.length);
        expect(row.skipped).toBe(lines.length - used.length);
        expect(row.tokens).toBe(tokensUsed);
        expect(row.ppl).toBeCloseTo(ppl, 10);
      }
    expect(csv.get('full/512')!.skipped).toBe(1);
    expect(csv.get('full/128')!.skipped).toBe(0);
  });

  it('records the protocol in the manifest', () => {
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.kind).toBe('ppl');
    expect(manifest.model.trainedLength).toBe(WINDOW);
    expect(manifest.settings).toMatchObject({ protocol: 'default', evalTokens: E, queryTokens: Q, data: { kind: 'file', file: data } });
    expect(manifest.settings.data.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(manifest.configs)).toEqual(CONFIGS);
    for (const length of LENGTHS) expect(JSON.parse(readFileSync(path.join(out, 'plans', `${length}.json`), 'utf8')).ids).toEqual(docs.map((d) => d.id));
  });

  it('draws a PNG of the chart size with one line per config, and prints the table and a terminal chart', () => {
    for (const f of ['ppl.csv', 'ppl.arrow', 'ppl.md', 'ppl.svg', 'ppl.png']) expect(existsSync(path.join(out, f))).toBe(true);
    const img = decodePng(readFileSync(path.join(out, 'ppl.png')));
    expect([img.width, img.height]).toEqual([800, 480]);
    // each config's colour spans a good part of the plot's width (a line, not just its legend swatch; where
    // two lines coincide the later one covers the earlier)
    for (const color of CONFIG_COLORS.slice(0, 2)) expect(columnsWithColor(img, color).size).toBeGreaterThan(150);
    for (const color of CONFIG_COLORS.slice(2)) expect(columnsWithColor(img, color).size).toBeLessThan(10);
    expect(first.stdout).toContain('| config | 128 | 256* | 512 |');
    expect(first.stdout).toMatch(/\| full \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \|/);
    expect(first.stdout).toContain('── full   ── parallelcomp   (* trained length 256)');
  });

  it('resumes: the same command runs nothing again, and a new length runs only that length', async () => {
    const before = CONFIGS.flatMap((c) => LENGTHS.map((l) => readFileSync(path.join(out, 'nll', c, `${l}.jsonl`), 'utf8')));
    const again = await pcomp(args, env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/done in .*: 0 samples/);
    const more = await pcomp(args.map((a) => (a === '128..512' ? '128..512,384' : a)), env);
    expect(more.stderr).toBe('');
    expect(more.code).toBe(0);
    expect(CONFIGS.flatMap((c) => LENGTHS.map((l) => readFileSync(path.join(out, 'nll', c, `${l}.jsonl`), 'utf8')))).toEqual(before);
    for (const c of CONFIGS) expect(readNll(out, c, 384).map((l) => l._id)).toEqual(docs.map((d) => d.id));
    expect(readPplCsv(out).size).toBe(CONFIGS.length * 4);
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.sessions).toHaveLength(3);
  }, 120_000);

  it('splits the documents across shards whose merge gives the same lines as one process', async () => {
    const shardOpts = (i: number): PplOptions => ({
      model, data, len: LENGTHS, config: CONFIGS.join(','), samples: 10, evalTokens: E, queryTokens: Q, protocol: 'default',
      out: path.join(root, `shard-${i}`), shard: `${i}/2`, set: [], threads: 1, quiet: true, json: false, offline: true,
    });
    for (const i of [0, 1]) await runPpl(shardOpts(i));
    const owned = [0, 1].map((i) => readNll(path.join(root, `shard-${i}`), 'full', 128).map((l) => l._id));
    expect(owned[0]!.length).toBeGreaterThan(0);
    expect(owned[1]!.length).toBeGreaterThan(0);
    expect([...owned[0]!, ...owned[1]!].sort()).toEqual(docs.map((d) => d.id).sort());
    const merged = path.join(root, 'merged');
    mergeRunDirs([0, 1].map((i) => path.join(root, `shard-${i}`)), merged);
    const withoutTime = (dir: string, c: string, l: number) => readNll(dir, c, l).map(({ time_s: _t, ...rest }) => rest).sort((a, b) => a.index - b.index);
    for (const c of CONFIGS) for (const l of LENGTHS) expect(withoutTime(merged, c, l)).toEqual(withoutTime(out, c, l));
  }, 120_000);

  it('refuses to continue the directory under another protocol setting', async () => {
    const r = await pcomp(args.map((a) => (a === String(Q) ? '8' : a)), env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot continue this run, settings\.queryTokens differs: the directory has 16, this command has 8/);
  });

  it('rejects unknown configs, bad lengths, too-short data and windows too small for the cut, naming the flag', async () => {
    // through the CLI: the exit codes and the messages as a user sees them
    const base = ['ppl', '--model', model, '--data', data, '--out', path.join(root, 'bad'), '--threads', '1'];
    const unknown = await pcomp([...base, '--len', '256', '--config', 'full,nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown preset "nope"; presets: .*parallelcomp/);
    const badLen = await pcomp([...base, '--len', '2k..3k', '--config', 'full'], env);
    expect(badLen.code).not.toBe(0);
    expect(badLen.stderr).toMatch(/--len <lengths>.*range "2k\.\.3k": 3072 is not 2048 doubled/);
    // in process (each CLI start costs seconds on a busy machine): the other refusals
    const opts = (over: Partial<PplOptions>): PplOptions => ({
      model, data, len: [256], config: 'full', samples: 10, evalTokens: E, queryTokens: Q, protocol: 'default',
      out: path.join(root, 'bad'), set: [], threads: 1, quiet: true, json: false, offline: true, ...over,
    });
    const longest = Math.max(...tokens.map((t) => t.length));
    await expect(runPpl(opts({ len: [256, 2048, 4096] }))).rejects.toThrow(new RegExp(`--data .*docs\\.jsonl: too short for --len 2k,4k: its longest document has ${longest} tokens`));
    await expect(runPpl(opts({ len: [64], queryTokens: 40 }))).rejects.toThrow(/--len 64: length 64 is too short: 32 evaluated and 40 query tokens leave -8 context tokens/);
    await expect(runPpl(opts({ len: [512], config: 'parallelcomp', evalTokens: 250 })))
      .rejects.toThrow(/config parallelcomp: the trained window \(256 tokens\) leaves -10 tokens per chunk after 16 query and 250 evaluated tokens/);
    await expect(runPpl(opts({ protocol: 'paper', data: path.join(root, 'x.txt') }))).rejects.toThrow(/--protocol paper: needs NarrativeQA questions/);
    await expect(runPpl(opts({ config: ' , ' }))).rejects.toThrow(/--config: give at least one preset name/);
    expect(existsSync(path.join(root, 'bad', 'nll'))).toBe(false);
  }, 120_000);
});

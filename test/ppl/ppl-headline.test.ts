// `pcomp ppl --len 128k` (and `--len 4k`), typed exactly so, in a fresh folder with a private Hugging Face
// cache: builtin:tiny, full and parallelcomp; PG19 when it is cached or the hub serves it, else (offline,
// the hub unreachable) the built-in stories document; the first lines say which model and data, the
// manifest records the data. Full attention over 128K tokens takes minutes of CPU, so the 128K command is
// checked up to its first sample and then continued with parallelcomp alone, which runs it to the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PG19 } from '../../datasets/ppl-data.js';
import { storyDocument } from '../../datasets/synth/stories.js';
import { startFakeHub } from '../helpers/fake-hub.js';
import { cliEnv, hasEngine, pcomp, readJson, removeTempRoots, repoRoot, tempRoot, type CliRun } from '../eval/helpers.js';
import { parquetBytes } from './parquet-writer.js';
import { readPplCsv } from './helpers.js';

const FIRST_LINE = /^no --model given: using builtin:tiny, .*pick a real model with --model <HF folder or org\/name>/;
const STORIES_LINE = /^data: the built-in stories document \(datasets\/synth\/stories\.ts storyDocument\(seed\), seed 1000, generated here\), because PG19 is not in the cache and (.*); for PG19 run once with network access: pcomp ppl --data pg19/;

afterAll(removeTempRoots);

interface PplManifest { model: { id: string; trainedLength: number }; configs: Record<string, unknown>; settings: Record<string, any>; data: Record<string, unknown> }

describe.skipIf(!hasEngine)('pcomp ppl, exactly as typed, offline', () => {
  const root = tempRoot('pcomp-ppl-headline-');
  const cwd = path.join(root, 'cwd');
  const out = path.join(cwd, 'runs', 'ppl-stories', 'tiny');
  let short: CliRun;

  beforeAll(async () => {
    mkdirSync(cwd, { recursive: true });
    // cliEnv: an empty private cache and a refused hub address.
    short = await pcomp(['ppl', '--len', '4k'], cliEnv(path.join(root, 'hf')), cwd);
  });

  it('pcomp ppl --len 4k: builtin:tiny on the stories document, full and parallelcomp, to the end', () => {
    expect(short.stderr).toBe('');
    expect(short.code).toBe(0);
    const lines = short.stdout.split('\n');
    expect(lines[0]).toMatch(FIRST_LINE);
    expect(lines[1]).toMatch(STORIES_LINE);
    expect(lines[1]!.match(STORIES_LINE)![1]).toMatch(/^http:\/\/127\.0\.0\.1:9 cannot be reached/);
    expect(short.stdout).toContain('ppl stories · tiny: 2 configs × 1 tasks, 2 samples → runs/ppl-stories/tiny');
    const csv = readPplCsv(out);
    const full = csv.get('full/4096')!;
    const pc = csv.get('parallelcomp/4096')!;
    // 8× the trained length: full attention loses the thread, ParallelComp stays near its in-window perplexity.
    expect(pc.ppl).toBeLessThan(3);
    expect(full.ppl).toBeGreaterThan(3 * pc.ppl);
    expect(full.tokens).toBe(128); // the evaluated tokens: 1024 capped at a quarter of the 512-token window
    const m = readJson<PplManifest>(path.join(out, 'manifest.json'));
    expect(m.model).toMatchObject({ id: 'builtin:tiny', trainedLength: 512 });
    expect(Object.keys(m.configs)).toEqual(['full', 'parallelcomp']);
    expect(m.settings).toMatchObject({ protocol: 'default', evalTokens: 128, queryTokens: 64, data: { kind: 'stories', seeds: [1000] } });
    expect(m.settings.data.prefixSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.data).toEqual({ source: 'stories', chosen: 'default (no --data)', documents: 1 });
    expect(short.stdout).toContain('note: builtin:tiny is a toy model trained on 512-token stories');
    for (const f of ['ppl.csv', 'ppl.md', 'ppl.svg', 'ppl.png', 'ppl.arrow']) expect(existsSync(path.join(out, f)), f).toBe(true);
  });

  it('pcomp ppl --len 128k: plans both configs on a 128K-token stories document, and parallelcomp finishes it', async () => {
    const env = cliEnv(path.join(root, 'hf'), { HF_HUB_OFFLINE: '1' });
    const proc = spawn(process.execPath, [path.join(repoRoot, 'bin/pcomp.js'), 'ppl', '--len', '128k'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const planned = new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('→ runs/ppl-stories/tiny\n')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`exited ${code} before the first sample: ${stdout}${stderr}`)));
    });
    await planned;
    // The manifest is written before the first sample: what the exact command chose is on disk.
    const m = readJson<PplManifest>(path.join(out, 'manifest.json'));
    proc.kill('SIGKILL');
    await new Promise((resolve) => proc.once('exit', resolve));
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(FIRST_LINE);
    expect(lines[1]!.match(STORIES_LINE)?.[1]).toBe('offline (--offline or HF_HUB_OFFLINE)');
    expect(stdout).toContain('ppl stories · tiny: 2 configs × 1 tasks, 2 samples → runs/ppl-stories/tiny');
    expect(stderr).toBe('');
    expect(Object.keys(m.configs)).toEqual(['full', 'parallelcomp']);
    expect(m.settings.data).toMatchObject({ kind: 'stories', seeds: [1000] });

    // The same run directory, continued with the cheap config: ParallelComp at 256× the trained length.
    const pc = await pcomp(['ppl', '--len', '128k', '--config', 'parallelcomp'], env, cwd);
    expect(pc.code, pc.stderr).toBe(0);
    const row = readPplCsv(out).get('parallelcomp/131072')!;
    expect(row.tokens).toBe(128);
    expect(row.ppl).toBeLessThan(3);
    expect(readFileSync(path.join(out, 'ppl.md'), 'utf8')).toMatch(/\| parallelcomp \|.*\| [\d.]+ \|/);
  }, 300_000);
});

describe.skipIf(!hasEngine)('pcomp ppl without --data, where PG19 can be had', () => {
  const root = tempRoot('pcomp-ppl-headline-');
  const cwd = path.join(root, 'cwd');
  const cache = path.join(root, 'hf');

  it('downloads PG19 when the hub answers, reads it from the cache offline after, and records it', async () => {
    mkdirSync(cwd, { recursive: true });
    const books = [storyDocument(7, 20000), storyDocument(8, 20000)];
    const hub = await startFakeHub([{ type: 'dataset', name: PG19.repo, commit: 'd'.repeat(40), files: {
      [PG19.file]: parquetBytes({ text: books, short_book_title: ['A', 'B'] }),
    } }]);
    let online: CliRun;
    try {
      online = await pcomp(['ppl', '--len', '1k', '--config', 'parallelcomp'], cliEnv(cache, { HF_ENDPOINT: hub.url }), cwd);
    } finally {
      await hub.close();
    }
    expect(online.code, online.stderr).toBe(0);
    expect(online.stdout.split('\n')[1]).toBe(`data: PG19 test books (${PG19.repo}, downloading into ${cache}); --data stories needs no download`);
    const offline = await pcomp(['ppl', '--len', '1k', '--config', 'parallelcomp'], cliEnv(cache), cwd);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout.split('\n')[1]).toBe(`data: PG19 test books (${PG19.repo}, from the cache ${cache}); --data picks another source`);
    const out = path.join(cwd, 'runs', 'ppl-pg19', 'tiny');
    const m = readJson<PplManifest>(path.join(out, 'manifest.json'));
    expect(m.settings.data).toEqual({ kind: 'pg19', repo: PG19.repo, file: PG19.file, commit: 'd'.repeat(40) });
    expect(readPplCsv(out).get('parallelcomp/1024')!.samples).toBe(2);
  });
});

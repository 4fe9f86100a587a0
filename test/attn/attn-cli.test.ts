// `pcomp attn` end to end through the CLI: the built-in model and stories260K (skipped with a
// message when ../shared is absent) under full attention and ParallelComp; every output file, region
// shares summing to 1 per row, the CSV and Arrow tables holding the engine's trace, the summary, and
// refusals of bad input with exit code 2.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv, pcomp, repoRoot, tempRoot, words } from '../ppl/helpers.js';

// ../shared beside the checkout (main), or beside the worktrees' folder (a helper's worktree).
const stories260K = [path.resolve(repoRoot, '../shared'), path.resolve(repoRoot, '../../shared')]
  .map((d) => path.join(d, 'models/stories260K/hf')).find((d) => existsSync(path.join(d, 'model.safetensors'))) ?? path.resolve(repoRoot, '../shared/models/stories260K/hf');
const hasStories = existsSync(path.join(stories260K, 'model.safetensors'));

/** The CSVs hold no quoted fields (no value has a comma or a quote): header, then rows. */
function parse(text: string, _opts: { columns: true }): Array<Record<string, string>> {
  const [head, ...lines] = text.trim().split('\n');
  const cols = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
}

const root = tempRoot('pcomp-attn-');
afterAll(() => { /* temp dirs are left to the OS: they hold only small files */ });
const env = cliEnv(path.join(root, 'hf'));
const context = path.join(root, 'context.txt');
writeFileSync(context, words(3, 1500));

const FILES = ['attn.json', 'attn_bins.csv', 'attn_bins.arrow', 'attn_regions.csv', 'attn_regions.arrow', 'attn_chunks.csv', 'attn_chunks.arrow',
  'heatmap-full.svg', 'heatmap-full.png', 'heatmap-parallelcomp.svg', 'heatmap-parallelcomp.png', 'regions.svg', 'regions.png', 'summary.txt',
  'trace-full.json', 'trace-parallelcomp.json'];

async function runAndCheck(model: string, out: string, layers: number, extra: string[] = []) {
  const r = await pcomp(['attn', '--model', model, '--config', 'full,parallelcomp', '--context-file', context, '--question', 'what is it?',
    '--bins', '16', '-n', '4', '--out', out, '--device', 'cpu', ...extra], env);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  for (const f of FILES) expect(existsSync(path.join(out, f)), f).toBe(true);
  expect(readFileSync(path.join(out, 'heatmap-full.png')).subarray(1, 4).toString()).toBe('PNG');
  expect(r.stdout).toContain('full:');
  expect(r.stdout).toContain('parallelcomp:');
  const regions = parse(readFileSync(path.join(out, 'attn_regions.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
  for (const row of regions) expect(Math.abs(Number(row.sink) + Number(row.middle) + Number(row.recent) - 1)).toBeLessThan(1e-9);
  expect(new Set(regions.map((row) => row.layer)).size).toBe(layers);
  for (const row of regions) expect(['U-shape', 'mountain', 'uniform']).toContain(row.class);
  // The tables hold the engine's trace: the CSV's query-head shares are the trace's normalised regions.
  const trace = JSON.parse(readFileSync(path.join(out, 'trace-parallelcomp.json'), 'utf8')).attention;
  const first = regions.find((row) => row.config === 'parallelcomp' && row.layer === '1' && row.head_kind === 'query' && row.head === '0')!;
  const reg = trace.layers[0].regions[0] as number[];
  const tot = reg[0]! + reg[1]! + reg[2]!;
  expect(Number(first.sink)).toBeCloseTo(reg[0]! / tot, 12);
  expect(Number(first.recent)).toBeCloseTo(reg[2]! / tot, 12);
  const arrow = tableFromIPC(readFileSync(path.join(out, 'attn_regions.arrow')));
  expect(arrow.numRows).toBe(regions.length);
  const bins = parse(readFileSync(path.join(out, 'attn_bins.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
  const perHead = new Map<string, number>();
  for (const b of bins) perHead.set(`${b.config}/${b.layer}/${b.head_kind}/${b.head}`, (perHead.get(`${b.config}/${b.layer}/${b.head_kind}/${b.head}`) ?? 0) + Number(b.mass));
  for (const v of perHead.values()) expect(Math.abs(v - 1)).toBeLessThan(1e-9);
  expect(tableFromIPC(readFileSync(path.join(out, 'attn_bins.arrow'))).numRows).toBe(bins.length);
  // Under ParallelComp the chunked layout marks chunk boundaries; full attention reads one sequence.
  expect(trace.chunkOffsets.length).toBeGreaterThan(1);
  return { regions, trace };
}

describe('pcomp attn', () => {
  it('built-in model: full and parallelcomp, every file, shares summing to 1', async () => {
    await runAndCheck('builtin:tiny', path.join(root, 'tiny'), 4);
  }, 120_000);

  it('--after kv on a calibrated config records the cache before each layer\'s calibration', async () => {
    const out = path.join(root, 'kv');
    const r = await pcomp(['attn', '--model', 'builtin:tiny', '--config', 'parallelcomp-calib', '--context-file', context, '--question', 'what is it?',
      '--after', 'kv', '-n', '2', '--out', out, '--device', 'cpu', '--quiet', '--set', 'calib.rules=middle:1-2,sink:3-4', '--set', 'calib.threshold=0.02'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'trace-parallelcomp-calib.json'), 'utf8')).attention.after).toBe('kv');
  }, 120_000);

  it.skipIf(!hasStories)('stories260K: full and parallelcomp', async () => {
    await runAndCheck(stories260K, path.join(root, 'stories'), 5);
  }, 120_000);
  if (!hasStories) it.skip(`stories260K end to end: ${stories260K} is absent (../shared not mounted)`, () => {});

  it('bad input: exit 2 with the flag named, nothing written', async () => {
    const both = await pcomp(['attn', '--model', 'builtin:tiny', '--config', 'full', '--context-file', context, '--question', 'q', '--task', 'narrativeqa', '--index', '0'], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('either --context-file');
    const missing = await pcomp(['attn', '--model', 'builtin:tiny', '--config', 'full', '--context-file', path.join(root, 'nope.txt'), '--question', 'q', '--out', path.join(root, 'never')], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.txt');
    expect(existsSync(path.join(root, 'never'))).toBe(false);
    const bins = await pcomp(['attn', '--model', 'builtin:tiny', '--config', 'full', '--context-file', context, '--question', 'q', '--bins', '0'], env);
    expect(bins.code).not.toBe(0);
    expect(bins.stderr).toContain('--bins');
  }, 120_000);
});

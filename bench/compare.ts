/**
 * `npm run bench -- compare --before <commit|addon.node> [--after <commit|addon.node>]`: the same
 * prefill and decode runs with two engine addons, interleaved in one bench run, and the ratio
 * after ÷ before (for a refactor that must keep speed, e.g. "within 5% of before").
 *
 * A commit is built into os.tmpdir()/pcomp-bench-addon-<sha>: `git archive` of the commit (the
 * repository's state is not touched), this worktree's node_modules linked in, `cmake-js compile`
 * with PCOMP_CUDA=OFF and no native tests; the build is reused while that folder holds it. An
 * addon file is taken as it is. Without --after, the second addon is the one engine/index.ts
 * loads here (build/Release, or PCOMP_ADDON). Every run is a fresh bench/child.ts whose
 * PCOMP_ADDON names its addon; the TypeScript side is this worktree's for both, so the two addons
 * must have the same ENGINE_API_VERSION.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addonPath, repoRoot } from '../engine/index.js';
import type { ChildJob, ChildResult } from './child.js';
import { fmt, loadNow, log, median, table } from './format.js';
import { runChild } from './prefill.js';

export interface AddonSpec { label: string; path: string; commit?: string }

function git(args: string[]): string {
  const r = spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** An addon file as given, or the addon built from a commit (cached in os.tmpdir()). */
export function resolveAddon(spec: string): AddonSpec {
  if (spec.endsWith('.node')) {
    const p = path.resolve(spec);
    if (!existsSync(p)) throw new Error(`--before/--after ${spec}: no such addon file`);
    return { label: spec, path: p };
  }
  const sha = git(['rev-parse', '--verify', `${spec}^{commit}`]);
  const short = sha.slice(0, 10);
  const root = path.join(os.tmpdir(), `pcomp-bench-addon-${short}`);
  const built = path.join(root, 'build/Release/pcomp_native.node');
  if (existsSync(built)) return { label: `${spec} (${short})`, path: built, commit: sha };
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  log(`building the addon of ${spec} (${short}) in ${root} (PCOMP_CUDA=OFF)...`);
  const t0 = performance.now();
  const tar = spawnSync('bash', ['-c', `git archive --format=tar ${sha} | tar -x -C ${JSON.stringify(root)}`], { cwd: repoRoot, encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`git archive ${short}: ${tar.stderr}`);
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  const cmakeJs = path.join(repoRoot, 'node_modules/.bin/cmake-js');
  const r = spawnSync(cmakeJs, ['compile', '--CDPCOMP_CUDA=OFF', '--CDPCOMP_BUILD_TESTS=OFF'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0 || !existsSync(built)) throw new Error(`building ${short} failed: ${(r.stderr || r.stdout).slice(-800)}`);
  log(`  built in ${fmt((performance.now() - t0) / 1000, 0)} s`);
  return { label: `${spec} (${short})`, path: built, commit: sha };
}

export interface CompareOptions {
  before: string;
  after?: string;
  trials: number;
  threads: number;
  timeout: number;
  models: string[];
  randomDir?: string;
  /** How the random model's rows are named, e.g. "random 2048×16". */
  randomLabel?: string;
}

interface Case { name: string; job: ChildJob; metrics: Array<{ name: string; get(r: ChildResult): number | undefined }> }

export function compareSection(o: CompareOptions, storiesDir: string | null): string {
  const head = '### Before/after: two engine addons on the same runs, interleaved (rates; ratio = after ÷ before, > 1 is faster)';
  const before = resolveAddon(o.before);
  const after = o.after ? resolveAddon(o.after) : { label: `this worktree's addon (${path.relative(repoRoot, addonPath) || addonPath})`, path: addonPath };
  const prefill = { name: 'prefill tokens/s', get: (r: ChildResult) => r.tokensPerS };
  const decode = { name: 'decode tokens/s', get: (r: ChildResult) => r.decodeTokensPerS };
  const base = { threads: o.threads, weights: 'auto' as const, sets: [] };
  const cases: Case[] = [];
  if (storiesDir) {
    cases.push({ name: 'stories260K full attention 4K', job: { ...base, mode: 'full', modelDir: storiesDir, length: 4096 }, metrics: [prefill] });
    cases.push({ name: 'stories260K ParallelComp 32K + 256 decoded', job: { ...base, mode: 'decode', modelDir: storiesDir, length: 32768, chunkSize: 512 - 96, questionTokens: 32, decodeTokens: 256 }, metrics: [prefill, decode] });
  }
  if (o.randomDir)
    for (const weights of ['bf16', 'f32'] as const)
      cases.push({ name: `${o.randomLabel ?? 'random'} ${weights}: generate 512 + 32`, job: { ...base, weights, mode: 'generate', modelDir: o.randomDir, length: 512, decodeTokens: 32 }, metrics: [prefill, decode] });
  const out: string[] = [head, ''];
  // Paths as the reader can place them: inside the checkout, or under the temp folder (no machine paths in RESULTS.md).
  const shown = (p: string) => {
    const inRepo = path.relative(repoRoot, p);
    if (!inRepo.startsWith('..') && !path.isAbsolute(inRepo)) return inRepo;
    const inTmp = path.relative(os.tmpdir(), p);
    return !inTmp.startsWith('..') && !path.isAbsolute(inTmp) ? `os.tmpdir()/${inTmp}` : path.basename(p);
  };
  out.push(`before: ${before.label} — ${shown(before.path)}`, '', `after: ${after.label} — ${shown(after.path)}`, '');
  out.push(`Each trial runs every case with both addons in a fresh process each (order before, after; swapped on every other trial); medians of ${o.trials} trials. ${o.threads} threads. Load average at the start ${loadNow()}.`, '');
  const res = new Map<string, { before: ChildResult[]; after: ChildResult[] }>(cases.map((c) => [c.name, { before: [], after: [] }]));
  for (let t = 0; t < o.trials; t++)
    for (const c of cases) {
      const order = t % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const);
      for (const which of order) {
        const addon = which === 'before' ? before : after;
        log(`trial ${t + 1}/${o.trials}: ${c.name} (${which})...`);
        const r = runChild(c.job, o.timeout, { PCOMP_ADDON: addon.path });
        log(r.ok ? `  ${c.metrics.map((m) => `${m.name} ${fmt(m.get(r))}`).join(', ')}` : `  failed: ${r.error}`);
        res.get(c.name)![which].push(r);
      }
    }
  const rows: string[][] = [];
  let worst = Infinity;
  for (const c of cases) {
    const r = res.get(c.name)!;
    for (const m of c.metrics) {
      const b = r.before.filter((x) => x.ok).map((x) => m.get(x)!).filter(Number.isFinite);
      const a = r.after.filter((x) => x.ok).map((x) => m.get(x)!).filter(Number.isFinite);
      const err = [...r.before, ...r.after].find((x) => !x.ok)?.error;
      if (!a.length || !b.length) { rows.push([c.name, m.name, '–', '–', err ?? 'no run', '–']); continue; }
      const ratio = median(a) / median(b);
      worst = Math.min(worst, ratio);
      rows.push([c.name, m.name, fmt(median(b), 1), fmt(median(a), 1), fmt(ratio, 3), `${b.map((x) => fmt(x, 0)).join(', ')} / ${a.map((x) => fmt(x, 0)).join(', ')}`]);
    }
  }
  out.push(table(['case', 'metric', 'before', 'after', 'after ÷ before', 'runs (before / after)'], rows), '');
  const kernels = (rs: ChildResult[]) => rs.find((x) => x.ok)?.engine;
  const kb = kernels([...res.values()].flatMap((x) => x.before)), ka = kernels([...res.values()].flatMap((x) => x.after));
  if (kb || ka) out.push(`Addons as loaded: before simd ${kb?.simd ?? '?'}, kernels ${kb?.kernels ?? '?'}; after simd ${ka?.simd ?? '?'}, kernels ${ka?.kernels ?? '?'}.`, '');
  if (Number.isFinite(worst)) out.push(`Worst after ÷ before: ${fmt(worst, 3)} (within 5% of before: ${worst >= 0.95 ? 'met' : 'missed'}). Load average at the end ${loadNow()}.`, '');
  return out.join('\n');
}

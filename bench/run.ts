/**
 * `npm run bench -- [matmul] [prefill] [decode] [scaling] [options]` (no section: the first three).
 *
 * Every ratio is measured side by side in one run; each section prints a table and appends it, with
 * the machine and the command, to bench/RESULTS.md. Nothing here is asserted: targets are printed
 * as met / missed. Defaults are the --quick sizes (minutes on 2 cores); --long runs the sizes the
 * issue names (hours for the realistic model on 2 cores).
 */
import { appendFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { buildInfo, repoRoot } from '../engine/index.js';
import type { ChildJob, ChildResult } from './child.js';
import { describeMachine } from './machine.js';
import { runMatmul } from './matmul.js';
import { fitLinearQuadratic, runChild } from './prefill.js';
import { ensureRandomModel, REALISTIC } from './random-model.js';

const HELP = `usage: npm run bench -- [matmul] [prefill] [decode] [scaling] [options]

  scaling              1 thread vs --threads (default 2) on the same runs, interleaved: matrix products at
                       T = 512 and prefill (full attention and ParallelComp); not part of the default set

  --long               the issue's sizes: full attention to 8K and ParallelComp to 128K on both models,
                       decode after 32K (the realistic model takes hours on 2 cores)
  --model M            stories | random | both (default both; stories260K needs ../shared)
  --threads N          engine and OpenBLAS threads (default 2)
  --weights W          auto | f32 | bf16 weight storage for the engine runs (default auto)
  --set key=value      a ParallelComp knob for the pipeline runs (repeatable)
  --timeout S          per-run limit in seconds (default 1800)
  --no-results         print only; do not append to bench/RESULTS.md

examples:
  npm run bench -- matmul
  npm run bench -- prefill --model stories
  npm run bench -- prefill decode --model random --long --set chunk.parallel=4
  npm run bench -- scaling --model stories`;

interface Options {
  sections: Set<string>;
  long: boolean;
  models: string[];
  threads: number;
  weights: 'auto' | 'f32' | 'bf16';
  sets: string[];
  timeout: number;
  results: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { sections: new Set(), long: false, models: ['stories', 'random'], threads: 2, weights: 'auto', sets: [], timeout: 1800, results: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === 'matmul' || a === 'prefill' || a === 'decode' || a === 'scaling') o.sections.add(a);
    else if (a === '--long') o.long = true;
    else if (a === '--quick') o.long = false;
    else if (a === '--model') {
      const m = value();
      o.models = m === 'both' ? ['stories', 'random'] : [m];
      if (!['stories', 'random'].includes(o.models[0]!)) throw new Error(`--model ${m}: expected stories, random or both`);
    } else if (a === '--threads') o.threads = Number(value());
    else if (a === '--weights') o.weights = value() as Options['weights'];
    else if (a === '--set') o.sets.push(value());
    else if (a === '--timeout') o.timeout = Number(value());
    else if (a === '--no-results') o.results = false;
    else if (a === '--help' || a === '-h') {
      console.log(HELP);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n\n${HELP}`);
  }
  if (o.sections.size === 0) o.sections = new Set(['matmul', 'prefill', 'decode']);
  return o;
}

const log = (s: string) => console.error(`[bench] ${s}`);
const fmt = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const K = (n: number) => (n >= 1024 ? `${n / 1024}K` : String(n));

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

interface ModelSpec {
  name: string;
  dir: string;
  chunk: number;       // context tokens per ParallelComp chunk
  full: number[];      // full-attention lengths
  pc: number[];        // ParallelComp lengths
  decodeAfter: number;
  decodeTokens: number;
}

function models(o: Options): ModelSpec[] {
  const out: ModelSpec[] = [];
  const question = 32;
  if (o.models.includes('stories')) {
    const dir = path.resolve(repoRoot, '../shared/models/stories260K/hf');
    if (!existsSync(path.join(dir, 'model.safetensors'))) log('stories260K: ../shared/models/stories260K is absent; skipped');
    else out.push({
      name: 'stories260K (f32 file; dim 64, 5 layers, 8/4 heads, window 512)', dir,
      chunk: 512 - question - 64,
      full: o.long ? [512, 1024, 2048, 4096, 8192, 16384, 32768] : [512, 1024, 2048, 4096, 8192],
      pc: o.long ? [8192, 16384, 32768, 65536, 131072] : [8192, 32768, 131072],
      decodeAfter: 32768,
      decodeTokens: 256,
    });
  }
  if (o.models.includes('random')) {
    const { dir } = ensureRandomModel(REALISTIC, log);
    out.push({
      name: 'random bf16 (hidden 2048, 16 layers, 32/8 heads, vocab 32000, window 4096)', dir,
      chunk: REALISTIC.maxPositions - question - 64,
      full: o.long ? [512, 1024, 2048, 4096, 8192] : [512, 1024],
      pc: o.long ? [8192, 16384, 32768, 65536, 131072] : [8192],
      decodeAfter: o.long ? 32768 : 8192,
      decodeTokens: 16,
    });
  }
  return out;
}

function job(o: Options, m: ModelSpec, mode: ChildJob['mode'], length: number): ChildJob {
  return { mode, modelDir: m.dir, length, threads: o.threads, weights: o.weights, chunkSize: m.chunk, questionTokens: 32, decodeTokens: m.decodeTokens, sets: o.sets };
}

function run(o: Options, j: ChildJob): ChildResult {
  log(`${j.mode} ${K(j.length)} tokens on ${path.basename(j.modelDir)}...`);
  const r = runChild(j, o.timeout);
  log(r.ok ? `  ${fmt(r.ms! / 1000, 2)} s, ${fmt(r.tokensPerS)} tok/s, peak RSS ${fmt(r.peakRssMiB, 0)} MiB` : `  failed: ${r.error}`);
  return r;
}

function matmulSection(o: Options): string {
  const r = runMatmul({ threads: o.threads, rows: o.long ? [1, 16, 128, 512] : [1, 16, 512], minSeconds: o.long ? 0.5 : 0.2, trials: o.long ? 5 : 3 }, log);
  if (r.skipped) return `### Matrix products\n\nskipped: ${r.skipped}\n`;
  const rows = r.rows.map((x) => [x.shape, String(x.T), `${x.N}×${x.K}`, fmt(x.openblas_f32_gflops), fmt(x.engine_f32_gflops), fmt(x.ratio_f32, 2), fmt(x.engine_bf16_gflops), fmt(x.ratio_bf16, 2)]);
  const prefillRows = r.rows.filter((x) => x.T >= 128);
  const worst = Math.min(...prefillRows.map((x) => x.ratio_f32));
  const decode = r.rows.filter((x) => x.T === 1);
  const i = r.info!;
  return [
    '### Matrix products (GFLOP/s; ratio = engine ÷ OpenBLAS, same shapes, medians of interleaved trials)',
    '',
    `OpenBLAS ${i.openblas_core} core (Debian libopenblas-dev; sgemv for T=1, sgemm otherwise, fp32); engine kernels f32: ${i.kernels_f32}, bf16 weights: ${i.kernels_bf16}; CPU ${i.cpu_features}; ${i.threads} threads. oneDNN is not installed, so OpenBLAS fp32 is the best library here for both dtypes.`,
    '',
    table(['shape', 'T', 'N×K', 'OpenBLAS f32', 'engine f32', 'ratio', 'engine bf16 w', 'ratio'], rows),
    '',
    `Target ≥ 0.7× on prefill-sized products (T ≥ 128): worst f32 ratio ${fmt(worst, 2)} → ${worst >= 0.7 ? 'met' : 'missed'}. ` +
      `Decode (T=1) f32 ratios ${decode.map((x) => fmt(x.ratio_f32, 2)).join(', ')}; bf16 weights ${decode.map((x) => fmt(x.ratio_bf16, 2)).join(', ')} (half the bytes per weight).`,
    '',
  ].join('\n');
}

// ParallelComp runs decode a few tokens too (their prefill time is the time to the first token), so
// the decode section reuses the prefill section's run at its length instead of prefilling again.
const pcRuns = new Map<string, ChildResult>();
function pcRun(o: Options, m: ModelSpec, length: number): ChildResult {
  const key = `${m.dir}:${length}`;
  if (!pcRuns.has(key)) pcRuns.set(key, run(o, job(o, m, 'decode', length)));
  return pcRuns.get(key)!;
}

function prefillSection(o: Options, ms: ModelSpec[]): string {
  const out: string[] = ['### Prefill and peak RSS', ''];
  for (const m of ms) {
    const full = m.full.map((L) => ({ L, r: run(o, job(o, m, 'full', L)) }));
    const pc = m.pc.map((L) => ({ L, r: pcRun(o, m, L) }));
    const okFull = full.filter((x) => x.r.ok).map((x) => ({ length: x.L, ms: x.r.ms! }));
    const fit = fitLinearQuadratic(okFull.filter((p) => p.length >= 1024));
    const rows: string[][] = [];
    for (const x of full) rows.push(['full', K(x.L), x.r.ok ? fmt(x.r.ms! / 1000, 2) : x.r.error!, fmt(x.r.tokensPerS), fmt(x.r.peakRssMiB, 0)]);
    for (const x of pc) rows.push(['ParallelComp', K(x.L), x.r.ok ? fmt(x.r.ms! / 1000, 2) : x.r.error!, fmt(x.r.tokensPerS), fmt(x.r.peakRssMiB, 0)]);
    out.push(`**${m.name}** — ParallelComp chunks of ${m.chunk} context tokens + a 32-token question, preset \`parallelcomp\`${o.sets.length ? ` with ${o.sets.join(', ')}` : ''}; weights ${o.weights}. ParallelComp seconds = time to the first generated token (prefill, chunk scoring, eviction, question re-encode).`, '');
    out.push(table(['run', 'tokens', 'seconds', 'tokens/s', 'peak RSS MiB'], rows), '');
    const pcAt = (L: number) => pc.find((x) => x.L === L && x.r.ok)?.r;
    const longest = Math.max(...m.pc);
    const measuredFull = full.find((x) => x.L === longest && x.r.ok)?.r.ms;
    if (fit) {
      out.push(`Full-attention fit over the measured points ≥ 1K: t(L) = ${fit.a.toExponential(3)}·L + ${fit.b.toExponential(3)}·L² ms (max residual ${fmt(fit.maxRelResidual * 100)}%).`);
    }
    const fullAtLongest = measuredFull ?? fit?.predict(longest);
    const pcLongest = pcAt(longest);
    if (fullAtLongest !== undefined && pcLongest) {
      const speedup = fullAtLongest / pcLongest.ms!;
      out.push(`Speed-up at ${K(longest)}: full ${measuredFull ? 'measured' : 'estimated from the fit (not run: too slow)'} ${fmt(fullAtLongest / 1000, 1)} s ÷ ParallelComp ${fmt(pcLongest.ms! / 1000, 1)} s = ${fmt(speedup, 1)}× (target ≥ 20× at 128K: ${longest === 131072 ? (speedup >= 20 ? 'met' : 'missed') : 'not measured at 128K in this run'}).`);
    } else {
      out.push(`Speed-up at ${K(longest)}: not available (${pcLongest ? 'no full-attention fit' : `ParallelComp run failed: ${pc.find((x) => x.L === longest)?.r.error ?? 'not run'}`}).`);
    }
    const rss8 = pcAt(8192)?.peakRssMiB, rssLongest = pcLongest?.peakRssMiB;
    if (rss8 && rssLongest && longest > 8192) {
      const ratio = rssLongest / rss8;
      out.push(`ParallelComp peak RSS ${K(longest)} ÷ 8K = ${fmt(ratio, 2)} (target ≤ 2 at 128K: ${longest === 131072 ? (ratio <= 2 ? 'met' : 'missed') : 'not measured at 128K'}).`);
    }
    out.push('');
  }
  return out.join('\n');
}

function decodeSection(o: Options, ms: ModelSpec[]): string {
  const rows: string[][] = [];
  for (const m of ms) {
    const r = pcRun(o, m, m.decodeAfter);
    rows.push([m.name.split(' (')[0]!, K(m.decodeAfter), String(m.decodeTokens), r.ok ? fmt(r.decodeTokensPerS, 2) : r.error!, fmt(r.tokensPerS), fmt(r.peakRssMiB, 0)]);
  }
  return ['### Decode after a ParallelComp prefill (greedy, no stop ids; rate from the per-token decode progress events; prefill tokens/s = context ÷ time to the first token)', '',
    table(['model', 'prefill tokens', 'decoded', 'decode tokens/s', 'prefill tokens/s', 'peak RSS MiB'], rows), ''].join('\n');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Thread scaling: the same job with 1 thread and with --threads, alternated (1, N, 1, N, ...) so both
 * see the same machine load; speed-up = median time with 1 thread ÷ median time with N.
 */
function scalingSection(o: Options, ms: ModelSpec[]): string {
  const n = o.threads;
  const trials = o.long ? 5 : 3;
  const out: string[] = [`### Thread scaling (1 vs ${n} threads; speed-up = t(1) ÷ t(${n}); matrix products: one bench_matmul run per thread count, one after the other, medians of ${trials} trials each; prefill: runs alternated 1, ${n}, 1, ${n}, ..., medians of ${trials})`, ''];
  if (n < 2) return [...out, `skipped: --threads ${n} (give 2 or more)`, ''].join('\n');
  const rows: string[][] = [];
  const mm = [1, n].map((threads) => runMatmul({ threads, rows: [512], minSeconds: 0.3, trials }, log));
  if (mm[0]!.skipped || mm[1]!.skipped) out.push(`matrix products skipped: ${mm[0]!.skipped ?? mm[1]!.skipped}`, '');
  else for (const r1 of mm[0]!.rows) {
    const rn = mm[1]!.rows.find((x) => x.shape === r1.shape && x.T === r1.T);
    if (!rn) continue;
    rows.push([`matmul ${r1.shape} (engine f32)`, `T=${r1.T}`, fmt(r1.engine_f32_gflops), fmt(rn.engine_f32_gflops), fmt(rn.engine_f32_gflops / r1.engine_f32_gflops, 2), 'GFLOP/s']);
    rows.push([`matmul ${r1.shape} (OpenBLAS f32)`, `T=${r1.T}`, fmt(r1.openblas_f32_gflops), fmt(rn.openblas_f32_gflops), fmt(rn.openblas_f32_gflops / r1.openblas_f32_gflops, 2), 'GFLOP/s']);
  }
  for (const m of ms) {
    // Full attention at its longest quick length up to 4K; ParallelComp at its shortest length, except on the
    // realistic model without --long (minutes per run on 2 cores).
    const cases: Array<[ChildJob['mode'], number]> = [['full', m.full.filter((L) => L <= 4096).at(-1)!]];
    if (o.long || m.dir.includes('stories')) cases.push(['parallelcomp', m.pc[0]!]);
    for (const [mode, L] of cases) {
      const times: Record<number, number[]> = { 1: [], [n]: [] };
      let error: string | undefined;
      for (let t = 0; t < trials && !error; t++)
        for (const threads of [1, n]) {
          const r = run({ ...o, threads }, job({ ...o, threads }, m, mode, L));
          if (!r.ok) { error = r.error; break; }
          times[threads]!.push(r.ms!);
        }
      const label = `${mode === 'full' ? 'full' : 'ParallelComp'} prefill, ${m.name.split(' (')[0]}`;
      if (error) { rows.push([label, K(L), '–', '–', error, 's']); continue; }
      const t1 = median(times[1]!), tn = median(times[n]!);
      rows.push([label, K(L), fmt(t1 / 1000, 2), fmt(tn / 1000, 2), fmt(t1 / tn, 2), 's']);
    }
  }
  out.push(table(['work', 'size', '1 thread', `${n} threads`, 'speed-up', 'unit'], rows), '');
  out.push(`Target: close to ${n}× on large inputs. The load average at the start of this block says how much of the machine other work took; a loaded core caps the speed-up whatever the code does.`, '');
  return out.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const machine = describeMachine();
  const b = buildInfo();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  log(machine);
  const parts: string[] = [];
  if (o.sections.has('matmul')) parts.push(matmulSection(o));
  const ms = o.sections.has('prefill') || o.sections.has('decode') || o.sections.has('scaling') ? models(o) : [];
  if (o.sections.has('prefill')) parts.push(prefillSection(o, ms));
  if (o.sections.has('decode')) parts.push(decodeSection(o, ms));
  if (o.sections.has('scaling')) parts.push(scalingSection(o, ms));
  const block = [`## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC — \`${command}\``, '',
    `Machine: ${machine}. Engine ${b.version} (${b.compiler}, build simd ${b.simd}, ${b.threads} threads).`, '', ...parts].join('\n');
  console.log(block);
  if (o.results) {
    appendFileSync(path.join(repoRoot, 'bench/RESULTS.md'), `\n${block}\n`);
    log('appended to bench/RESULTS.md');
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});

/**
 * `npm run bench -- [matmul] [prefill] [decode] [scaling] [cli128k] [llamacpp] [compare] [options]`
 * (no section: the first three).
 *
 * Every ratio is measured side by side in one run; each section prints a table and appends it, with
 * the machine and the command, to bench/RESULTS.md. Nothing here is asserted: targets are printed
 * as met / missed. Defaults are the --quick sizes (minutes on 2 cores); --long runs the sizes the
 * issue names (hours for the realistic model on 2 cores).
 */
import { appendFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { addonPath, buildInfo, repoRoot } from '../engine/index.js';
import type { ChildJob, ChildResult } from './child.js';
import { cli128kSection } from './cli128k.js';
import { compareSection } from './compare.js';
import { fmt, K, loadNow, log, median, sharedDir, table } from './format.js';
import type { GgufType } from './gguf.js';
import { llamaCppSection } from './llamacpp.js';
import { describeMachine } from './machine.js';
import { runMatmul } from './matmul.js';
import { fitLinearQuadratic, runChild } from './prefill.js';
import { ensureRandomModel, REALISTIC, type RandomModelShape } from './random-model.js';

/** A small shape for checking the llamacpp and compare wiring in seconds (never for numbers). */
const SMALL: RandomModelShape = { hidden: 256, intermediate: 512, layers: 2, heads: 4, kvHeads: 2, vocab: 1000, maxPositions: 1024, seed: 3 };

const HELP = `usage: npm run bench -- [matmul] [prefill] [decode] [scaling] [cli128k] [llamacpp] [compare] [options]

  scaling              1 thread vs --threads (default 2) on the same runs, interleaved: matrix products at
                       T = 512 and prefill (full attention and ParallelComp); not part of the default set
  cli128k              \`pcomp ppl --len 128k\` on stories260K through the CLI, ParallelComp and full attention
                       alternated (ParallelComp --trials times, full once), wall time and peak RSS per process
  llamacpp             llama.cpp (node-llama-cpp's prebuilt CPU binaries, installed on demand into
                       bench/.llamacpp) vs pcomp on the random realistic model written as GGUF: a logits
                       agreement check, then prefill 512 + decode 32, interleaved, medians of --trials
  compare              the same prefill/decode runs with two engine addons, interleaved: --before (needed)
                       and --after (default: this worktree's addon), each a commit (built into os.tmpdir())
                       or a .node file; prints after ÷ before

  --long               the issue's sizes: full attention to 8K and ParallelComp to 128K on both models,
                       decode after 32K (the realistic model takes hours on 2 cores)
  --model M            stories | random | both (default both; stories260K needs ../shared)
  --threads N          engine and OpenBLAS threads (default 2)
  --weights W          auto | f32 | bf16 weight storage for the engine runs (default auto)
  --set key=value      a ParallelComp knob for the pipeline runs (repeatable)
  --timeout S          per-run limit in seconds (default 1800)
  --trials N           runs per config in cli128k (ParallelComp), llamacpp and compare (default 3; cli128k 2)
  --before REF         compare: a commit (or ref) or an addon .node file
  --after REF          compare: the same; default the addon engine/index.ts loads here
  --llama-types LIST   llamacpp: GGUF types to time, of F16,BF16,Q8_0,F32 (default all four)
  --llama-fa MODE      llamacpp: llama.cpp flash attention auto | on | off (default auto, node-llama-cpp's)
  --cli-len N          cli128k: the context length (default 128k; shorter only to check the wiring)
  --small              llamacpp/compare: a tiny random model instead of the realistic one (checks the
                       wiring in seconds; its numbers mean nothing)
  --no-results         print only; do not append to bench/RESULTS.md

examples:
  npm run bench -- matmul
  npm run bench -- prefill --model stories
  npm run bench -- prefill decode --model random --long --set chunk.parallel=4
  npm run bench -- scaling --model stories
  npm run bench -- cli128k
  npm run bench -- llamacpp
  npm run bench -- compare --before main            (a refactor on this branch against main)`;

interface Options {
  sections: Set<string>;
  long: boolean;
  models: string[];
  threads: number;
  weights: 'auto' | 'f32' | 'bf16';
  sets: string[];
  timeout: number;
  results: boolean;
  trials?: number;
  before?: string;
  after?: string;
  llamaTypes: GgufType[];
  llamaFa: boolean | 'auto';
  small: boolean;
  cliLen: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { sections: new Set(), long: false, models: ['stories', 'random'], threads: 2, weights: 'auto', sets: [], timeout: 1800, results: true,
    llamaTypes: ['F16', 'BF16', 'Q8_0', 'F32'], llamaFa: 'auto', small: false, cliLen: 131072 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (['matmul', 'prefill', 'decode', 'scaling', 'cli128k', 'llamacpp', 'compare'].includes(a)) o.sections.add(a);
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
    else if (a === '--trials') o.trials = Number(value());
    else if (a === '--before') o.before = value();
    else if (a === '--after') o.after = value();
    else if (a === '--small') o.small = true;
    else if (a === '--cli-len') {
      const v = value();
      const m = /^(\d+)(k?)$/i.exec(v);
      if (!m) throw new Error(`--cli-len ${v}: expected tokens, e.g. 131072 or 128k`);
      o.cliLen = Number(m[1]) * (m[2] ? 1024 : 1);
    }
    else if (a === '--llama-types') {
      const v = value().split(',');
      for (const t of v) if (!['F16', 'BF16', 'Q8_0', 'F32'].includes(t)) throw new Error(`--llama-types: ${t} is not one of F16, BF16, Q8_0, F32`);
      o.llamaTypes = v as GgufType[];
    } else if (a === '--llama-fa') {
      const v = value();
      if (!['auto', 'on', 'off'].includes(v)) throw new Error(`--llama-fa ${v}: expected auto, on or off`);
      o.llamaFa = v === 'auto' ? 'auto' : v === 'on';
    }
    else if (a === '--help' || a === '-h') {
      console.log(HELP);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n\n${HELP}`);
  }
  if (o.sections.size === 0) o.sections = new Set(['matmul', 'prefill', 'decode']);
  if (o.sections.has('compare') && !o.before) throw new Error('compare needs --before <commit|addon.node>');
  if (o.trials !== undefined && !(Number.isInteger(o.trials) && o.trials >= 1)) throw new Error('--trials needs a whole number >= 1');
  return o;
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
    const dir = path.join(sharedDir(repoRoot), 'models/stories260K/hf');
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
  const bf16k = r.info?.avx512bf16_kernel === true;
  const rows = r.rows.map((x) => [x.shape, String(x.T), `${x.N}×${x.K}`, fmt(x.openblas_f32_gflops), fmt(x.engine_f32_gflops), fmt(x.ratio_f32, 2), fmt(x.engine_bf16_gflops), fmt(x.ratio_bf16, 2),
    ...(bf16k ? [fmt(x.engine_avx512bf16_gflops), fmt(x.ratio_avx512bf16, 2)] : [])]);
  const prefillRows = r.rows.filter((x) => x.T >= 128);
  const worst = Math.min(...prefillRows.map((x) => x.ratio_f32));
  const decode = r.rows.filter((x) => x.T === 1);
  const i = r.info!;
  return [
    '### Matrix products (GFLOP/s; ratio = engine ÷ OpenBLAS, same shapes, medians of interleaved trials)',
    '',
    `OpenBLAS ${i.openblas_core} core (Debian libopenblas-dev; sgemv for T=1, sgemm otherwise, fp32); engine kernels (auto, exact) f32: ${i.kernels_f32}, bf16 weights: ${i.kernels_bf16}; CPU ${i.cpu_features}; ${i.threads} threads. oneDNN is not installed, so OpenBLAS fp32 is the best library here for both dtypes.` +
      (bf16k ? ' *avx512bf16* is the opt-in kernel (`PCOMP_CPU_KERNEL=avx512bf16`, VDPBF16PS) on the same bf16 weights: it rounds the activations to bf16 too, so it is not exact (about 1e-3 relative logit error); timed in the same trials, called directly.' : ' This CPU has no AVX512_BF16, so the opt-in avx512bf16 kernel is not timed.'),
    '',
    table(['shape', 'T', 'N×K', 'OpenBLAS f32', 'engine f32', 'ratio', 'engine bf16 w', 'ratio', ...(bf16k ? ['avx512bf16', 'ratio'] : [])], rows),
    '',
    `Target ≥ 0.7× on prefill-sized products (T ≥ 128): worst f32 ratio ${fmt(worst, 2)} → ${worst >= 0.7 ? 'met' : 'missed'}. ` +
      `Decode (T=1) f32 ratios ${decode.map((x) => fmt(x.ratio_f32, 2)).join(', ')}; bf16 weights ${decode.map((x) => fmt(x.ratio_bf16, 2)).join(', ')} (half the bytes per weight).` +
      (bf16k ? ` avx512bf16 ÷ auto bf16 at T = 512: ${prefillRows.map((x) => fmt(x.engine_avx512bf16_gflops! / x.engine_bf16_gflops, 2)).join(', ')}.` : ''),
    '',
    `Load average at the end of this section ${loadNow()}.`,
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
  out.push(`Load average at the end of this section ${loadNow()}.`, '');
  return out.join('\n');
}

function decodeSection(o: Options, ms: ModelSpec[]): string {
  const rows: string[][] = [];
  for (const m of ms) {
    const r = pcRun(o, m, m.decodeAfter);
    rows.push([m.name.split(' (')[0]!, K(m.decodeAfter), String(m.decodeTokens), r.ok ? fmt(r.decodeTokensPerS, 2) : r.error!, fmt(r.tokensPerS), fmt(r.peakRssMiB, 0)]);
  }
  return ['### Decode after a ParallelComp prefill (greedy, no stop ids; rate from the per-token decode progress events; prefill tokens/s = context ÷ time to the first token)', '',
    table(['model', 'prefill tokens', 'decoded', 'decode tokens/s', 'prefill tokens/s', 'peak RSS MiB'], rows), '', `Load average at the end of this section ${loadNow()}.`, ''].join('\n');
}


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

/** HEAD's short hash, with a note when the worktree has uncommitted changes (other than to bench/RESULTS.md). */
function commitLine(): string {
  const git = (args: string[]) => spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  // bench/RESULTS.md itself grows with every block, so it does not count as a change to what ran.
  const changed = git(['status', '--porcelain', '--untracked-files=no']).split('\n').filter((l) => l.trim() && !l.endsWith('bench/RESULTS.md'));
  const dirty = changed.length ? ' (with uncommitted changes)' : '';
  return `${head}${dirty}`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const machine = describeMachine();
  const b = buildInfo();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  log(machine);
  const started = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const parts: string[] = [];
  if (o.sections.has('matmul')) parts.push(matmulSection(o));
  const ms = o.sections.has('prefill') || o.sections.has('decode') || o.sections.has('scaling') ? models(o) : [];
  if (o.sections.has('prefill')) parts.push(prefillSection(o, ms));
  if (o.sections.has('decode')) parts.push(decodeSection(o, ms));
  if (o.sections.has('scaling')) parts.push(scalingSection(o, ms));
  if (o.sections.has('cli128k')) parts.push(await cli128kSection({ threads: o.threads, timeout: o.timeout, length: o.cliLen, trials: o.trials ?? 2, fullTrials: 1, evalTokens: 64 }));
  if (o.sections.has('llamacpp'))
    parts.push(llamaCppSection({ threads: o.threads, trials: o.trials ?? 3, timeout: o.timeout, prefill: o.small ? 64 : 512, decode: o.small ? 8 : 32, types: o.llamaTypes, flashAttention: o.llamaFa, shape: o.small ? SMALL : REALISTIC }));
  if (o.sections.has('compare')) {
    const stories = path.join(sharedDir(repoRoot), 'models/stories260K/hf');
    const storiesDir = o.models.includes('stories') && existsSync(path.join(stories, 'model.safetensors')) ? stories : null;
    const randomDir = o.models.includes('random') ? ensureRandomModel(o.small ? SMALL : REALISTIC, log).dir : undefined;
    parts.push(compareSection({ before: o.before!, after: o.after, trials: o.trials ?? 3, threads: o.threads, timeout: o.timeout, models: o.models, randomDir,
      randomLabel: o.small ? `small random ${SMALL.hidden}×${SMALL.layers} (wiring only)` : `random ${REALISTIC.hidden}×${REALISTIC.layers}` }, storiesDir));
  }
  const block = [`## ${started} UTC — \`${command}\``, '',
    `Machine: ${machine}. Commit ${commitLine()}. Engine ${b.version} (${b.compiler}, build simd ${b.simd}, ${b.threads} threads; kernels f32 ${b.kernels.f32}, bf16 ${b.kernels.bf16}; addon ${path.relative(repoRoot, addonPath) || addonPath}). Finished ${new Date().toISOString().slice(11, 16)} UTC, load average then ${loadNow()}.`, '', ...parts].join('\n');
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

/**
 * The llama.cpp side of `npm run bench -- llamacpp`: node-llama-cpp (llama.cpp's prebuilt binaries
 * as npm packages) installed on demand into bench/.llamacpp (gitignored; the project's own
 * `npm ci` never sees it), the bench's random model written as GGUF (bench/gguf.ts), and each
 * llama.cpp run in a fresh child (bench/llamacpp-child.ts).
 *
 * The install takes only what runs here from the npm registry: node-llama-cpp and its prebuilt CPU
 * package for linux-x64, with optional dependencies (the CUDA, Vulkan and other platforms'
 * binaries, hundreds of MB) omitted and install scripts off (its postinstall would otherwise try a
 * source build, which downloads llama.cpp, when no prebuilt binary fits); NODE_LLAMA_CPP_SKIP_DOWNLOAD
 * says the same to node-llama-cpp itself. At run time the child asks for the prebuilt CPU binary only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../engine/index.js';
import { seededTokens } from '../test/engine/helpers.js';
import { fmt, loadNow, log, median, table } from './format.js';
import { ensureGguf, type GgufType } from './gguf.js';
import type { LlamaJob, LlamaResult } from './llamacpp-child.js';
import { runChild } from './prefill.js';
import { ensureRandomModel, type RandomModelShape } from './random-model.js';

export const NODE_LLAMA_CPP_VERSION = '3.22.1';
export const llamaCppDir = path.join(repoRoot, 'bench/.llamacpp');

/** Installs node-llama-cpp into bench/.llamacpp if it is not there; returns an error message or null. */
export function ensureNodeLlamaCpp(log: (s: string) => void = () => {}): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `node-llama-cpp's prebuilt package is wired for linux-x64 only (this is ${process.platform}-${process.arch})`;
  const pkg = path.join(llamaCppDir, 'node_modules/node-llama-cpp/package.json');
  const bin = path.join(llamaCppDir, 'node_modules/@node-llama-cpp/linux-x64/package.json');
  const installed = (f: string) => existsSync(f) && (JSON.parse(readFileSync(f, 'utf8')) as { version: string }).version === NODE_LLAMA_CPP_VERSION;
  if (installed(pkg) && installed(bin)) return null;
  mkdirSync(llamaCppDir, { recursive: true });
  writeFileSync(path.join(llamaCppDir, 'package.json'), JSON.stringify({
    name: 'pcomp-bench-llamacpp', private: true, description: 'bench-only: installed by bench/llamacpp.ts, gitignored',
    dependencies: { 'node-llama-cpp': NODE_LLAMA_CPP_VERSION, '@node-llama-cpp/linux-x64': NODE_LLAMA_CPP_VERSION },
  }, null, 2) + '\n');
  log(`installing node-llama-cpp ${NODE_LLAMA_CPP_VERSION} (CPU binaries only) into bench/.llamacpp...`);
  const r = spawnSync('npm', ['install', '--prefix', llamaCppDir, '--ignore-scripts', '--omit=optional', '--no-audit', '--no-fund', '--no-package-lock'], {
    encoding: 'utf8', env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' }, timeout: 600_000,
  });
  if (r.status !== 0) return `npm install of node-llama-cpp failed: ${(r.stderr || r.error?.message || '').slice(-600)}`;
  if (!installed(pkg) || !installed(bin)) return 'npm install finished but node-llama-cpp or its linux-x64 binaries are missing';
  return null;
}

export function runLlamaChild(job: LlamaJob, timeoutS: number): LlamaResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench/llamacpp-child.ts'), JSON.stringify(job)], {
    encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 1 << 28, cwd: repoRoot,
    env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
  });
  if (r.error) return { ok: false, error: r.error.message.includes('ETIMEDOUT') ? `timed out after ${timeoutS} s` : r.error.message };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as LlamaResult;
  } catch {
    return { ok: false, error: `child exited ${r.status}: ${(r.stderr || r.stdout).slice(-400)}` };
  }
}

/** Agreement of two logit rows: the largest difference relative to the reference's largest |logit|, and whether the argmax agrees. */
export function compareLogits(ref: ArrayLike<number>, other: ArrayLike<number>): { maxRel: number; argmaxSame: boolean; rmsRel: number } {
  let scale = 0, maxDiff = 0, sq = 0, sqRef = 0, aRef = 0, aOther = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ref[i]! - other[i]!);
    if (!Number.isFinite(d)) return { maxRel: Infinity, argmaxSame: false, rmsRel: Infinity };
    scale = Math.max(scale, Math.abs(ref[i]!));
    maxDiff = Math.max(maxDiff, d);
    sq += d * d;
    sqRef += ref[i]! * ref[i]!;
    if (ref[i]! > ref[aRef]!) aRef = i;
    if (other[i]! > other[aOther]!) aOther = i;
  }
  return { maxRel: maxDiff / scale, argmaxSame: aRef === aOther, rmsRel: Math.sqrt(sq / sqRef) };
}

export interface LlamaSectionOptions {
  threads: number;
  trials: number;
  timeout: number;
  prefill: number;
  decode: number;
  types: GgufType[];
  flashAttention: boolean | 'auto';
  /** The random model's shape (REALISTIC; a small one only to check the wiring). */
  shape: RandomModelShape;
}

interface Config {
  label: string;
  engine: 'llama.cpp' | 'pcomp';
  weights: string;
  run(): { ok: boolean; error?: string; prefillTokensPerS?: number; decodeTokensPerS?: number; peakRssMiB?: number; loadMs?: number };
}

/**
 * `npm run bench -- llamacpp`: the same seeded random model through llama.cpp (GGUF F16, BF16, Q8_0,
 * F32) and pcomp (the bf16 safetensors file held as f32 or bf16), prefill of `prefill` tokens in one
 * batch and `decode` greedy tokens after it, each run in a fresh child, the configs interleaved
 * (every trial runs each once, in turn), medians over trials. Before timing anything, the logits
 * of both engines on the same tokens are compared, so the table compares one model.
 */
export function llamaCppSection(o: LlamaSectionOptions): string {
  const head = '### Side by side with llama.cpp (same seeded weights; prefill and decode tokens/s, medians of interleaved runs)';
  const problem = ensureNodeLlamaCpp(log);
  if (problem) return `${head}\n\nskipped: ${problem}\n`;
  const { dir } = ensureRandomModel(o.shape, log);
  const ggufDir = path.join(os.tmpdir(), `pcomp-bench-gguf-${path.basename(dir).replace(/^pcomp-bench-random-/, '')}`);
  const ggufs = new Map<GgufType, string>();
  for (const t of new Set<GgufType>(['F32', ...o.types])) ggufs.set(t, ensureGguf(dir, t, ggufDir, log));
  const vocab = o.shape.vocab;
  const out: string[] = [head, ''];
  out.push(`Model: bench/random-model.ts's seeded bf16 Llama (hidden ${o.shape.hidden}, ${o.shape.layers} layers, ${o.shape.heads}/${o.shape.kvHeads} heads, ffn ${o.shape.intermediate}, vocab ${vocab}), ` +
    `written as GGUF by bench/gguf.ts (F16/BF16 hold the same bf16 values; F32 their exact widening; Q8_0 quantized from them; norms F32). ` +
    `llama.cpp: node-llama-cpp ${NODE_LLAMA_CPP_VERSION}'s prebuilt linux-x64 CPU binaries (installed into bench/.llamacpp), ${o.threads} threads, batch = ${o.prefill}, KV cache F16 (its default), flash attention ${o.flashAttention === 'auto' ? 'auto (node-llama-cpp\'s default; on for the CPU)' : o.flashAttention ? 'on' : 'off'}. ` +
    `pcomp: EngineModel.generate (full attention), PCOMP_WEIGHTS=f32|bf16, auto kernels (exact) unless the row says avx512bf16. Load average at the start of this section ${loadNow()}.`, '');

  // 1. Do the engines compute the same function? Logits after each of 8 tokens.
  const tokens = [1, ...Array.from(seededTokens(7, vocab, 21))];
  log('logits check: pcomp (bf16 file, exact kernels)...');
  const ref = runChild({ mode: 'logits', modelDir: dir, length: 0, threads: o.threads, weights: 'auto', tokens }, o.timeout);
  const checks: string[][] = [];
  let strict: number | undefined;
  if (!ref.ok) out.push(`Logits check: pcomp failed (${ref.error}); the timings below compare engines whose agreement was not checked.`, '');
  else {
    const cases: Array<{ type: GgufType; kv: 'F16' | 'F32'; fa: boolean | 'auto'; note: string }> = [
      { type: 'F32', kv: 'F32', fa: false, note: 'no rounding anywhere: the strict check' },
      ...o.types.map((type) => ({ type, kv: 'F16' as const, fa: o.flashAttention, note: 'as timed below' })),
    ];
    for (const c of cases) {
      log(`logits check: llama.cpp ${c.type}, KV ${c.kv}, flash attention ${c.fa}...`);
      const r = runLlamaChild({ mode: 'logits', gguf: ggufs.get(c.type)!, threads: o.threads, tokens, kvType: c.kv, flashAttention: c.fa, vocab }, o.timeout);
      if (!r.ok) { checks.push([c.type, c.kv, String(c.fa), r.error!, '–', '–', c.note]); continue; }
      const cmp = r.logits!.map((row, i) => compareLogits(ref.logits![i]!, row));
      const worst = Math.max(...cmp.map((x) => x.maxRel));
      if (c.note.startsWith('no rounding')) strict = worst;
      checks.push([c.type, c.kv, String(c.fa), worst.toExponential(1), Math.max(...cmp.map((x) => x.rmsRel)).toExponential(1), `${cmp.filter((x) => x.argmaxSame).length}/${cmp.length}`, c.note]);
    }
    out.push(`Logits check (tokens ${tokens.join(', ')}; pcomp = the bf16 file with exact kernels, which equals the float64 oracle to ~3e-7): the largest |difference| over the ${tokens.length} positions relative to pcomp's largest |logit|, the relative RMS difference, and how often the argmax agrees.`, '');
    out.push(table(['llama.cpp GGUF', 'KV cache', 'flash attn', 'max rel diff', 'rms rel diff', 'argmax same', 'note'], checks), '');
    out.push(strict !== undefined && strict < 1e-4
      ? `With nothing rounded (F32 weights, F32 KV cache, no flash attention) llama.cpp and pcomp agree to ${strict.toExponential(1)}: the GGUF holds the same model. (The check can fail: with the q/k row permutation left out, \`ensureGguf(..., { skipRopePermutation: true })\`, the logits moved by 2–3e-2 of their scale from position 1 on, about 100× the permuted file's difference under the same settings; tried by hand on a small shape of this writer.) The other rows' differences are llama.cpp's roundings, not a different model: flash attention (auto = on for the CPU) rounds to f16 inside attention even with an F32 cache (with it off, F32 agrees to ~2e-7 on the small shape), the F16 KV cache rounds K and V, its F16/BF16 matmuls round the activations to f16/bf16, and Q8_0 quantizes the weights.`
      : `**The strict check failed** (${strict === undefined ? 'no result' : strict.toExponential(1)} ≥ 1e-4): the engines do not compute the same function, so the timings below compare different models.`, '');
  }

  // 2. Timing, interleaved.
  const configs: Config[] = [];
  for (const t of o.types) configs.push({
    label: `llama.cpp ${t}`, engine: 'llama.cpp', weights: t,
    run: () => runLlamaChild({ mode: 'speed', gguf: ggufs.get(t)!, threads: o.threads, prefill: o.prefill, decode: o.decode, vocab, flashAttention: o.flashAttention }, o.timeout),
  });
  const pcomp = (weights: 'f32' | 'bf16', kernel?: 'avx512bf16'): Config => ({
    label: `pcomp ${weights}${kernel ? ` (${kernel})` : ''}`, engine: 'pcomp', weights: kernel ? `${weights}, PCOMP_CPU_KERNEL=${kernel}` : weights,
    run: () => {
      const r = runChild({ mode: 'generate', modelDir: dir, length: o.prefill, threads: o.threads, weights, kernel, decodeTokens: o.decode }, o.timeout);
      return { ...r, prefillTokensPerS: r.tokensPerS };
    },
  });
  configs.push(pcomp('f32'), pcomp('bf16'), pcomp('bf16', 'avx512bf16'));
  const results = new Map<string, ReturnType<Config['run']>[]>(configs.map((c) => [c.label, []]));
  for (let trial = 0; trial < o.trials; trial++)
    for (const c of configs) {
      log(`trial ${trial + 1}/${o.trials}: ${c.label}...`);
      const r = c.run();
      log(r.ok ? `  prefill ${fmt(r.prefillTokensPerS)} tok/s, decode ${fmt(r.decodeTokensPerS, 2)} tok/s` : `  failed: ${r.error}`);
      results.get(c.label)!.push(r);
    }
  const stat = (label: string) => {
    const ok = results.get(label)!.filter((r) => r.ok);
    return ok.length ? { prefill: median(ok.map((r) => r.prefillTokensPerS!)), decode: median(ok.map((r) => r.decodeTokensPerS!)), rss: Math.max(...ok.map((r) => r.peakRssMiB ?? NaN)), n: ok.length, all: ok } : undefined;
  };
  const base = stat('pcomp bf16');
  const rows = configs.map((c) => {
    const s = stat(c.label);
    const errors = results.get(c.label)!.filter((r) => !r.ok).map((r) => r.error);
    if (!s) return [c.engine, c.weights, errors[0] ?? 'no run', '–', '–', '–', '–', '–'];
    return [c.engine, c.weights, fmt(s.prefill), s.all.map((r) => fmt(r.prefillTokensPerS)).join(', '), fmt(s.decode, 2), s.all.map((r) => fmt(r.decodeTokensPerS, 1)).join(', '),
      base ? `${fmt(s.prefill / base.prefill, 2)} / ${fmt(s.decode / base.decode, 2)}` : '–', fmt(s.rss, 0)];
  });
  const info = [...results.values()].flat().find((r) => r.ok && (r as LlamaResult).systemInfo) as LlamaResult | undefined;
  if (info) out.push(`llama.cpp (node-llama-cpp ${info.version}): CPU backend ${info.cpuBackend ?? 'unknown'}; system info \`${info.systemInfo!.trim()}\``, '');
  out.push(`Timing: ${o.trials} trials; in each, every config runs once in a fresh process, in the order of the table (after a 16-token warm-up pass). Prefill = ${o.prefill} prompt tokens in one batch, tokens/s = ${o.prefill} ÷ time to the first generated token; decode = the ${o.decode} greedy tokens after it, from the times they arrive.`, '');
  out.push(table(['engine', 'weights', `prefill ${o.prefill} tok/s`, 'runs', `decode tok/s`, 'runs', '÷ pcomp bf16 (prefill / decode)', 'peak RSS MiB'], rows), '');
  out.push(`Load average at the end of this section ${loadNow()}.`, '');
  return out.join('\n');
}

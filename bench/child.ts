/**
 * One measured engine run in a fresh process, so its peak RSS is its own (bench/run.ts spawns it).
 * argv[2] is a JSON ChildJob; stdout gets one JSON ChildResult line.
 *
 *   full:  one sequence of `length` tokens prefilled in one batched forward (full causal attention).
 *   parallelcomp: a sample of `length` context tokens in chunks + a question, through
 *          EngineModel.run with the 'parallelcomp' preset; maxNewTokens 1, so it is prefill.
 *   decode: the same sample with 1 + decodeTokens new tokens (no stop ids); the rate comes from the
 *          times of the pipeline's per-token 'decode' progress events.
 *   generate: plain greedy generation (EngineModel.generate, full attention): after a 16-token
 *          warm-up, `length` prompt tokens in one prefill and 1 + decodeTokens new tokens; prefill
 *          time is the addon's own, the decode rate comes from the times of the per-token callbacks.
 *          The shape llama.cpp's side of the comparison runs (bench/llamacpp-child.ts).
 *   logits: the logits after each of `tokens` (one sequence), for the llama.cpp agreement check.
 * The addon is the one engine/index.ts loads: build/Release, or PCOMP_ADDON (the before/after runs).
 */
import { addonPath, buildInfo, EngineModel } from '../engine/index.js';
import { resolveConfig } from '../engine/policy-config.js';
import { seededTokens as tokens } from '../test/engine/helpers.js';

export interface ChildJob {
  mode: 'full' | 'parallelcomp' | 'decode' | 'generate' | 'logits';
  modelDir: string;
  length: number;
  threads: number;
  weights: 'auto' | 'f32' | 'bf16';
  /** PCOMP_CPU_KERNEL for this run (unset: auto, the exact kernels). */
  kernel?: 'auto' | 'avx2' | 'avx512bf16' | 'reference';
  chunkSize?: number;
  questionTokens?: number;
  decodeTokens?: number;
  sets?: string[];
  /** logits: the tokens to evaluate. */
  tokens?: number[];
}

export interface ChildResult {
  ok: boolean;
  error?: string;
  loadMs?: number;
  ms?: number;
  tokensPerS?: number;
  decodeTokensPerS?: number;
  peakRssMiB?: number;
  chunks?: number;
  weightBytes?: number;
  /** logits: row i = the logits after tokens[0..i]. */
  logits?: number[][];
  /** What the loaded addon reports (build and kernels), so a block can say what ran. */
  engine?: { addon: string; simd: string; kernels: string; weights: string };
}


function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;  // maxRSS is in KiB
}

async function main(): Promise<ChildResult> {
  const job = JSON.parse(process.argv[2]!) as ChildJob;
  process.env.PCOMP_WEIGHTS = job.weights;
  if (job.kernel) process.env.PCOMP_CPU_KERNEL = job.kernel;
  const t0 = performance.now();
  const model = await EngineModel.load(job.modelDir, { threads: job.threads });
  const loadMs = performance.now() - t0;
  const vocab = model.info.vocab_size;
  const b = buildInfo();
  const engine = { addon: addonPath, simd: b.simd, kernels: `f32 ${b.kernels.f32}, bf16 ${b.kernels.bf16}`, weights: model.info.storage_dtype };
  const base = { ok: true, loadMs, weightBytes: model.info.weight_bytes, engine };
  try {
    if (job.mode === 'logits') {
      const rows = await model.logits([{ tokens: Int32Array.from(job.tokens!) }], 'all');
      return { ...base, logits: rows.map((r) => Array.from(r)), peakRssMiB: peakRssMiB() };
    }
    if (job.mode === 'generate') {
      await model.generate(tokens(16, vocab, 5), { maxNewTokens: 1, stopIds: [] });  // warm-up
      const at: number[] = [];
      const r = await model.generate(tokens(job.length, vocab, 11), {
        maxNewTokens: 1 + (job.decodeTokens ?? 32), stopIds: [], onToken: () => at.push(performance.now()),
      });
      if (at.length < 2) throw new Error(`generate reported ${at.length} tokens`);
      return {
        ...base, ms: r.prefillMs, tokensPerS: job.length / (r.prefillMs / 1000),
        decodeTokensPerS: (at.length - 1) / ((at.at(-1)! - at[0]!) / 1000), peakRssMiB: peakRssMiB(),
      };
    }
    if (job.mode === 'full') {
      const seq = tokens(job.length, vocab, 11);
      const t = performance.now();
      await model.logits([{ tokens: seq }], 'last');
      const ms = performance.now() - t;
      return { ...base, ms, tokensPerS: job.length / (ms / 1000), peakRssMiB: peakRssMiB() };
    }
    const chunkSize = job.chunkSize!;
    const context = tokens(job.length, vocab, 12);
    const chunks: Int32Array[] = [];
    for (let i = 0; i < context.length; i += chunkSize) chunks.push(context.subarray(i, Math.min(context.length, i + chunkSize)));
    const question = tokens(job.questionTokens ?? 32, vocab, 13);
    const config = resolveConfig('parallelcomp', job.sets ?? []);
    // Decode events arrive once per chosen token (before the forward of the next), so the spacing of
    // the first and last is (count - 1) decode steps; the first marks the end of the prefill stages.
    const decodeAt: { done: number; at: number }[] = [];
    const maxNewTokens = job.mode === 'decode' ? 1 + (job.decodeTokens ?? 16) : 1;
    const t = performance.now();
    await model.run({ chunks, question, maxNewTokens, stopIds: [] }, config, {
      onProgress: (stage, done) => {
        if (stage === 'decode') decodeAt.push({ done, at: performance.now() });
      },
    });
    const total = performance.now() - t;
    const ms = job.mode === 'decode' && decodeAt.length ? decodeAt[0]!.at - t : total;
    const result: ChildResult = { ...base, ms, tokensPerS: job.length / (ms / 1000), chunks: chunks.length };
    if (job.mode === 'decode') {
      const first = decodeAt[0], last = decodeAt[decodeAt.length - 1];
      if (!first || !last || last.done === first.done) throw new Error('the run reported no decode progress');
      result.decodeTokensPerS = (last.done - first.done) / ((last.at - first.at) / 1000);
    }
    result.peakRssMiB = peakRssMiB();
    return result;
  } finally {
    model.free();
  }
}

main().then(
  (r) => console.log(JSON.stringify(r)),
  (e: unknown) => console.log(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) })),
);

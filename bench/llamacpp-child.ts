/**
 * One llama.cpp run in a fresh process, through node-llama-cpp's prebuilt CPU binaries (installed
 * on demand into bench/.llamacpp by bench/llamacpp.ts; never imported by the project itself).
 * argv[2] is a JSON LlamaJob; stdout gets one JSON LlamaResult line.
 *
 *   logits: the raw next-token logits after each of `tokens` (one sequence, evaluated in order).
 *   speed:  a warm-up pass over 16 tokens (touches every weight page of the mmapped file), then a
 *           fresh sequence: `prefill` tokens in one batch and `decode` greedy tokens after them.
 *           Prefill time = time to the first generated token; the decode rate comes from the times
 *           the following tokens arrive, as bench/child.ts takes pcomp's.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { seededTokens } from '../test/engine/helpers.js';

export interface LlamaJob {
  mode: 'logits' | 'speed';
  gguf: string;
  threads: number;
  /** logits: the tokens to evaluate. */
  tokens?: number[];
  /** KV cache type for the logits check (F16 is llama.cpp's default; F32 removes its rounding). */
  kvType?: 'F16' | 'F32';
  /** llama.cpp's flash attention: node-llama-cpp's default is "auto" (on for the CPU). */
  flashAttention?: boolean | 'auto';
  prefill?: number;
  decode?: number;
  vocab?: number;
}

export interface LlamaResult {
  ok: boolean;
  error?: string;
  /** logits: row i = the logits after tokens[0..i]. */
  logits?: number[][];
  prefillMs?: number;
  prefillTokensPerS?: number;
  decodeTokensPerS?: number;
  loadMs?: number;
  peakRssMiB?: number;
  /** llama.cpp's system info line (which CPU backend variant and features it runs). */
  systemInfo?: string;
  /** The ggml CPU backend variants mapped into the process (the prebuilt package carries one per CPU family). */
  cpuBackend?: string;
  version?: string;
}

// The few parts of node-llama-cpp's API this file uses (its types are not installed with the project).
interface Sequence {
  evaluate(tokens: number[], options?: { temperature?: number }): AsyncGenerator<number, void, void>;
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  controlledEvaluate(input: Array<number | [number, { generateNext?: { logits?: boolean } }]>): Promise<Array<{ next?: { logits?: Map<number, number> } } | undefined>>;
  clearHistory(): Promise<void>;
}
interface Context { getSequence(): Sequence; dispose(): Promise<void> }
interface Model {
  createContext(o: Record<string, unknown>): Promise<Context>;
  dispose(): Promise<void>;
}
interface Llama { loadModel(o: Record<string, unknown>): Promise<Model>; systemInfo: string; dispose(): Promise<void> }
interface NodeLlamaCpp { getLlama(o: Record<string, unknown>): Promise<Llama> }

export const llamaCppDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '.llamacpp');

const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

async function main(): Promise<LlamaResult> {
  const job = JSON.parse(process.argv[2]!) as LlamaJob;
  const entry = path.join(llamaCppDir, 'node_modules/node-llama-cpp/dist/index.js');
  const lib = (await import(pathToFileURL(entry).href)) as NodeLlamaCpp;
  // Prebuilt CPU binaries only: no GPU, no source build, no download.
  const llama = await lib.getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, progressLogs: false, logLevel: 'error', maxThreads: job.threads });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: job.gguf, gpuLayers: 0 });
  const loadMs = performance.now() - t0;
  const version = (await import(pathToFileURL(path.join(llamaCppDir, 'node_modules/node-llama-cpp/package.json')).href, { with: { type: 'json' } }) as { default: { version: string } }).default.version;
  let cpuBackend: string | undefined;
  try {
    const libs = new Set(readFileSync('/proc/self/maps', 'utf8').match(/libggml-cpu-[\w.-]+\.so/g) ?? []);
    cpuBackend = [...libs].join(', ') || undefined;
  } catch { /* not Linux */ }
  const base = { ok: true, loadMs, systemInfo: llama.systemInfo, cpuBackend, version };
  try {
    if (job.mode === 'logits') {
      const tokens = job.tokens!;
      const kv = job.kvType ?? 'F16';
      const context = await model.createContext({ contextSize: 256, batchSize: 256, threads: job.threads, flashAttention: job.flashAttention ?? 'auto', experimentalKvCacheKeyType: kv, experimentalKvCacheValueType: kv });
      try {
        const out = await context.getSequence().controlledEvaluate(tokens.map((t) => [t, { generateNext: { logits: true } }]));
        const logits = out.map((o, i) => {
          const m = o?.next?.logits;
          if (!m) throw new Error(`no logits returned after token ${i}`);
          const row = new Array<number>(job.vocab!).fill(NaN);
          for (const [tok, v] of m) row[tok] = v;
          return row;
        });
        return { ...base, logits, peakRssMiB: peakRssMiB() };
      } finally {
        await context.dispose();
      }
    }
    const prefill = job.prefill!, decode = job.decode!;
    const context = await model.createContext({ contextSize: prefill + decode + 64, batchSize: prefill, threads: job.threads, flashAttention: job.flashAttention ?? 'auto' });
    try {
      const seq = context.getSequence();
      await seq.evaluateWithoutGeneratingNewTokens(Array.from(seededTokens(16, job.vocab!, 5)));
      await seq.clearHistory();
      const prompt = Array.from(seededTokens(prefill, job.vocab!, 11));
      const times: number[] = [];
      const t = performance.now();
      for await (const _token of seq.evaluate(prompt, { temperature: 0 })) {
        times.push(performance.now());
        if (times.length === decode + 1) break;
      }
      if (times.length < 2) throw new Error(`llama.cpp generated ${times.length} tokens`);
      const prefillMs = times[0]! - t;
      return {
        ...base,
        prefillMs,
        prefillTokensPerS: prefill / (prefillMs / 1000),
        decodeTokensPerS: (times.length - 1) / ((times.at(-1)! - times[0]!) / 1000),
        peakRssMiB: peakRssMiB(),
      };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
    await llama.dispose();
  }
}

main().then(
  (r) => console.log(JSON.stringify(r)),
  (e: unknown) => console.log(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) })),
);

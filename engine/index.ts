// The only TypeScript module that loads the compiled addon. Everything else talks to the engine
// through the typed wrappers here: Int32Array token ids in, typed arrays and plain objects out,
// Promises resolved on the addon's worker threads, AbortSignal for cancellation.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { UserError, Interrupted } from '../util/errors.js';
import { SCHEMA_FILE, engineConfig } from './presets/knobs.js';

export const ENGINE_API_VERSION = 1;

interface NativeModel {
  info(): string;
  logits(seqs: { tokens: Int32Array; positions?: Int32Array }[], mode: 'last' | 'all', cancel?: Int32Array): Promise<Float32Array>;
  logprobs(tokens: Int32Array, positions: Int32Array | null, targets: Int32Array, cancel?: Int32Array): Promise<Float32Array>;
  generate(
    tokens: Int32Array,
    opts: { maxNew: number; stopIds: Int32Array; positions?: Int32Array },
    cancel?: Int32Array,
    onToken?: (token: number, done: number) => void,
  ): Promise<{ tokens: Int32Array; prefillMs: number; decodeMs: number; peakCacheBytes: number }>;
  run(
    sample: { chunks: Int32Array[]; question: Int32Array; evalTokens?: Int32Array; maxNew: number; stopIds: Int32Array },
    configJson: string,
    cancel?: Int32Array,
    onProgress?: (stage: string, done: number, total: number) => void,
  ): Promise<{ tokens: Int32Array; nll: Float32Array; trace: string }>;
  checkConfig(configJson: string): string | null;
  free(): void;
}

interface NativeAddon {
  apiVersion(): number;
  buildInfo(): string;
  setThreads(n: number): void;
  getThreads(): number;
  loadModel(dir: string, optionsJson?: string): Promise<NativeModel>;
  knobSchema(): string;
  resolveConfig(configJson: string): { config?: string; error?: string };
  exitNow(code: number): void;
}

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/**
 * The addon this process loads: build/Release/pcomp_native.node, or the file PCOMP_ADDON names (the
 * bench's before/after comparison runs the same TypeScript against an addon built from another
 * commit; its API version must still match ENGINE_API_VERSION).
 */
export const addonPath = process.env.PCOMP_ADDON
  ? path.resolve(process.env.PCOMP_ADDON)
  : path.join(repoRoot, 'build', 'Release', 'pcomp_native.node');

let addon: NativeAddon | null = null;

function native(): NativeAddon {
  if (addon) return addon;
  if (!existsSync(addonPath)) {
    if (process.env.PCOMP_ADDON) throw new UserError(`PCOMP_ADDON=${process.env.PCOMP_ADDON}: no such file (${addonPath})`);
    throw new UserError(`the native engine is not built (${path.relative(process.cwd(), addonPath) || addonPath} is missing)`, {
      hint: 'run `npm run build` (needs cmake and a C++17 compiler)',
    });
  }
  const a = createRequire(import.meta.url)(addonPath) as NativeAddon;
  if (a.apiVersion() !== ENGINE_API_VERSION)
    throw new UserError(`native engine API version ${a.apiVersion()} does not match ${ENGINE_API_VERSION}; rebuild with \`npm run build\``);
  checkSchemaBuild(a);
  addon = a;
  return a;
}

/**
 * Ends the process at once with `code`. With the engine loaded, process.exit would wait for an engine
 * call in flight to reach its next cancellation point (libuv joins its worker threads at exit), so
 * the addon ends the process without teardown; 'exit' handlers and finally blocks do not run.
 */
export function exitNow(code: number): never {
  if (addon) addon.exitNow(code);
  process.exit(code);
}

/** The engine embeds engine/knobs.json at build time: an engine built from another version is refused. */
export function checkSchemaBuild(a: { knobSchema?: () => string }): void {
  const rebuild = 'rebuild with `npm run build`';
  if (typeof a.knobSchema !== 'function') throw new UserError(`the native engine predates engine/knobs.json; ${rebuild}`);
  let built: string;
  try { built = (JSON.parse(a.knobSchema()) as { source: string }).source; } catch (e) {
    throw new UserError(`the native engine's knob schema is unreadable (${(e as Error).message}); ${rebuild}`);
  }
  const normal = (text: string) => JSON.stringify(JSON.parse(text));
  if (normal(built) !== normal(readFileSync(SCHEMA_FILE, 'utf8')))
    throw new UserError(`the native engine was built from a different engine/knobs.json than this checkout's; ${rebuild}`);
}

/** The engine's view of the knob schema (pcomp_knob_schema): what the schema parity test compares. */
export interface EngineKnobSchema {
  source: string;
  knobs: {
    key: string; type: string; min?: number; max?: number; odd?: boolean; minExclusive?: boolean; maxExclusive?: boolean;
    values?: string[]; regions?: string[]; range: string; host: boolean; default: unknown;
  }[];
  stages: { key: string; section: string; keys: string[] }[];
}

export function engineKnobSchema(): EngineKnobSchema {
  return JSON.parse(native().knobSchema()) as EngineKnobSchema;
}

/**
 * The config as the engine resolves it, without a model (pcomp_config_resolve): every engine knob
 * after defaults, plus preset, retrieval and pipeline; a UserError with the engine's message when it
 * refuses the config. The object is sent as given (host-only knobs included, which the engine refuses).
 */
export function engineResolveConfig(config: object): Record<string, unknown> {
  const r = native().resolveConfig(JSON.stringify(config));
  if (r.config === undefined) throw new UserError(r.error ?? 'the engine refused the config');
  return JSON.parse(r.config) as Record<string, unknown>;
}

export interface BuildInfo {
  version: string;
  api: number;
  compiler: string;
  simd: string;
  cuda_compiled: boolean;
  cuda_available: boolean;
  cuda_reason: string;
  threads: number;
  /** CPU features the engine detected, e.g. "avx2 fma f16c". */
  cpu_features: string;
  /** Matrix-product kernels in force for f32 and bf16 weights (PCOMP_CPU_KERNEL can ask for one). */
  kernels: { f32: string; bf16: string; note: string };
}

export function buildInfo(): BuildInfo {
  return JSON.parse(native().buildInfo()) as BuildInfo;
}

/** Worker threads for CPU work; 0 = one per core. */
export function setThreads(n: number): void {
  native().setThreads(n);
}

export interface ModelInfo {
  dir: string;
  architecture: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  vocab_size: number;
  max_position_embeddings: number;
  rope_theta: number;
  rope_type: string;
  rope_factor: number;
  tied_embeddings: boolean;
  sliding_window: number;
  bos_token_id: number;
  eos_token_ids: number[];
  weight_dtype: string;
  weight_bytes: number;
  /** How the matrices are held: "f32" or "bf16" (PCOMP_WEIGHTS=f32|bf16|auto; auto follows the file). */
  storage_dtype: string;
  compute_dtype: string;
  /** Where every call executes: the device chosen at load (auto resolves to one of these). */
  device: 'cpu' | 'cuda';
  /** The engine backend the device runs on (engine/src/backend/backend.h): "cpu" or "cuda". */
  backend: string;
  /** Older engines reported these on cuda; kept optional for reading old run manifests. */
  device_name?: string;
  device_weight_bytes?: number;
}

/**
 * cpu: everything on the CPU. cuda: the weights go to the GPU once and run() executes the CUDA
 * pipeline (ParallelComp and full); a config knob it does not implement is a UserError naming the
 * knob, and logits/logprobs/nll/generate are refused (CPU only). auto: cuda when the build has CUDA
 * and a usable GPU is present, else cpu. Without a usable GPU, cuda fails to load with the reason.
 */
export type Device = 'auto' | 'cpu' | 'cuda';

export interface CallOptions {
  signal?: AbortSignal;
}

export interface GenerateOptions extends CallOptions {
  maxNewTokens: number;
  stopIds?: number[];
  /** Position ids of the prompt tokens (default 0..n-1). */
  positions?: Int32Array;
  onToken?: (token: number, done: number) => void;
}

export interface Sample {
  /** Token ids of each chunk, context template applied. */
  chunks: Int32Array[];
  /** Token ids of the question template. */
  question: Int32Array;
  /** Tokens scored after the question (perplexity); their NLL comes back in `nll`. */
  evalTokens?: Int32Array;
  maxNewTokens: number;
  stopIds?: number[];
  /** Retrieval task: ParallelComp keeps chunkEvict.kRetrieval chunks (sent to the engine as config key "retrieval"). */
  retrieval?: boolean;
}

export interface RunOptions extends CallOptions {
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface RunResult {
  tokens: Int32Array;
  nll: Float32Array;
  trace: Record<string, unknown>;
}

/** Raises the cancel flag the native side polls between layers and tokens when the signal aborts. */
function cancelFlag(signal: AbortSignal | undefined): { flag: Int32Array; done: () => void } {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  if (!signal) return { flag, done: () => {} };
  const onAbort = () => Atomics.store(flag, 0, 1);
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  return { flag, done: () => signal.removeEventListener('abort', onAbort) };
}

function mapError(e: unknown, what: string): never {
  const err = e as { code?: string; message?: string };
  if (err?.code === 'PCOMP_CANCELLED') throw new Interrupted(`${what} cancelled`);
  if (err?.code === 'PCOMP_INPUT') throw new UserError(err.message ?? String(e));
  throw e;
}

async function call<T>(what: string, signal: AbortSignal | undefined, f: (flag: Int32Array) => Promise<T>): Promise<T> {
  const c = cancelFlag(signal);
  try {
    return await f(c.flag);
  } catch (e) {
    return mapError(e, what);
  } finally {
    c.done();
  }
}

export class EngineModel {
  readonly info: ModelInfo;
  private freed = false;
  private constructor(private readonly m: NativeModel) {
    this.info = JSON.parse(m.info()) as ModelInfo;
  }

  /**
   * Loads a local HF model folder (resolve Hub ids first with datasets/hub.ts resolveModel) for a
   * device (default cpu); `info.device` says which one auto chose.
   */
  static async load(dir: string, opts: { threads?: number; device?: Device } = {}): Promise<EngineModel> {
    const a = native();
    if (opts.threads !== undefined) a.setThreads(opts.threads);
    try {
      return new EngineModel(await a.loadModel(dir, JSON.stringify({ device: opts.device ?? 'cpu' })));
    } catch (e) {
      return mapError(e, 'load');
    }
  }

  private live(): NativeModel {
    if (this.freed) throw new Error('model was freed');
    return this.m;
  }

  /**
   * Prefills several independent sequences in one batched forward and returns logits:
   * 'last' → one row per sequence; 'all' → one row per token (rows of all sequences in order).
   */
  async logits(seqs: { tokens: Int32Array; positions?: Int32Array }[], mode: 'last' | 'all' = 'last', opts: CallOptions = {}): Promise<Float32Array[]> {
    const flat = await call('logits', opts.signal, (flag) => this.live().logits(seqs, mode, flag));
    const V = this.info.vocab_size;
    const rows = flat.length / V;
    return Array.from({ length: rows }, (_, i) => flat.subarray(i * V, (i + 1) * V));
  }

  /** logprob[i] = log p(targets[i] | tokens[0..i]); targets[i] = -1 skips a position. */
  async logprobs(tokens: Int32Array, targets: Int32Array, opts: CallOptions & { positions?: Int32Array } = {}): Promise<Float32Array> {
    return call('logprobs', opts.signal, (flag) => this.live().logprobs(tokens, opts.positions ?? null, targets, flag));
  }

  /** Per-token NLL of tokens[1..] given the prefix (natural log). */
  async nll(tokens: Int32Array, opts: CallOptions = {}): Promise<Float32Array> {
    const targets = new Int32Array(tokens.length).fill(-1);
    for (let i = 0; i + 1 < tokens.length; i++) targets[i] = tokens[i + 1]!;
    const lp = await this.logprobs(tokens, targets, opts);
    return lp.subarray(0, Math.max(0, tokens.length - 1)).map((x) => -x);
  }

  /** Greedy decoding after a prompt. */
  async generate(prompt: Int32Array, opts: GenerateOptions) {
    const stop = Int32Array.from(opts.stopIds ?? this.info.eos_token_ids);
    return call('generate', opts.signal, (flag) =>
      this.live().generate(prompt, { maxNew: opts.maxNewTokens, stopIds: stop, positions: opts.positions }, flag, opts.onToken),
    );
  }

  /**
   * Throws the UserError run() would give for this config (a bad key, a calibration rule past the
   * layers), without running anything, so that a run can be refused before it starts. Every preset
   * and knob runs on every device: the answer does not depend on it.
   */
  checkConfig(config: object): void {
    const problem = this.live().checkConfig(JSON.stringify(engineConfig(config)));
    if (problem !== null) throw new UserError(problem);
  }

  /**
   * One sample through a policy pipeline (config: a resolved preset, see engine/policy-config.ts;
   * the host-only knobs, which the runner has applied when it cut the chunks, are not sent).
   */
  async run(sample: Sample, config: object, opts: RunOptions = {}): Promise<RunResult> {
    const stop = Int32Array.from(sample.stopIds ?? this.info.eos_token_ids);
    const r = await call('run', opts.signal, (flag) =>
      this.live().run(
        { chunks: sample.chunks, question: sample.question, evalTokens: sample.evalTokens, maxNew: sample.maxNewTokens, stopIds: stop },
        JSON.stringify(engineConfig(sample.retrieval ? { ...config, retrieval: true } : config)),
        flag,
        opts.onProgress,
      ),
    );
    return { tokens: r.tokens, nll: r.nll, trace: JSON.parse(r.trace) as Record<string, unknown> };
  }

  free(): void {
    if (!this.freed) this.m.free();
    this.freed = true;
  }
}

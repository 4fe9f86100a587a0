import { readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import { addonPath, buildInfo, repoRoot } from '../../engine/index.js';
import { tokenizerBackend } from '../../datasets/tokenizer.js';

function cpuFlags(): string[] {
  if (!existsSync('/proc/cpuinfo')) return [];
  const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
  const all = new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  return ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512_bf16', 'avx512_fp16', 'amx_bf16', 'amx_tile'].filter((f) => all.has(f));
}

export async function runDoctor(opts: { json: boolean }): Promise<void> {
  const pkg = JSON.parse(readFileSync(`${repoRoot}/package.json`, 'utf8')) as { version: string };
  const info = existsSync(addonPath) ? buildInfo() : null;
  const report = {
    pcomp: pkg.version,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    cpuFeatures: cpuFlags(),
    engine: info
      ? {
          built: true,
          version: info.version,
          api: info.api,
          compiler: info.compiler,
          simd: info.simd,
          backends: ['cpu', ...(info.cuda_compiled ? ['cuda'] : [])],
          gpu: info.cuda_available ? 'available' : `none (${info.cuda_reason})`,
          threads: info.threads,
          kernels: info.kernels,
          weightStorage: process.env.PCOMP_WEIGHTS ?? 'auto (follows the file: bf16 files stay bf16)',
        }
      : { built: false, hint: 'run `npm run build`' },
    tokenizer: tokenizerBackend(),
    hfCache: process.env.HF_HUB_CACHE ?? (process.env.HF_HOME ? `${process.env.HF_HOME}/hub` : `${os.homedir()}/.cache/huggingface/hub`),
    offline: ['1', 'true', 'yes'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase()),
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return;
  }
  const e = report.engine as Record<string, unknown>;
  const lines = [
    `pcomp ${report.pcomp} on node ${report.node} (${report.platform})`,
    `cpu:      ${report.cpu}, ${report.cores} cores, ${report.memoryGiB} GiB`,
    `features: ${report.cpuFeatures.join(' ') || '(none detected)'}`,
    e.built
      ? `engine:   v${e.version} (C API ${e.api}), ${e.compiler}, simd ${e.simd}, backends: ${(e.backends as string[]).join(', ')}`
      : `engine:   not built — ${e.hint}`,
    ...(e.built
      ? [
          `kernels:  f32 weights → ${(e.kernels as { f32: string }).f32}, bf16 weights → ${(e.kernels as { bf16: string }).bf16}` +
            ((e.kernels as { note: string }).note ? ` (${(e.kernels as { note: string }).note})` : ''),
          `weights:  ${e.weightStorage}`,
          `gpu:      ${e.gpu}`,
          `threads:  ${e.threads}`,
        ]
      : []),
    report.tokenizer.fallback
      ? `tokenizer: ${report.tokenizer.name} ${report.tokenizer.version} (pure-JS port, about 10× slower: ${report.tokenizer.fallback})`
      : `tokenizer: ${report.tokenizer.name} ${report.tokenizer.version} (Hugging Face's Rust core)`,
    `hf cache: ${report.hfCache}${report.offline ? ' (offline)' : ''}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

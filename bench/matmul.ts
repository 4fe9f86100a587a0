/**
 * Matrix products on the model's shapes: the engine's kernels vs OpenBLAS (Debian libopenblas-dev,
 * a bench-only dependency). Compiles bench/matmul/bench_matmul.cpp with the CPU kernels into
 * build/bench/ (rebuilt when a source is newer) and reads its JSON lines.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../engine/index.js';

export interface MatmulRow {
  shape: string;
  T: number;
  N: number;
  K: number;
  engine_f32_gflops: number;
  engine_bf16_gflops: number;
  openblas_f32_gflops: number;
  ratio_f32: number;
  ratio_bf16: number;
  /** The opt-in AVX512_BF16 kernel on the same bf16 weights (activations rounded to bf16); absent where the CPU lacks it. */
  engine_avx512bf16_gflops?: number;
  ratio_avx512bf16?: number;
}

export interface MatmulReport {
  skipped?: string;
  info?: { openblas_core: string; cpu_features: string; kernels_f32: string; kernels_bf16: string; threads: number; avx512bf16_kernel?: boolean };
  rows: MatmulRow[];
  command: string;
}

const OPENBLAS_INCLUDE = ['/usr/include/x86_64-linux-gnu/openblas-pthread', '/usr/include/openblas', '/usr/include'];

function buildBench(log: (s: string) => void): string | { skipped: string } {
  const include = OPENBLAS_INCLUDE.find((d) => existsSync(path.join(d, 'cblas.h')));
  if (!include) return { skipped: 'OpenBLAS headers not found (apt-get install -y libopenblas-dev)' };
  const cpuDir = path.join(repoRoot, 'engine/src/backend/cpu');
  const sources = [
    path.join(repoRoot, 'bench/matmul/bench_matmul.cpp'),
    path.join(repoRoot, 'engine/src/threadpool.cpp'),
    ...readdirSync(cpuDir).filter((f) => f.endsWith('.cpp')).map((f) => path.join(cpuDir, f)),
  ];
  const headers = readdirSync(cpuDir).filter((f) => f.endsWith('.h')).map((f) => path.join(cpuDir, f));
  const out = path.join(repoRoot, 'build/bench/bench_matmul');
  const newest = Math.max(...[...sources, ...headers].map((f) => statSync(f).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs > newest) return out;
  mkdirSync(path.dirname(out), { recursive: true });
  log('compiling build/bench/bench_matmul (engine CPU kernels + OpenBLAS)...');
  const args = ['-std=c++17', '-O3', '-march=native', `-I${path.join(repoRoot, 'engine/src')}`, `-I${path.join(repoRoot, 'engine/include')}`,
    `-I${include}`, ...sources, '-o', out, '-lopenblas', '-lpthread'];
  const r = spawnSync('g++', args, { encoding: 'utf8' });
  if (r.status !== 0) return { skipped: `compiling the matmul bench failed: ${(r.stderr || r.error?.message || '').slice(0, 500)}` };
  return out;
}

export function runMatmul(opts: { threads: number; rows: number[]; minSeconds: number; trials: number }, log: (s: string) => void): MatmulReport {
  const bin = buildBench(log);
  const shape = [2048, 2048, 512, 5632, 32000];  // hidden, q heads x hd, kv heads x hd, intermediate, vocab
  const args = [String(opts.threads), ...shape.map(String), opts.rows.join(','), String(opts.minSeconds), String(opts.trials)];
  const command = `build/bench/bench_matmul ${args.join(' ')}`;
  if (typeof bin !== 'string') return { skipped: bin.skipped, rows: [], command };
  const r = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return { skipped: `bench_matmul exited with ${r.status}: ${r.stderr.slice(0, 500)}`, rows: [], command };
  const report: MatmulReport = { rows: [], command };
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (o.info) report.info = o as unknown as MatmulReport['info'];
    else report.rows.push(o as unknown as MatmulRow);
  }
  return report;
}

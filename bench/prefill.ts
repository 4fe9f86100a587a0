/**
 * Prefill (full attention and ParallelComp), peak RSS and decode runs, each in a fresh child process
 * (bench/child.ts) so every peak RSS is that run's own. Also the fit used to estimate full attention
 * at lengths too slow to run: t(L) = a L + b L^2 (matrix products linear, attention quadratic).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../engine/index.js';
import type { ChildJob, ChildResult } from './child.js';

/** `env` adds to (or, with undefined, removes from) this process's environment, e.g. PCOMP_ADDON. */
export function runChild(job: ChildJob, timeoutS: number, env: Record<string, string | undefined> = {}): ChildResult {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench/child.ts'), JSON.stringify(job)], {
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    maxBuffer: 1 << 28,
    cwd: repoRoot,
    env: childEnv,
  });
  if (r.error) return { ok: false, error: r.error.message.includes('ETIMEDOUT') ? `timed out after ${timeoutS} s` : r.error.message };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ChildResult;
  } catch {
    return { ok: false, error: `child exited ${r.status}: ${(r.stderr || r.stdout).slice(-400)}` };
  }
}

export interface Fit {
  a: number;  // ms per token
  b: number;  // ms per token^2
  predict(length: number): number;
  maxRelResidual: number;
}

/** Least squares for ms = a L + b L^2 over the measured points. */
export function fitLinearQuadratic(points: { length: number; ms: number }[]): Fit | null {
  if (points.length < 2) return null;
  let s11 = 0, s12 = 0, s22 = 0, y1 = 0, y2 = 0;
  for (const { length: L, ms } of points) {
    s11 += L * L;
    s12 += L * L * L;
    s22 += L * L * L * L;
    y1 += L * ms;
    y2 += L * L * ms;
  }
  const det = s11 * s22 - s12 * s12;
  if (det === 0) return null;
  const a = (y1 * s22 - y2 * s12) / det;
  const b = (s11 * y2 - s12 * y1) / det;
  const predict = (L: number) => a * L + b * L * L;
  const maxRelResidual = Math.max(...points.map((p) => Math.abs(predict(p.length) - p.ms) / p.ms));
  return { a, b, predict, maxRelResidual };
}

// manifest.json: what produced a run directory. The identity part (kind, model, configs, settings,
// shard) decides whether a later command may continue the directory; everything else is an open
// record the runner fills (engine version, git commit, device, timings, memory).
import type { Shard } from './shard.js';

export type RunKind = 'eval' | 'ppl';

export interface ModelIdentity {
  /** Hub id or local path as the user gave it. */
  id: string;
  /** Resolved hub revision (commit sha) when downloaded. */
  revision?: string;
  /** Weight file name → sha256, so a silently replaced checkpoint is caught. */
  weights?: Record<string, string>;
  [field: string]: unknown;
}

/** What must match for two invocations to write into the same directory. */
export interface RunIdentity {
  kind: RunKind;
  model: ModelIdentity;
  /** Config name → its fully resolved settings. New names may join a run; known names must not change. */
  configs: Record<string, unknown>;
  /** Anything else that changes predictions: benchmark, prompt truncation, ppl protocol, eval tokens… */
  settings: Record<string, unknown>;
  shard: Shard;
}

export interface SessionRecord {
  startedAt: string;
  endedAt?: string;
  device?: string;
  threads?: number;
  engineVersion?: string;
  gitCommit?: string;
  samples?: number;
  tokensPerSec?: number;
  peakMemoryBytes?: number;
  [field: string]: unknown;
}

export interface RunManifest extends RunIdentity {
  format: typeof MANIFEST_FORMAT;
  engine?: { version?: string; [field: string]: unknown };
  git?: { commit?: string; dirty?: boolean };
  device?: string;
  threads?: number;
  startedAt: string;
  endedAt?: string;
  tokensPerSec?: number;
  peakMemoryBytes?: number;
  /** One entry per invocation that wrote into this directory (first run, then each resume). */
  sessions: SessionRecord[];
  /** Set by `pcomp merge`: the shard directories this one was assembled from. */
  mergedFrom?: Array<{ dir: string; shard: Shard } & Partial<SessionRecord>>;
  [field: string]: unknown;
}

export const MANIFEST_FORMAT = 'pcomp-run/1';

export interface Difference {
  path: string;
  stored: unknown;
  given: unknown;
}

/** First place where two JSON-like values differ, as a dotted path (`model.weights["a.safetensors"]`). */
export function firstDifference(stored: unknown, given: unknown, path: string): Difference | undefined {
  if (Object.is(stored, given)) return undefined;
  const bothObjects = typeof stored === 'object' && stored !== null && typeof given === 'object' && given !== null;
  if (!bothObjects || Array.isArray(stored) !== Array.isArray(given)) return { path, stored, given };
  if (Array.isArray(stored) && Array.isArray(given)) {
    for (let i = 0; i < Math.max(stored.length, given.length); i++) {
      const d = firstDifference(stored[i], given[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  const a = stored as Record<string, unknown>;
  const b = given as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const key of keys) {
    const d = firstDifference(a[key], b[key], `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`);
    if (d) return d;
  }
  return undefined;
}

/**
 * Why `given` may not continue a directory made by `stored`, or undefined when it may.
 * Configs only compare by name: a run may add configs, but a known config must be unchanged.
 */
export function identityConflict(stored: RunIdentity, given: RunIdentity): Difference | undefined {
  const simple =
    firstDifference(stored.kind, given.kind, 'kind') ??
    firstDifference(stored.model, given.model, 'model') ??
    firstDifference(stored.settings, given.settings, 'settings') ??
    firstDifference(stored.shard, given.shard, 'shard');
  if (simple) return simple;
  for (const name of Object.keys(given.configs)) {
    if (!(name in stored.configs)) continue;
    const d = firstDifference(stored.configs[name], given.configs[name], `configs${/^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`}`);
    if (d) return d;
  }
  return undefined;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

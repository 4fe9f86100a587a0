// Shared pieces of the ppl tests: a seeded random model, seeded word text, the CLI as a child process,
// and readers for what a ppl run directory holds.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../oracle/prng.js';
import { writeTinyModel } from '../oracle/model-writer.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const stories260K = path.join(path.resolve(repoRoot, '../shared'), 'models/stories260K/hf');
export const hasStories = existsSync(path.join(stories260K, 'model.safetensors'));

export const tempRoot = (prefix = 'pcomp-ppl-') => mkdtempSync(path.join(os.tmpdir(), prefix));

/** A seeded random Llama (trained window 256) with the oracle tokenizer. */
export function writeModel(dir: string): string {
  return writeTinyModel(dir, { seed: 11, vocabSize: 1100, maxPositionEmbeddings: 256, hiddenSize: 32, intermediateSize: 64, numLayers: 2, weightStd: 0.3 }).dir;
}

/** `n` seeded lowercase words. */
export function words(seed: number, n: number): string {
  const rand = mulberry32(seed);
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  return Array.from({ length: n }, () => Array.from({ length: 2 + Math.floor(rand() * 6) }, () => letters[Math.floor(rand() * 12)]).join('')).join(' ');
}

export interface CliRun { code: number; stdout: string; stderr: string }

/** Plain log lines, a private offline HF cache, no token. */
export function cliEnv(cache: string): NodeJS.ProcessEnv {
  return { ...process.env, CI: 'true', HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1', HF_TOKEN: '', HF_ENDPOINT: 'http://127.0.0.1:9' };
}

export function pcomp(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot, 'bin/pcomp.js'), ...args], { cwd: repoRoot, env, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

export interface NllRow { _id: string; index: number; nll?: number; tokens?: number; skipped?: string; chunks?: number; kept_chunks?: number[]; first_eval_position?: number; question_start?: number; time_s?: number }

/** Complete lines of nll/<config>/<length>.jsonl. */
export function readNll(runDir: string, config: string, length: number): NllRow[] {
  const file = path.join(runDir, 'nll', config, `${length}.jsonl`);
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l) as NllRow);
}

/** ppl.csv rows keyed "config/length". */
export function readPplCsv(runDir: string): Map<string, { ppl: number; samples: number; skipped: number; tokens: number }> {
  const rows = readFileSync(path.join(runDir, 'ppl.csv'), 'utf8').trim().split('\n').slice(1).map((r) => r.split(','));
  return new Map(rows.map(([config, length, ppl, samples, skipped, tokens]) =>
    [`${config}/${length}`, { ppl: Number(ppl), samples: Number(samples), skipped: Number(skipped), tokens: Number(tokens) }]));
}

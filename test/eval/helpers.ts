// Shared pieces of the eval tests: seeded LongBench-format records, a seeded random model, the CLI
// as a real child process, and readers for what a run directory holds.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync, strToU8 } from 'fflate';
import { mulberry32 } from '../oracle/prng.js';
import { writeTinyModel, type TinyModelSpec } from '../oracle/model-writer.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = path.resolve(repoRoot, '../shared');
export const stories260K = path.join(sharedDir, 'models/stories260K/hf');
export const hasStories = existsSync(path.join(stories260K, 'model.safetensors'));
export const SKIP_STORIES = "../shared/models/stories260K is absent (a user's clone has no ../shared): skipped";
export const hasEngine = existsSync(path.join(repoRoot, 'build/Release/pcomp_native.node'));

const made: string[] = [];

/** A fresh folder under the OS temp dir, removed by removeTempRoots() (call it in afterAll). */
export function tempRoot(prefix = 'pcomp-eval-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempRoots(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

const WORDS = ['the', 'river', 'stone', 'house', 'green', 'light', 'small', 'quiet', 'winter', 'garden', 'paper', 'window',
  'city', 'music', 'story', 'bright', 'forest', 'market', 'letter', 'bridge', 'cloud', 'silver', 'road', 'voice'];
const CLASSES = ['Location', 'Number', 'Person', 'Description'];

function words(rand: () => number, n: number): string {
  return Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
}

export type SynthTask = 'trec' | 'passage_retrieval_en' | 'lcc';

/** One LongBench-format record of `task` whose context holds about `contextWords` words. */
function synthRecord(task: SynthTask, i: number, rand: () => number, contextWords: number): Record<string, unknown> {
  const base = { dataset: task, language: task === 'lcc' ? 'python' : 'en', _id: `${task}-${i.toString(16).padStart(4, '0')}` };
  if (task === 'trec') {
    const examples = Array.from({ length: Math.max(1, Math.round(contextWords / 8)) }, () =>
      `Question: ${words(rand, 5)}?\nType: ${CLASSES[Math.floor(rand() * CLASSES.length)]}`);
    const context = examples.join('\n');
    return { ...base, input: `${words(rand, 5)}?`, context, answers: [CLASSES[i % CLASSES.length]], all_classes: CLASSES, length: context.split(/\s+/).length };
  }
  if (task === 'passage_retrieval_en') {
    const n = 4;
    const context = Array.from({ length: n }, (_, k) => `Paragraph ${k + 1}: ${words(rand, Math.round(contextWords / n))}`).join('\n\n');
    return { ...base, input: words(rand, 8), context, answers: [`Paragraph ${(i % n) + 1}`], all_classes: null, length: context.split(/\s+/).length };
  }
  const lines = Array.from({ length: Math.max(1, Math.round(contextWords / 5)) }, (_, k) => `    ${WORDS[k % WORDS.length]}_${k} = ${words(rand, 2).replace(' ', '_')}(${k})`);
  const context = `def f${i}():\n${lines.join('\n')}\n`;
  return { ...base, input: '', context, answers: [`    return ${WORDS[i % WORDS.length]}_${i}`], all_classes: null, length: context.split(/\s+/).length };
}

export function synthJsonl(task: SynthTask, n: number, opts: { seed?: number; contextWords?: number } = {}): string {
  const rand = mulberry32((opts.seed ?? 1) * 7919 + task.length);
  return Array.from({ length: n }, (_, i) => JSON.stringify(synthRecord(task, i, rand, opts.contextWords ?? 60))).join('\n') + '\n';
}

/** A --data-dir folder with `n` synthetic records of each task. */
export function writeDataDir(dir: string, tasks: Partial<Record<SynthTask, number>>, opts: { seed?: number; contextWords?: number } = {}): string {
  mkdirSync(dir, { recursive: true });
  for (const [task, n] of Object.entries(tasks)) writeFileSync(path.join(dir, `${task}.jsonl`), synthJsonl(task as SynthTask, n!, opts));
  return dir;
}

/** LongBench's data.zip (members data/<task>.jsonl), as the loopback hub serves it. */
export function longBenchZip(tasks: Partial<Record<SynthTask, number>>, opts: { seed?: number; contextWords?: number } = {}): Uint8Array {
  return zipSync(Object.fromEntries(Object.entries(tasks).map(([task, n]) => [`data/${task}.jsonl`, strToU8(synthJsonl(task as SynthTask, n!, opts))])), { level: 6 });
}

/** A seeded random Llama with the oracle tokenizer (every pair of lowercase letters is one piece). */
export function writeModel(dir: string, spec: TinyModelSpec = {}): string {
  return writeTinyModel(dir, { seed: 5, vocabSize: 1100, maxPositionEmbeddings: 1024, hiddenSize: 32, intermediateSize: 64, numLayers: 2, weightStd: 0.3, ...spec }).dir;
}

export interface CliRun { code: number; stdout: string; stderr: string }

/** Environment of a CLI run: plain log lines, a private HF cache, no token, no network unless HF_ENDPOINT is given. */
export function cliEnv(cache: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, CI: 'true', HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '', HF_TOKEN: '', HF_ENDPOINT: 'http://127.0.0.1:9', ...extra };
}

/** `node bin/pcomp.js ...`, asynchronously (a loopback hub in this process must keep serving). */
export function pcomp(args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot, 'bin/pcomp.js'), ...args], { cwd, env, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

export function spawnPcomp(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [path.join(repoRoot, 'bin/pcomp.js'), ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Line {
  _id: string;
  index: number;
  pred: string;
  answers: unknown[];
  all_classes: unknown;
  length: number;
  prompt_tokens: number;
  chunks: number;
  kept_chunks?: number[];
  generated_tokens: number;
  time_s: number;
}

/** Complete lines of predictions/<config>/<task>.jsonl (an unterminated tail is not a line). */
export function readPredictions(runDir: string, config: string, task: string): Line[] {
  const file = path.join(runDir, 'predictions', config, `${task}.jsonl`);
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}

/** Every prediction of a run keyed config/task, without the timing (which differs run to run), sorted by id. */
export function predictionsWithoutTime(runDir: string): Record<string, Array<Omit<Line, 'time_s'>>> {
  const out: Record<string, Array<Omit<Line, 'time_s'>>> = {};
  for (const config of readdirSync(path.join(runDir, 'predictions')).sort())
    for (const file of readdirSync(path.join(runDir, 'predictions', config)).sort()) {
      const task = file.replace(/\.jsonl$/, '');
      out[`${config}/${task}`] = readPredictions(runDir, config, task)
        .map(({ time_s: _t, ...rest }) => rest)
        .sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
    }
  return out;
}

export const readJson = <T = Record<string, unknown>>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** scores.csv without its header, as rows of cells. */
export function readScoresCsv(runDir: string): string[][] {
  return readFileSync(path.join(runDir, 'scores.csv'), 'utf8').trim().split('\n').slice(1).map((r) => r.split(','));
}

// Synthetic InfiniteBench retrieval records at any length, built the way InfiniteBench's
// data/construct_synthetic_dataset.py builds its own: a repeated noise line with one needle line at an evenly
// spread depth (passkey, number_string), or a JSON object of UUID pairs with the asked key at a spread position
// (kv_retrieval). Records use the hub jsonl schema {id, context, input, answer, options}.
import type { Rng } from './rng.js';
import { seededRng, uuid4 } from './rng.js';
import { UserError } from '../../util/errors.js';
import type { InfiniteBenchRecord } from '../records.js';

export type SynthTask = 'passkey' | 'number_string' | 'kv_retrieval';
export const SYNTH_TASKS: SynthTask[] = ['passkey', 'number_string', 'kv_retrieval'];

export const NOISE = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n';
const NEEDLE = {
  passkey: 'The pass key is {key}. Remember it. {key} is the pass key.\n',
  number_string: 'The sequence of digits is {key}. Remember it. {key} is the sequence of digits.\n',
};
const QUESTION = { passkey: 'What is the pass key?', number_string: 'What is the sequence of digits?' };

/**
 * InfiniteBench's own sizing for 128K tokens of the LLaMA tokenizer: 5220 noise lines (passkey, number_string)
 * and 1855 KV pairs. Without a tokenizer, lengths are these counts scaled linearly.
 */
export const UNITS_PER_128K = { passkey: 5220, number_string: 5220, kv_retrieval: 1855 } as const;

/** The random key of a record: 5 digits, or for number_string 5 digits with 5 digits duplicated in place (10). */
function drawKey(task: 'passkey' | 'number_string', rng: Rng): string {
  const keys = Array.from({ length: 5 }, () => String(rng.int(0, 9)));
  if (task === 'number_string') {
    for (let k = 0; k < 5; k++) {
      const pos = rng.int(0, 5 + k - 1);
      keys.splice(pos, 0, keys[pos]!);
    }
  }
  return keys.join('');
}

/** Spread sample i of n evenly over positions 0..max (both ends included when n > 1). */
const spread = (i: number, n: number, max: number) => (n <= 1 ? 0 : Math.round((i * max) / (n - 1)));

export function needleRecord(task: 'passkey' | 'number_string', id: number, units: number, depth: number, rng: Rng): InfiniteBenchRecord {
  const key = drawKey(task, rng);
  const context = NOISE.repeat(depth) + NEEDLE[task].replaceAll('{key}', key) + NOISE.repeat(units - depth);
  return { id, context, input: QUESTION[task], answer: [key], options: [] };
}

export function kvRecord(id: number, pairs: number, askAt: number, rng: Rng): InfiniteBenchRecord {
  const kv = Array.from({ length: pairs }, () => [uuid4(rng), uuid4(rng)] as const);
  const body = kv.map(([k, v]) => `"${k}": "${v}"`).join(', ');
  const [key, value] = kv[Math.min(askAt, pairs - 1)]!;
  return {
    id,
    context: `JSON data:\n{${body}}`,
    input: `Key: "${key}"\nThe value associated with the specified key is: `,
    answer: [value],
    options: [],
  };
}

export interface SynthOptions {
  task: SynthTask;
  /** Target length in tokens. */
  length: number;
  n: number;
  seed: number;
  /**
   * Counts tokens of the record's full prompt (open-model template, BOS included); when absent, the length is
   * approximate (InfiniteBench's units per 128K tokens, scaled).
   */
  countTokens?: (r: InfiniteBenchRecord) => number;
}

export interface SynthResult { records: InfiniteBenchRecord[]; units: number; measured: number | null }

function build(task: SynthTask, id: number, units: number, i: number, n: number, rng: Rng): InfiniteBenchRecord {
  return task === 'kv_retrieval' ? kvRecord(id, units, spread(i, n, units - 1), rng) : needleRecord(task, id, units, spread(i, n, units), rng);
}

/**
 * The unit count (noise lines or KV pairs) whose prompt fits `length` tokens, measured on a probe record: one
 * linear estimate from two sizes, then steps down while the prompt is too long.
 */
function unitsForLength(opts: SynthOptions): { units: number; measured: number | null } {
  const approx = Math.max(1, Math.floor((opts.length * UNITS_PER_128K[opts.task]) / 131072));
  if (!opts.countTokens) return { units: approx, measured: null };
  const probe = (u: number) => opts.countTokens!(build(opts.task, 0, u, 0, 1, seededRng(opts.seed ^ 0x5eed)));
  const small = Math.max(1, Math.floor(approx / 8));
  const a = probe(small);
  const b = probe(small * 2);
  const perUnit = (b - a) / small;
  const overhead = a - perUnit * small;
  if (perUnit <= 0 || overhead >= opts.length) throw new UserError(`--len ${opts.length} is shorter than an empty ${opts.task} prompt (${Math.ceil(overhead)} tokens)`);
  let units = Math.max(1, Math.floor((opts.length - overhead) / perUnit));
  let measured = probe(units);
  for (let guard = 0; measured > opts.length && units > 1 && guard < 20; guard++) {
    units = Math.max(1, units - Math.ceil((measured - opts.length) / perUnit));
    measured = probe(units);
  }
  return { units, measured };
}

export function synthesize(opts: SynthOptions): SynthResult {
  if (!SYNTH_TASKS.includes(opts.task)) throw new UserError(`synth: unknown task "${opts.task}" (one of ${SYNTH_TASKS.join(', ')})`);
  if (!(opts.n >= 1)) throw new UserError('synth: --n must be at least 1');
  const { units, measured } = unitsForLength(opts);
  const rng = seededRng(opts.seed);
  const records = Array.from({ length: opts.n }, (_, i) => build(opts.task, i, units, i, opts.n, rng));
  return { records, units, measured };
}

/** "32k" → 32768, "1m" → 1048576, "5000" → 5000 (k = 1024, as InfiniteBench counts its lengths). */
export function parseLength(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s.trim());
  if (!m) throw new UserError(`--len: "${s}" is not a length like 4096, 32k or 1m`);
  const v = Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024) : 1);
  if (!Number.isInteger(v) || v < 1) throw new UserError(`--len: "${s}" is not a whole number of tokens`);
  return v;
}

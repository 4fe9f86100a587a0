// Documents for `pcomp ppl`: PG19 test books (emozilla/pg19-test, one parquet file from the hub),
// NarrativeQA stories from LongBench (the same cached jsonl `pcomp data` pulls), or a local file:
// .txt (the whole file is one document), .jsonl (one document per line, field "text" or "context"),
// .parquet (column "text"), or `stories`: long documents of the project's own seeded story generator
// (datasets/synth/stories.ts, the built-in model's register), which need no download. Without --data,
// defaultPplSource picks PG19 when it is cached or the hub answers, else stories, and says why.
// A source also says what identifies it, for the run manifest.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { UserError } from '../util/errors.js';
import { createHash } from 'node:crypto';
import { hashFile, hubReachable, snapshot, PROBE_TIMEOUT_MS, type HubEnv } from './hub.js';
import { storyDocument } from './synth/stories.js';
import { registry, type TaskDef } from './registry.js';
import { cachedTaskFile, pullTasks, taskFiles } from './store.js';
import { streamRecords, type LongBenchRecord } from './records.js';

export interface PplDocument {
  /** Unique within the source; names the sample in plans and result lines. */
  id: string;
  text: string;
  /** The LongBench record (NarrativeQA), for the paper's protocol, which needs the question. */
  record?: LongBenchRecord;
}

export interface PplSource {
  /** pg19 | narrativeqa | stories (generated, no download) | file */
  kind: 'pg19' | 'narrativeqa' | 'stories' | 'file';
  /** What identifies the data in the manifest: a resume must read the same bytes. */
  identity: Record<string, unknown>;
  documents: PplDocument[];
}

export const PG19 = { repo: 'emozilla/pg19-test', file: 'data/test-00000-of-00001-29a571947c0b5ccc.parquet', revision: 'main' } as const;

export interface SourceOptions {
  /** Read only the first n documents. */
  samples: number;
  env: HubEnv;
  onLog?: (message: string) => void;
}

/** `--data pg19 | narrativeqa | stories | FILE`. */
export async function loadPplSource(spec: string, opts: SourceOptions & { maxLength?: number }): Promise<PplSource> {
  if (spec === 'pg19') return loadPg19(opts);
  if (spec === 'narrativeqa') return loadNarrativeQA(opts);
  if (spec === 'stories') return storiesSource(opts.samples, opts.maxLength ?? 131072);
  if (!existsSync(spec)) throw new UserError(`--data ${spec}: no such file (give pg19, narrativeqa, or a .txt / .jsonl / .parquet file)`);
  if (!statSync(spec).isFile()) throw new UserError(`--data ${spec}: not a file`);
  const documents = await readLocalDocuments(spec, opts.samples);
  return { kind: 'file', identity: { file: path.resolve(spec), sha256: await hashFile(spec, 'sha256') }, documents };
}

/** The seeds and shape of the stories source: document i is storyDocument(FIRST_SEED + i), as `pcomp reproduce` T-PPL's. */
export const STORIES = { firstSeed: 1000, generator: 'datasets/synth/stories.ts storyDocument(seed)', charsPerToken: 8 } as const;
/** A document's identity: the hash of its first characters (a longer document only appends, so every length shares them). */
const STORY_PREFIX_CHARS = 65536;

/**
 * `n` story documents, each long enough for `maxLength` tokens of any tokenizer that spends at most 8 characters
 * per token (`pcomp ppl` cuts each to the longest length). Same seeds, same text on every machine.
 */
export function storiesSource(n: number, maxLength: number): PplSource {
  const chars = Math.max(maxLength * STORIES.charsPerToken + 2048, STORY_PREFIX_CHARS);
  const documents = Array.from({ length: n }, (_, i) => ({ id: `stories-${i}`, text: storyDocument(STORIES.firstSeed + i, chars) }));
  const prefix = createHash('sha256');
  for (const d of documents) prefix.update(d.text.slice(0, STORY_PREFIX_CHARS)).update('\0');
  return {
    kind: 'stories',
    identity: { generator: STORIES.generator, seeds: documents.map((_, i) => STORIES.firstSeed + i), prefixSha256: prefix.digest('hex') },
    documents,
  };
}

export interface DefaultSource {
  /** The --data value chosen. */
  spec: 'pg19' | 'stories';
  /** The one line that says what was used and why. */
  note: string;
  /** PG19 found in the cache: read it from there without touching the network. */
  fromCache?: boolean;
}

/**
 * No --data: PG19 when its file is in the cache (no network needed) or the hub answers within a few seconds
 * (it is downloaded); otherwise — offline, or the hub unreachable — the stories document, never a hang.
 */
export async function defaultPplSource(env: HubEnv, timeoutMs = PROBE_TIMEOUT_MS): Promise<DefaultSource> {
  const repo = { type: 'dataset' as const, name: PG19.repo };
  const cached = await snapshot({ ...env, offline: true }, repo, { revision: PG19.revision, paths: [PG19.file] }).then(() => true, () => false);
  if (cached) return { spec: 'pg19', fromCache: true, note: `data: PG19 test books (${PG19.repo}, from the cache ${env.cacheDir}); --data picks another source` };
  const probe = await hubReachable(env, repo, timeoutMs);
  if (probe.ok) return { spec: 'pg19', note: `data: PG19 test books (${PG19.repo}, downloading into ${env.cacheDir}); --data stories needs no download` };
  return {
    spec: 'stories',
    note: `data: the built-in stories document (${STORIES.generator}, seed ${STORIES.firstSeed}, generated here), because PG19 is not in the cache and ${probe.reason}; ` +
      'for PG19 run once with network access: pcomp ppl --data pg19 ...',
  };
}

async function loadPg19(opts: SourceOptions): Promise<PplSource> {
  const repo = { type: 'dataset' as const, name: PG19.repo };
  if (!opts.env.offline) opts.onLog?.(`PG19 test: ${PG19.repo} (${PG19.file}) into ${opts.env.cacheDir}`);
  const snap = await snapshot(opts.env, repo, { revision: PG19.revision, paths: [PG19.file], fetchHint: 'pcomp ppl --data pg19 (online once)' });
  const file = path.join(snap.dir, PG19.file);
  const documents = await readParquetDocuments(file, opts.samples, (row, i) => `pg19-${i}`);
  return { kind: 'pg19', identity: { repo: PG19.repo, file: PG19.file, commit: snap.commit }, documents };
}

/** NarrativeQA from LongBench: the file `pcomp data pull longbench --tasks narrativeqa` caches. */
async function loadNarrativeQA(opts: SourceOptions): Promise<PplSource> {
  const task = registry().get('narrativeqa');
  const file = await narrativeQaFile(task, opts);
  const documents: PplDocument[] = [];
  const seen = new Map<string, number>();
  for await (const { record } of streamRecords(file, 'longbench', { limit: opts.samples, onProblem: (m) => opts.onLog?.(`${m} (skipped)`) })) {
    const r = record as LongBenchRecord;
    documents.push({ id: r._id, text: r.context, record: r });
    seen.set(r._id, (seen.get(r._id) ?? 0) + 1);
  }
  uniqueIds(documents, seen);
  return { kind: 'narrativeqa', identity: { task: 'narrativeqa', repo: task.hub.repo, sha256: await hashFile(file, 'sha256') }, documents };
}

async function narrativeQaFile(task: TaskDef, opts: SourceOptions): Promise<string> {
  if (!opts.env.offline && !(await cachedTaskFile(task, opts.env))) {
    opts.onLog?.(`downloading LongBench narrativeqa into ${opts.env.cacheDir}`);
    await pullTasks('longbench', [task], { env: opts.env });
  }
  return (await taskFiles([task], { env: opts.env })).get(task.name)!;
}

/** Shards and resumes key on ids: a missing or repeated one falls back to the position, as eval does. */
function uniqueIds(documents: PplDocument[], counts: Map<string, number>): void {
  documents.forEach((d, i) => {
    if (d.id === '' || d.id.startsWith('#') || (counts.get(d.id) ?? 0) > 1) d.id = `#${i}`;
  });
}

export async function readLocalDocuments(file: string, samples: number): Promise<PplDocument[]> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl') return readJsonlDocuments(file, samples);
  if (ext === '.parquet') return readParquetDocuments(file, samples, (row, i) => rowId(row) ?? `#${i}`);
  const text = await readFile(file, 'utf8');
  if (text.trim() === '') throw new UserError(`${file}: the file is empty (a .txt file is one document)`);
  return [{ id: path.basename(file), text }];
}

function rowId(row: Record<string, unknown>): string | undefined {
  const raw = row._id ?? row.id;
  return typeof raw === 'string' || typeof raw === 'number' ? String(raw) : undefined;
}

async function readJsonlDocuments(file: string, samples: number): Promise<PplDocument[]> {
  const documents: PplDocument[] = [];
  const counts = new Map<string, number>();
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    if (documents.length >= samples) break;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new UserError(`${file}:${lineNo}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new UserError(`${file}:${lineNo}: must be a JSON object`);
    const r = row as Record<string, unknown>;
    const text = r.text ?? r.context;
    if (typeof text !== 'string') throw new UserError(`${file}:${lineNo}: field "text" (or "context") must be a string`);
    const id = rowId(r) ?? '';
    counts.set(id, (counts.get(id) ?? 0) + 1);
    const isRecord = typeof r.context === 'string' && typeof r.input === 'string';
    documents.push({ id, text, record: isRecord ? (r as unknown as LongBenchRecord) : undefined });
  }
  if (documents.length === 0) throw new UserError(`${file}: no documents (one JSON object per line, with a "text" field)`);
  uniqueIds(documents, counts);
  return documents;
}

async function readParquetDocuments(file: string, samples: number, idOf: (row: Record<string, unknown>, i: number) => string): Promise<PplDocument[]> {
  let rows: Record<string, unknown>[];
  try {
    rows = (await parquetReadObjects({ file: await asyncBufferFromFile(file), rowStart: 0, rowEnd: samples, compressors })) as Record<string, unknown>[];
  } catch (e) {
    throw new UserError(`${file}: not a readable parquet file (${(e as Error).message})`);
  }
  if (rows.length === 0) throw new UserError(`${file}: no rows`);
  const counts = new Map<string, number>();
  const documents = rows.map((row, i) => {
    if (typeof row.text !== 'string') throw new UserError(`${file}: row ${i}: column "text" must be a string`);
    const id = idOf(row, i);
    counts.set(id, (counts.get(id) ?? 0) + 1);
    return { id, text: row.text };
  });
  uniqueIds(documents, counts);
  return documents;
}

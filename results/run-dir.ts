// A run directory that loses nothing:
//   manifest.json                      identity + provenance (write-then-rename)
//   plans/<unit>.json                  the full sample id list of a task (or ppl length), before sharding
//   <section>/<config>/<unit>.jsonl    one appended line per finished sample (section: predictions | nll)
// Re-opening the same directory with the same identity resumes: finished ids are read back, a line cut
// short by a kill is dropped, and `pending()` yields only what is left of this shard's samples.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { readJsonFile, writeJsonAtomic } from './atomic-file.js';
import { LineStore, readLines, type IdentifiedLine } from './line-store.js';
import {
  MANIFEST_FORMAT, describeValue, identityConflict,
  type RunIdentity, type RunKind, type RunManifest, type SessionRecord,
} from './manifest.js';
import { formatShard, selectShard, type Shard } from './shard.js';

export type { RunIdentity, RunManifest, SessionRecord, ModelIdentity } from './manifest.js';
export { parseShard, formatShard, selectShard, assignShards, WHOLE, type Shard } from './shard.js';
export { mergeRunDirs, type MergeReport } from './merge.js';

/** One LongBench/InfiniteBench prediction, in the official fields plus what we measured. */
export interface PredictionLine extends IdentifiedLine {
  /** Position of the sample in the task's plan. */
  index: number;
  pred: string;
  answers: unknown[];
  all_classes: unknown;
  length: number;
  prompt_tokens?: number;
  kept_chunks?: number[];
  time_s?: number;
}

/** One perplexity sample at one length under one config. */
export interface NllLine extends IdentifiedLine {
  index: number;
  /** Mean negative log-likelihood per evaluated token (nats). */
  nll?: number;
  /** Number of evaluated tokens. */
  tokens?: number;
  /** Set instead of nll when the sample could not be used (e.g. shorter than the length); counted, never padded. */
  skipped?: string;
  time_s?: number;
}

export interface Plan {
  unit: string;
  ids: string[];
}

export const SECTION: Record<RunKind, string> = { eval: 'predictions', ppl: 'nll' };

/** Config names and units become path segments. */
export function checkPathName(what: string, name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+=@-]*$/.test(name) || name.includes('..'))
    throw new UserError(`${what} ${JSON.stringify(name)}: use letters, digits and . _ + = @ - only (it names a folder)`);
}

export interface ProvenanceFields {
  engine?: RunManifest['engine'];
  git?: RunManifest['git'];
  device?: string;
  threads?: number;
  [field: string]: unknown;
}

export interface FinishStats {
  samples?: number;
  tokensPerSec?: number;
  peakMemoryBytes?: number;
  [field: string]: unknown;
}

export class RunDir<Line extends IdentifiedLine = PredictionLine> {
  readonly manifestPath: string;
  private readonly stores = new Map<string, LineStore<Line>>();
  private readonly plans = new Map<string, { ids: string[]; owned: Set<string> }>();

  private constructor(readonly dir: string, public manifest: RunManifest, readonly warnings: string[]) {
    this.manifestPath = join(dir, 'manifest.json');
  }

  /**
   * Creates the directory or continues it. Refuses, naming the field, when the model, a config,
   * the settings or the shard differ from what the directory was started with.
   */
  static open<Line extends IdentifiedLine = PredictionLine>(
    dir: string, identity: RunIdentity, provenance: ProvenanceFields = {}, now = new Date(),
  ): RunDir<Line> {
    for (const name of Object.keys(identity.configs)) checkPathName('config', name);
    const manifestPath = join(dir, 'manifest.json');
    if (!existsSync(manifestPath) && existsSync(dir) && readdirSync(dir).length > 0)
      throw new UserError(`${dir}: exists, is not empty and has no manifest.json; not a pcomp run directory to continue`, {
        hint: 'give --out a new or empty directory',
      });
    const warnings: string[] = [];
    takeWriterLock(dir, warnings);
    try {
      return RunDir.continueOrCreate<Line>(dir, identity, provenance, now, warnings);
    } catch (e) {
      releaseWriterLock(dir);
      throw e;
    }
  }

  private static continueOrCreate<Line extends IdentifiedLine>(
    dir: string, identity: RunIdentity, provenance: ProvenanceFields, now: Date, warnings: string[],
  ): RunDir<Line> {
    const manifestPath = join(dir, 'manifest.json');
    const session: SessionRecord = {
      startedAt: now.toISOString(),
      device: provenance.device,
      threads: provenance.threads,
      engineVersion: provenance.engine?.version,
      gitCommit: provenance.git?.commit,
    };
    let manifest: RunManifest;
    if (existsSync(manifestPath)) {
      const stored = readManifest(dir);
      const conflict = identityConflict(stored, identity);
      if (conflict)
        throw new UserError(
          `${manifestPath}: cannot continue this run, ${conflict.path} differs: ` +
            `the directory has ${describeValue(conflict.stored)}, this command has ${describeValue(conflict.given)}`,
          { hint: 'use another --out directory, or delete this one to start over' },
        );
      const lastEngine = stored.engine?.version;
      if (lastEngine && provenance.engine?.version && lastEngine !== provenance.engine.version)
        warnings.push(`${manifestPath}: engine version changed from ${lastEngine} to ${provenance.engine.version}; earlier samples keep their predictions`);
      manifest = {
        ...stored,
        ...provenance,
        configs: { ...stored.configs, ...identity.configs },
        endedAt: undefined,
        sessions: [...stored.sessions, session],
      };
    } else {
      manifest = { format: MANIFEST_FORMAT, ...provenance, ...identity, startedAt: session.startedAt, sessions: [session] };
    }
    writeJsonAtomic(manifestPath, manifest);
    return new RunDir<Line>(dir, manifest, warnings);
  }

  get section(): string {
    return SECTION[this.manifest.kind];
  }

  get shard(): Shard {
    return this.manifest.shard;
  }

  /**
   * Records the full, unsharded sample list of a unit (a task, or a ppl length) and returns the ids
   * this shard owns. A later run must plan the same list: a different dataset revision or --limit
   * would otherwise mix two sample sets in one table.
   */
  plan(unit: string, ids: readonly string[]): string[] {
    checkPathName('task', unit);
    const path = join(this.dir, 'plans', `${unit}.json`);
    if (existsSync(path)) {
      const stored = readPlan(path);
      const at = firstMismatch(stored.ids, ids);
      if (at !== undefined)
        throw new UserError(
          `${path}: the samples of ${unit} differ from the ones this run started with ` +
            `(position ${at}: ${describeValue(stored.ids[at])} vs ${describeValue(ids[at])}; ${stored.ids.length} vs ${ids.length} samples)`,
          { hint: 'a changed --limit or dataset revision needs another --out directory' },
        );
    } else {
      writeJsonAtomic(path, { unit, ids: [...ids] } satisfies Plan);
    }
    const mine = selectShard(ids, this.shard);
    this.plans.set(unit, { ids: mine, owned: new Set(mine) });
    return mine;
  }

  /** The append-only store for one config × unit (opened once, partial tail repaired). */
  store(config: string, unit: string): LineStore<Line> {
    if (!(config in this.manifest.configs)) throw new Error(`config ${config} is not part of this run`);
    checkPathName('task', unit);
    const key = `${config}\u0000${unit}`;
    let store = this.stores.get(key);
    if (!store) {
      store = LineStore.open<Line>(join(this.dir, this.section, config, `${unit}.jsonl`));
      this.stores.set(key, store);
    }
    return store;
  }

  /** This shard's ids of a planned unit that have no line yet, in plan order. */
  pending(config: string, unit: string): string[] {
    const plan = this.plans.get(unit);
    if (!plan) throw new Error(`plan(${JSON.stringify(unit)}, ids) must be called before pending()`);
    const store = this.store(config, unit);
    return plan.ids.filter((id) => !store.has(id));
  }

  append(config: string, unit: string, line: Line): void {
    const plan = this.plans.get(unit);
    if (plan && !plan.owned.has(line._id))
      throw new Error(`sample ${line._id} of ${unit} is not in shard ${formatShard(this.shard)}`);
    this.store(config, unit).append(line);
  }

  /** Merges runner statistics into the manifest (and this session's record), written atomically. */
  update(fields: ProvenanceFields & FinishStats): void {
    this.manifest = { ...this.manifest, ...fields };
    writeJsonAtomic(this.manifestPath, this.manifest);
  }

  /** Marks the end of this invocation with its throughput and memory. */
  finish(stats: FinishStats = {}, now = new Date()): void {
    const endedAt = now.toISOString();
    const sessions = [...this.manifest.sessions];
    sessions[sessions.length - 1] = { ...sessions[sessions.length - 1], ...stats, endedAt };
    this.manifest = { ...this.manifest, ...stats, endedAt, sessions };
    writeJsonAtomic(this.manifestPath, this.manifest);
    this.close();
  }

  /** Closes the files and releases the writer lock; call it in a finally block. */
  close(): void {
    for (const store of this.stores.values()) store.close();
    this.stores.clear();
    releaseWriterLock(this.dir);
  }
}

const LOCK_FILE = 'writer.lock';

/**
 * Two live processes appending to one directory would record samples twice. A lock file names the
 * writer (host, pid). A lock left by a dead process on this host is taken over silently; one from
 * another host cannot be checked (a requeued Slurm job lands on a new node), so it is taken over
 * with a warning.
 */
function takeWriterLock(dir: string, warnings: string[]): void {
  const path = join(dir, LOCK_FILE);
  const me = { host: hostname(), pid: process.pid };
  if (existsSync(path)) {
    let holder: { host?: string; pid?: number } = {};
    try {
      holder = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      // a torn lock file is as good as none
    }
    if (holder.host === me.host && typeof holder.pid === 'number' && holder.pid !== me.pid && processAlive(holder.pid))
      throw new UserError(`${dir}: another pcomp process (pid ${holder.pid}) is writing this run directory`, {
        hint: `wait for it to finish, or stop it; remove ${path} only if no such process exists`,
      });
    if (holder.host !== undefined && holder.host !== me.host)
      warnings.push(`${path}: taking over from a writer on host ${holder.host} (pid ${holder.pid}); make sure it is no longer running`);
  }
  writeJsonAtomic(path, me);
}

function releaseWriterLock(dir: string): void {
  const path = join(dir, LOCK_FILE);
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as { host?: string; pid?: number };
    if (holder.host === hostname() && holder.pid === process.pid) rmSync(path, { force: true });
  } catch {
    // already gone
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readManifest(dir: string): RunManifest {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new UserError(`${dir}: not a run directory (no manifest.json)`);
  const m = readJsonFile<RunManifest>(path);
  if (m?.format !== MANIFEST_FORMAT) throw new UserError(`${path}: field "format" must be ${JSON.stringify(MANIFEST_FORMAT)}`);
  if (m.kind !== 'eval' && m.kind !== 'ppl') throw new UserError(`${path}: field "kind" must be "eval" or "ppl"`);
  if (typeof m.model?.id !== 'string') throw new UserError(`${path}: field "model.id" must be a string`);
  if (typeof m.configs !== 'object' || m.configs === null) throw new UserError(`${path}: field "configs" must be an object`);
  if (!Number.isInteger(m.shard?.index) || !Number.isInteger(m.shard?.count)) throw new UserError(`${path}: field "shard" must be {index, count}`);
  if (!Array.isArray(m.sessions)) throw new UserError(`${path}: field "sessions" must be an array`);
  return m;
}

export function readPlan(path: string): Plan {
  const p = readJsonFile<Plan>(path);
  if (!Array.isArray(p?.ids) || !p.ids.every((id) => typeof id === 'string'))
    throw new UserError(`${path}: field "ids" must be an array of strings`);
  return p;
}

/** Units with a plan in a run directory, sorted. */
export function plannedUnits(dir: string): string[] {
  const plans = join(dir, 'plans');
  if (!existsSync(plans)) return [];
  return readdirSync(plans).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

/** Every line of a run directory, read-only (a partial tail is ignored, not repaired). */
export function readRunLines<Line extends IdentifiedLine = PredictionLine>(dir: string): Array<{ config: string; unit: string; lines: Line[] }> {
  const manifest = readManifest(dir);
  const out: Array<{ config: string; unit: string; lines: Line[] }> = [];
  for (const config of Object.keys(manifest.configs)) {
    const folder = join(dir, SECTION[manifest.kind], config);
    if (!existsSync(folder)) continue;
    for (const file of readdirSync(folder).filter((f) => f.endsWith('.jsonl')).sort())
      out.push({ config, unit: file.slice(0, -6), lines: readLines<Line>(join(folder, file)).lines });
  }
  return out;
}

function firstMismatch(a: readonly string[], b: readonly string[]): number | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return undefined;
}

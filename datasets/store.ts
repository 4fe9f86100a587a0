// Where a task's jsonl comes from: a --data-dir folder, or the HF cache after `pcomp data pull`. Reading never
// touches the network; pulling is explicit, so an eval run cannot stall half-way on a download.
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Unzip, UnzipInflate } from 'fflate';
import { UserError } from '../util/errors.js';
import type { Benchmark, TaskDef } from './registry.js';
import { derivedDir, cachedCommit, hashFile, readManifest, repoFolder, snapshot, writeManifest, type HubEnv, type Progress, type RepoRef } from './hub.js';

export interface PulledFile { task: string; path: string; size: number; sha256: string }

const repoOf = (t: TaskDef): RepoRef => ({ type: 'dataset', name: t.hub.repo });
const fill = (pattern: string, name: string) => pattern.replace('{name}', name);

export function pullCommand(benchmark: Benchmark, tasks?: string[]): string {
  return `pcomp data pull ${benchmark}${tasks?.length ? ` --tasks ${tasks.join(',')}` : ''}`;
}

/** Candidate files for a task in a local folder laid out like unzipped LongBench (data/<task>.jsonl) or InfiniteBench. */
function localCandidates(dataDir: string, task: string): string[] {
  return [path.join(dataDir, `${task}.jsonl`), path.join(dataDir, 'data', `${task}.jsonl`)];
}

/** The jsonl of a task, from `dataDir` when given, else from the cache. Throws with the pull command when absent. */
export async function taskFile(task: TaskDef, opts: { dataDir?: string; env: HubEnv; revision?: string }): Promise<string> {
  if (opts.dataDir) {
    const tried = localCandidates(opts.dataDir, task.name);
    const found = tried.find((f) => existsSync(f));
    if (!found) throw new UserError(`--data-dir ${opts.dataDir}: no file for task "${task.name}" (looked for ${tried.join(', ')})`);
    return found;
  }
  const f = await cachedTaskFile(task, opts.env, opts.revision);
  if (f) return f;
  throw new UserError(`task "${task.name}" is not downloaded (cache: ${opts.env.cacheDir})`, { hint: `run: ${pullCommand(task.benchmark, [task.name])}` });
}

/** Files for several tasks at once; when some are absent, one error lists them all with the command that fetches them. */
export async function taskFiles(tasks: TaskDef[], opts: { dataDir?: string; env: HubEnv; revision?: string }): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const missing: TaskDef[] = [];
  for (const t of tasks) {
    if (opts.dataDir) { found.set(t.name, await taskFile(t, opts)); continue; }
    const f = await cachedTaskFile(t, opts.env, opts.revision);
    if (f) found.set(t.name, f);
    else missing.push(t);
  }
  if (missing.length) {
    const byBench = new Map<Benchmark, string[]>();
    for (const t of missing) byBench.set(t.benchmark, [...(byBench.get(t.benchmark) ?? []), t.name]);
    const cmds = [...byBench].map(([b, names]) => pullCommand(b, names));
    throw new UserError(`not downloaded (cache: ${opts.env.cacheDir}):\n  ${missing.map((t) => t.name).join('\n  ')}`, { hint: `run: ${cmds.join(' && ')}` });
  }
  return found;
}

/** The cached file of a task when present and of the size the manifest records, else null. */
export async function cachedTaskFile(task: TaskDef, env: HubEnv, revision?: string): Promise<string | null> {
  const repo = repoOf(task);
  const commit = await cachedCommit(env, repo, revision ?? task.hub.revision);
  if (!commit) return null;
  const manifest = await readManifest(env, repo, commit);
  if (!manifest) return null;
  if (task.hub.archive) {
    const entry = manifest.derived[`${task.name}.jsonl`];
    const file = path.join(derivedDir(env, repo, commit), `${task.name}.jsonl`);
    return entry && (await sizeOf(file)) === entry.size ? file : null;
  }
  const rel = fill(task.hub.file!, task.name);
  const entry = manifest.files[rel];
  const file = path.join(repoFolder(env, repo), 'snapshots', commit, rel);
  return entry && (await sizeOf(file)) === entry.size ? file : null;
}

const sizeOf = (f: string) => stat(f).then((s) => s.size, () => -1);

export interface PullOptions {
  env: HubEnv;
  revision?: string;
  onProgress?: (p: Progress) => void;
  onLog?: (msg: string) => void;
}

/** Downloads (or verifies) the files of `tasks`, which must all belong to one benchmark. */
export async function pullTasks(benchmark: Benchmark, tasks: TaskDef[], opts: PullOptions): Promise<PulledFile[]> {
  if (tasks.length === 0) return [];
  const hub = tasks[0]!.hub;
  const repo = repoOf(tasks[0]!);
  const revision = opts.revision ?? hub.revision;
  const fetchHint = pullCommand(benchmark, tasks.map((t) => t.name));
  if (hub.archive) {
    const snap = await snapshot(opts.env, repo, { revision, paths: [hub.archive], onProgress: opts.onProgress, fetchHint });
    return extractMembers(opts.env, repo, snap.commit, path.join(snap.dir, hub.archive), tasks, opts.onLog);
  }
  const paths = tasks.map((t) => fill(hub.file!, t.name));
  const snap = await snapshot(opts.env, repo, { revision, paths, onProgress: opts.onProgress, fetchHint });
  return tasks.map((t, i) => {
    const m = snap.manifest.files[paths[i]!]!;
    return { task: t.name, path: path.join(snap.dir, paths[i]!), size: m.size, sha256: m.sha256 };
  });
}

/**
 * Unzips the wanted `data/<task>.jsonl` members of LongBench's data.zip into the cache, streaming (the archive is
 * 114 MB, its members ~350 MB). Members already extracted and matching their recorded sha256 are kept.
 */
async function extractMembers(env: HubEnv, repo: RepoRef, commit: string, zipFile: string, tasks: TaskDef[], onLog?: (m: string) => void): Promise<PulledFile[]> {
  const outDir = derivedDir(env, repo, commit);
  await mkdir(outDir, { recursive: true });
  const manifest = (await readManifest(env, repo, commit))!;
  const out: PulledFile[] = [];
  const wanted = new Map<string, TaskDef>();
  for (const t of tasks) {
    const name = `${t.name}.jsonl`;
    const have = manifest.derived[name];
    const file = path.join(outDir, name);
    if (have && (await sizeOf(file)) === have.size && (await hashFile(file, 'sha256')) === have.sha256) {
      out.push({ task: t.name, path: file, size: have.size, sha256: have.sha256 });
    } else {
      wanted.set(fill(t.hub.member!, t.name), t);
    }
  }
  if (wanted.size === 0) return out;
  onLog?.(`unzipping ${wanted.size} task file(s) from ${path.basename(zipFile)}`);
  const done = new Map<string, { size: number; sha256: string; tmp: string }>();
  let failure: Error | null = null;
  const unzip = new Unzip((entry) => {
    const task = wanted.get(entry.name);
    if (!task) return;
    const tmp = path.join(outDir, `${task.name}.jsonl.partial`);
    const fd = openSync(tmp, 'w');
    const h = createHash('sha256');
    let size = 0;
    entry.ondata = (err, chunk, final) => {
      if (err) { failure = err; closeSync(fd); return; }
      writeSync(fd, chunk);
      h.update(chunk);
      size += chunk.length;
      if (final) {
        closeSync(fd);
        done.set(entry.name, { size, sha256: h.digest('hex'), tmp });
      }
    };
    entry.start();
  });
  unzip.register(UnzipInflate);
  for await (const chunk of createReadStream(zipFile)) {
    unzip.push(chunk as Uint8Array);
    if (failure) break;
  }
  if (!failure) unzip.push(new Uint8Array(0), true);
  if (failure) throw new UserError(`${zipFile}: corrupt archive (${(failure as Error).message}); delete it and pull again`);
  const absent = [...wanted.keys()].filter((m) => !done.has(m));
  if (absent.length) throw new UserError(`${zipFile}: archive has no ${absent.join(', ')}`);
  for (const [member, r] of done) {
    const task = wanted.get(member)!;
    const file = path.join(outDir, `${task.name}.jsonl`);
    await rm(file, { force: true });
    await rename(r.tmp, file);
    manifest.derived[`${task.name}.jsonl`] = { path: `${task.name}.jsonl`, size: r.size, sha256: r.sha256, etag: '', from: `${path.basename(zipFile)}:${member}` };
    out.push({ task: task.name, path: file, size: r.size, sha256: r.sha256 });
  }
  await writeManifest(env, manifest);
  return out;
}

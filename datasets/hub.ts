// Hugging Face Hub downloads into the standard HF cache layout (<cache>/<type>s--org--name/{blobs,snapshots,refs}),
// so files pcomp fetches are shared with Python tools and vice versa. On top of the library we add what a long
// benchmark download needs: resume from `<blob>.incomplete`, verification of every byte against the hub's hashes,
// and a manifest (revision, commit, size, sha256 per file) that offline runs check against.
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm, stat, symlink, writeFile, copyFile, readlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { datasetInfo, modelInfo, downloadFile, fileDownloadInfo, listFiles, pathsInfo } from '@huggingface/hub';
import { UserError } from '../util/errors.js';
import { resolveBuiltin } from './builtin.js';

export type RepoType = 'dataset' | 'model';
export interface RepoRef { type: RepoType; name: string }

export interface HubEnv {
  endpoint: string;
  token?: string;
  cacheDir: string;
  offline: boolean;
  /** Injected in tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);

/** The environment variables huggingface_hub reads, with its defaults. */
export function hubEnv(overrides: Partial<HubEnv> = {}, env: NodeJS.ProcessEnv = process.env): HubEnv {
  const hfHome = env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
  let token = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  if (!token) {
    const tokenFile = env.HF_TOKEN_PATH ?? path.join(hfHome, 'token');
    try {
      token = readFileSync(tokenFile, 'utf8').trim(); // sync: hubEnv() runs while flags are parsed
    } catch {
      token = undefined;
    }
  }
  return {
    endpoint: (env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''),
    token: token || undefined,
    cacheDir: env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? path.join(hfHome, 'hub'),
    offline: TRUE_WORDS.has((env.HF_HUB_OFFLINE ?? '').toLowerCase()),
    ...overrides,
  };
}

/** How long a reachability probe waits for the hub's first answer (a blackholed address must not hang a run). */
export const PROBE_TIMEOUT_MS = 4000;

/**
 * Can the hub serve this repo? One GET of its revision info, given up after `timeoutMs`: 2xx (or 401/403, which
 * the download reports with its own hint) means yes; a refused connection, a failed DNS lookup, the timeout, or
 * another answer (a proxy's 404, a 5xx) means no, with the reason. Offline (HF_HUB_OFFLINE / --offline) never
 * touches the network.
 */
export async function hubReachable(env: HubEnv, repo: RepoRef, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (env.offline) return { ok: false, reason: 'offline (--offline or HF_HUB_OFFLINE)' };
  const url = `${env.endpoint}/api/${repo.type}s/${repo.name}/revision/main`;
  const headers: Record<string, string> = env.token ? { Authorization: `Bearer ${env.token}` } : {};
  try {
    const res = await (env.fetch ?? fetch)(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer().catch(() => undefined); // read to the end: a cancelled body can spoil the pooled connection
    if (res.ok || res.status === 401 || res.status === 403) return { ok: true };
    return { ok: false, reason: `${env.endpoint} answered HTTP ${res.status} for ${repo.name}` };
  } catch (e) {
    const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' || err.name === 'AbortError' ? `no answer within ${timeoutMs / 1000} s`
      : err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
    return { ok: false, reason: `${env.endpoint} cannot be reached (${why})` };
  }
}

export const isCommitHash = (rev: string): boolean => /^[0-9a-f]{40}$/.test(rev);

export function repoFolder(env: HubEnv, repo: RepoRef): string {
  return path.join(env.cacheDir, [`${repo.type}s`, ...repo.name.split('/')].join('--'));
}

export interface ManifestFile { path: string; size: number; sha256: string; etag: string }
export interface Manifest {
  repo: string;
  type: RepoType;
  commit: string;
  /** Every revision name this commit was pulled as ("main", a tag, or the commit itself). */
  revisions: string[];
  files: Record<string, ManifestFile>;
  /** Files pcomp derived from downloaded ones (e.g. jsonl unzipped from LongBench's data.zip). */
  derived: Record<string, ManifestFile & { from: string }>;
}

const manifestPath = (env: HubEnv, repo: RepoRef, commit: string) => path.join(repoFolder(env, repo), 'pcomp', commit, 'manifest.json');
export const derivedDir = (env: HubEnv, repo: RepoRef, commit: string) => path.join(repoFolder(env, repo), 'pcomp', commit, 'derived');

export async function readManifest(env: HubEnv, repo: RepoRef, commit: string): Promise<Manifest | null> {
  const file = manifestPath(env, repo, commit);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as Manifest;
  } catch (e) {
    throw new UserError(`${file}: corrupt manifest (${(e as Error).message}); delete it and pull again`);
  }
}

export async function writeManifest(env: HubEnv, m: Manifest): Promise<void> {
  const file = manifestPath(env, { type: m.type, name: m.repo }, m.commit);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(m, null, 1));
  await rename(tmp, file);
}

/** The commit a revision name points at in the local cache (refs/<rev>), without network. */
export async function cachedCommit(env: HubEnv, repo: RepoRef, revision: string): Promise<string | null> {
  if (isCommitHash(revision)) return revision;
  try {
    const c = (await readFile(path.join(repoFolder(env, repo), 'refs', revision), 'utf8')).trim();
    return isCommitHash(c) ? c : null;
  } catch {
    return null;
  }
}

export async function hashFile(file: string, algo: 'sha256' | 'git-sha1'): Promise<string> {
  const h = createHash(algo === 'sha256' ? 'sha256' : 'sha1');
  if (algo === 'git-sha1') h.update(`blob ${(await stat(file)).size}\0`);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface RemoteFile { path: string; size: number; etag: string; sha256?: string; gitOid?: string }

function toRemote(e: { path: string; size: number; oid?: string; lfs?: { oid: string; size: number } }): RemoteFile {
  // LFS files: etag = sha256 (what huggingface_hub names the blob). Plain git files: etag = git blob sha1.
  if (e.lfs) return { path: e.path, size: e.lfs.size, etag: e.lfs.oid, sha256: e.lfs.oid };
  if (!e.oid) throw new UserError(`hub listing for ${e.path} has neither an LFS oid nor a git oid`);
  return { path: e.path, size: e.size, etag: e.oid, gitOid: e.oid };
}

export interface Progress { path: string; bytes: number; total: number; resumedFrom?: number }

export interface SnapshotOptions {
  revision?: string;
  /** Exact paths to fetch; when absent, every listed file that passes `filter`. */
  paths?: string[];
  filter?: (p: string) => boolean;
  /** Files that may be absent from the repo (e.g. generation_config.json). */
  optional?: string[];
  onProgress?: (p: Progress) => void;
  /** The command a user runs to fetch what is missing, quoted in the offline error. */
  fetchHint?: string;
}

export interface Snapshot { dir: string; commit: string; manifest: Manifest; files: string[] }

/**
 * Make the requested files of `repo@revision` present and verified in the cache. Offline, only the cache and the
 * manifest are consulted and a missing file is an error listing everything that is missing.
 */
export async function snapshot(env: HubEnv, repo: RepoRef, opts: SnapshotOptions = {}): Promise<Snapshot> {
  const revision = opts.revision ?? 'main';
  return env.offline ? offlineSnapshot(env, repo, revision, opts) : onlineSnapshot(env, repo, revision, opts);
}

async function offlineSnapshot(env: HubEnv, repo: RepoRef, revision: string, opts: SnapshotOptions): Promise<Snapshot> {
  const hint = opts.fetchHint ? `run without --offline / HF_HUB_OFFLINE: ${opts.fetchHint}` : undefined;
  const commit = await cachedCommit(env, repo, revision);
  const dir = commit ? path.join(repoFolder(env, repo), 'snapshots', commit) : '';
  let manifest = commit ? await readManifest(env, repo, commit) : null;
  if (commit && !manifest && opts.paths && existsSync(dir)) {
    // Filled by another tool (huggingface_hub): no manifest, so presence is all that can be checked.
    manifest = { repo: repo.name, type: repo.type, commit, revisions: [revision], files: {}, derived: {} };
    for (const p of opts.paths) {
      const size = await stat(path.join(dir, p)).then((s) => s.size, () => -1);
      if (size >= 0) manifest.files[p] = { path: p, size, sha256: '', etag: '' };
    }
  }
  if (!commit || !manifest) {
    throw new UserError(`offline: ${repo.name}@${revision} is not in the cache (${repoFolder(env, repo)})`, { hint });
  }
  const wanted = opts.paths ?? Object.keys(manifest.files).filter((p) => !opts.filter || opts.filter(p));
  const missing: string[] = [];
  const present: string[] = [];
  for (const p of wanted) {
    const m = manifest.files[p];
    const size = await stat(path.join(dir, p)).then((s) => s.size, () => -1);
    if (m && size === m.size) present.push(p);
    else if (!opts.optional?.includes(p)) missing.push(p);
  }
  if (missing.length > 0) {
    throw new UserError(`offline: missing from the cache for ${repo.name}@${revision}:\n  ${missing.join('\n  ')}`, { hint });
  }
  return { dir, commit, manifest, files: present };
}

function hubErrorToUser(e: unknown, what: string): never {
  if (e instanceof UserError) throw e;
  const err = e as { statusCode?: number; message?: string };
  const status = err.statusCode ? ` (HTTP ${err.statusCode})` : '';
  throw new UserError(`hub: ${what}${status}: ${err.message ?? String(e)}`, {
    hint: 'check HF_ENDPOINT / HF_TOKEN, or use --offline with a filled cache, or --data-dir with local files',
    cause: e,
  });
}

async function resolveCommit(env: HubEnv, repo: RepoRef, revision: string): Promise<string> {
  if (isCommitHash(revision)) return revision;
  const common = { name: repo.name, revision, hubUrl: env.endpoint, accessToken: env.token, fetch: env.fetch, additionalFields: ['sha'] as ['sha'] };
  try {
    const info = repo.type === 'dataset' ? await datasetInfo(common) : await modelInfo(common);
    const sha = (info as { sha?: string }).sha;
    if (!sha || !isCommitHash(sha)) throw new Error('no commit sha in the answer');
    return sha;
  } catch (e) {
    hubErrorToUser(e, `cannot resolve ${repo.name}@${revision}`);
  }
}

async function onlineSnapshot(env: HubEnv, repo: RepoRef, revision: string, opts: SnapshotOptions): Promise<Snapshot> {
  const commit = await resolveCommit(env, repo, revision);
  const base = { repo: { type: repo.type, name: repo.name }, revision: commit, hubUrl: env.endpoint, accessToken: env.token, fetch: env.fetch };
  let remote: RemoteFile[];
  try {
    if (opts.paths) {
      const infos = await pathsInfo({ ...base, paths: opts.paths });
      remote = infos.filter((i) => i.type === 'file').map(toRemote);
      const absent = opts.paths.filter((p) => !remote.some((r) => r.path === p) && !opts.optional?.includes(p));
      if (absent.length) throw new UserError(`hub: ${repo.name}@${revision} has no ${absent.join(', ')}`);
    } else {
      remote = [];
      for await (const e of listFiles({ ...base, recursive: true })) {
        if (e.type === 'file' && (!opts.filter || opts.filter(e.path))) remote.push(toRemote(e));
      }
    }
  } catch (e) {
    hubErrorToUser(e, `cannot list ${repo.name}@${revision}`);
  }

  const folder = repoFolder(env, repo);
  const manifest: Manifest = (await readManifest(env, repo, commit))
    ?? { repo: repo.name, type: repo.type, commit, revisions: [], files: {}, derived: {} };
  for (const f of remote) {
    const sha256 = await ensureBlob(env, repo, commit, f, opts.onProgress);
    manifest.files[f.path] = { path: f.path, size: f.size, sha256, etag: f.etag };
    await linkSnapshot(folder, commit, f);
  }
  if (!manifest.revisions.includes(revision)) manifest.revisions.push(revision);
  if (!isCommitHash(revision)) {
    await mkdir(path.join(folder, 'refs', path.dirname(revision)), { recursive: true });
    await writeFile(path.join(folder, 'refs', revision), commit);
  }
  await writeManifest(env, manifest);
  return { dir: path.join(folder, 'snapshots', commit), commit, manifest, files: remote.map((r) => r.path) };
}

/** True when the file's bytes match what the hub says they are. Returns the sha256 when they do. */
async function verify(file: string, f: RemoteFile): Promise<string | null> {
  const size = await stat(file).then((s) => s.size, () => -1);
  if (size !== f.size) return null;
  const sha256 = await hashFile(file, 'sha256');
  if (f.sha256) return sha256 === f.sha256 ? sha256 : null;
  return (await hashFile(file, 'git-sha1')) === f.gitOid ? sha256 : null;
}

async function ensureBlob(env: HubEnv, repo: RepoRef, commit: string, f: RemoteFile, onProgress?: (p: Progress) => void): Promise<string> {
  const blob = path.join(repoFolder(env, repo), 'blobs', f.etag);
  if (existsSync(blob)) {
    const ok = await verify(blob, f);
    if (ok) return ok;
    await rm(blob, { force: true }); // corrupt in the cache: fetch it again
  }
  await mkdir(path.dirname(blob), { recursive: true });
  const partial = `${blob}.incomplete`;
  // One retry from scratch when the bytes arrive but do not hash right (a flaky mirror or proxy).
  for (let attempt = 0; attempt < 2; attempt++) {
    await download(env, repo, commit, f, partial, onProgress);
    const ok = await verify(partial, f);
    if (ok) {
      await rename(partial, blob);
      return ok;
    }
    await rm(partial, { force: true });
  }
  throw new UserError(`hub: ${repo.name}@${commit.slice(0, 7)}/${f.path}: checksum mismatch after download (expected ${f.sha256 ? 'sha256 ' + f.sha256 : 'git oid ' + f.gitOid}, ${f.size} bytes)`);
}

async function download(env: HubEnv, repo: RepoRef, commit: string, f: RemoteFile, partial: string, onProgress?: (p: Progress) => void): Promise<void> {
  let start = await stat(partial).then((s) => s.size, () => 0);
  if (start > f.size) {
    await rm(partial, { force: true });
    start = 0;
  }
  if (start === f.size && f.size > 0) return;
  const params = { repo: { type: repo.type, name: repo.name }, path: f.path, revision: commit, hubUrl: env.endpoint, accessToken: env.token, fetch: env.fetch };
  let body: WebReadableStream<Uint8Array>;
  try {
    const info = await fileDownloadInfo(params);
    if (!info) throw new UserError(`hub: ${repo.name}@${commit.slice(0, 7)} has no ${f.path}`);
    if (info.xet) {
      // Xet-stored files (LongBench's data.zip) are reconstructed by the library; its blobs slice by byte range.
      const xblob = await downloadFile({ ...params, downloadInfo: info });
      if (!xblob) throw new UserError(`hub: ${f.path} vanished`);
      body = xblob.slice(start).stream() as unknown as WebReadableStream<Uint8Array>;
    } else {
      const headers: Record<string, string> = {};
      if (env.token) headers.Authorization = `Bearer ${env.token}`;
      if (start > 0) headers.Range = `bytes=${start}-`;
      const res = await (env.fetch ?? fetch)(info.url, { headers });
      if (!res.ok || !res.body) throw new Error(`GET ${f.path}: HTTP ${res.status}`);
      if (start > 0 && !(res.status === 206 && res.headers.get('content-range')?.startsWith(`bytes ${start}-`))) {
        // The server ignored the range: start over rather than append a second copy.
        await rm(partial, { force: true });
        start = 0;
      }
      body = res.body as unknown as WebReadableStream<Uint8Array>;
    }
  } catch (e) {
    hubErrorToUser(e, `cannot download ${repo.name}/${f.path}`);
  }
  // Written chunk by chunk and awaited, so every byte received before a failure is on disk for the resume.
  let bytes = start;
  const out = await open(partial, start > 0 ? 'a' : 'w');
  try {
    for await (const chunk of Readable.fromWeb(body)) {
      await out.write(chunk as Uint8Array);
      bytes += (chunk as Uint8Array).length;
      onProgress?.({ path: f.path, bytes, total: f.size, resumedFrom: start || undefined });
    }
  } catch (e) {
    throw new UserError(`hub: download of ${repo.name}/${f.path} interrupted at ${bytes} of ${f.size} bytes; run the same command again to resume`, { cause: e });
  } finally {
    await out.close();
  }
}

async function linkSnapshot(folder: string, commit: string, f: RemoteFile): Promise<void> {
  const pointer = path.join(folder, 'snapshots', commit, f.path);
  const target = path.relative(path.dirname(pointer), path.join(folder, 'blobs', f.etag));
  await mkdir(path.dirname(pointer), { recursive: true });
  const current = await lstat(pointer).then((s) => s, () => null);
  if (current?.isSymbolicLink() && (await readlink(pointer)) === target) return;
  if (current) await rm(pointer, { force: true });
  try {
    await symlink(target, pointer);
  } catch {
    await copyFile(path.join(folder, 'blobs', f.etag), pointer); // filesystems without symlinks
  }
}

const MODEL_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json',
  'special_tokens_map.json', 'chat_template.jinja', 'model.safetensors.index.json'];
const OPTIONAL_MODEL_FILES = MODEL_FILES.filter((f) => f !== 'config.json' && f !== 'tokenizer.json');

/** Weight files of a model folder: the shards named by model.safetensors.index.json, else model.safetensors. */
export async function weightFiles(dir: string): Promise<string[]> {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (!existsSync(index)) return ['model.safetensors'];
  let map: unknown;
  try {
    map = (JSON.parse(await readFile(index, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new UserError(`${index}: corrupt JSON (${(e as Error).message})`);
  }
  if (!map || typeof map !== 'object') throw new UserError(`${index}: field "weight_map" must be an object`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  if (shards.some((s) => typeof s !== 'string')) throw new UserError(`${index}: every "weight_map" value must be a file name`);
  return (shards as string[]).sort();
}

/**
 * A model spec is a local folder or a Hub id with an optional revision ("org/name@rev"). Returns a folder holding
 * config.json, the tokenizer files and the safetensors weights (all shards of a sharded checkpoint); with
 * `weights: false` only the config and tokenizer files (enough to build prompts).
 */
export async function resolveModel(spec: string, opts: { env?: HubEnv; onProgress?: (p: Progress) => void; weights?: boolean } = {}): Promise<string> {
  spec = resolveBuiltin(spec) ?? spec; // builtin:<name> → the folder shipped in the package
  const withWeights = opts.weights ?? true;
  if (existsSync(spec) && (await stat(spec)).isDirectory()) {
    const missing = (withWeights ? ['config.json', 'tokenizer.json'] : ['tokenizer.json']).filter((f) => !existsSync(path.join(spec, f)));
    if (withWeights) missing.push(...(await weightFiles(spec)).filter((f) => !existsSync(path.join(spec, f))));
    if (missing.length) throw new UserError(`model folder ${spec} lacks ${missing.join(', ')}`);
    return spec;
  }
  const m = /^([\w.-]+\/[\w.-]+)(?:@(.+))?$/.exec(spec);
  if (!m) throw new UserError(`model "${spec}" is neither a folder nor a Hub id like org/name[@revision]`);
  const env = opts.env ?? hubEnv();
  const repo: RepoRef = { type: 'model', name: m[1]! };
  const revision = m[2] ?? 'main';
  // Any command given --model with network access downloads the model into the cache.
  const fetchHint = `pcomp generate --model ${spec} --prompt Hello (any command with --model downloads it)`;
  const meta = await snapshot(env, repo, { revision, paths: MODEL_FILES, optional: OPTIONAL_MODEL_FILES, fetchHint, onProgress: opts.onProgress });
  if (!withWeights) return meta.dir;
  const weights = await weightFiles(meta.dir);
  await snapshot(env, repo, { revision: meta.commit, paths: weights, fetchHint, onProgress: opts.onProgress });
  return meta.dir;
}

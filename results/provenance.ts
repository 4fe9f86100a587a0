// What the manifest records about where a run came from: the pcomp commit, the host, Node, and
// sha256 of the weight files. Hashing is cheap for hub downloads: the Hugging Face cache stores a
// weight file as blobs/<sha256> (its LFS oid), so the name already is the hash; other files are
// hashed once and the result kept beside the file's size and mtime in a sidecar cache.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { hostname, platform, arch } from 'node:os';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from './atomic-file.js';

export interface GitState {
  commit?: string;
  /** Uncommitted changes to tracked files; undefined when git is not available. */
  dirty?: boolean;
}

/** The commit of the checkout at `dir` (the pcomp repository), or {} outside a git work tree. */
export function gitState(dir: string): GitState {
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  try {
    const commit = git('rev-parse', 'HEAD');
    let dirty: boolean | undefined;
    try {
      dirty = git('status', '--porcelain', '--untracked-files=no').length > 0;
    } catch {
      dirty = undefined;
    }
    return { commit, dirty };
  } catch {
    return {};
  }
}

export function hostInfo(): { host: string; node: string; platform: string } {
  return { host: hostname(), node: process.version, platform: `${platform()}-${arch()}` };
}

const SHA256_NAME = /^[0-9a-f]{64}$/;

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('error', reject).on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * sha256 of each weight file, keyed by file name. `cacheFile` (optional) keeps hashes of files that
 * are not hub blobs, keyed by real path + size + mtime, so a 16 GB checkpoint is hashed only once.
 */
export async function weightHashes(files: readonly string[], cacheFile?: string): Promise<Record<string, string>> {
  type Cache = Record<string, { size: number; mtimeMs: number; sha256: string }>;
  let cache: Cache = {};
  if (cacheFile && existsSync(cacheFile)) {
    try {
      cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as Cache;
    } catch {
      cache = {}; // a damaged cache is only a cache
    }
  }
  let changed = false;
  const out: Record<string, string> = {};
  for (const file of files) {
    const real = realpathSync(file);
    if (SHA256_NAME.test(basename(real))) {
      out[basename(file)] = basename(real);
      continue;
    }
    const { size, mtimeMs } = statSync(real);
    const hit = cache[real];
    if (hit && hit.size === size && hit.mtimeMs === mtimeMs) {
      out[basename(file)] = hit.sha256;
      continue;
    }
    const sha256 = await sha256File(real);
    cache[real] = { size, mtimeMs, sha256 };
    changed = true;
    out[basename(file)] = sha256;
  }
  if (cacheFile && changed) writeJsonAtomic(cacheFile, cache);
  return out;
}

/** The repository root of this checkout (results/ sits one level below it). */
export const PCOMP_ROOT = fileURLToPath(new URL('..', import.meta.url));

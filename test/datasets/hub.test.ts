import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync, lstatSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startFakeHub, sha256Hex, type FakeHub } from '../helpers/fake-hub.js';
import { hubEnv, snapshot, resolveModel, repoFolder, type HubEnv } from '../../datasets/hub.js';
import { UserError } from '../../util/errors.js';

const COMMIT = 'a'.repeat(40);
const MODEL_COMMIT = 'b'.repeat(40);

function seeded(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

const big = seeded(200_000, 7);
const small = '{"a": 1}\n';

describe('hub downloads against a loopback hub', () => {
  let hub: FakeHub;
  let cache: string;
  let env: HubEnv;
  const repo = { type: 'dataset' as const, name: 'org/bench' };
  beforeEach(async () => {
    hub = await startFakeHub([
      { type: 'dataset', name: 'org/bench', commit: COMMIT, refs: { v1: COMMIT }, files: { 'data.bin': big, 'README.md': small, 'sub/extra.txt': 'x'.repeat(100) } },
      { type: 'model', name: 'org/tiny', commit: MODEL_COMMIT, files: {
        'config.json': '{"model_type":"llama"}', 'tokenizer.json': '{}',
        'model.safetensors.index.json': JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
        'model-00001-of-00002.safetensors': seeded(300, 1), 'model-00002-of-00002.safetensors': seeded(300, 2),
        'consolidated.safetensors': seeded(500, 3),
      } },
    ]);
    cache = await mkdtemp(path.join(os.tmpdir(), 'pcomp-hub-'));
    env = { endpoint: hub.url, cacheDir: cache, offline: false };
  });
  afterEach(async () => {
    await hub.close();
    await rm(cache, { recursive: true, force: true });
  });

  it('pulls into the HF cache layout with a manifest of sizes and sha256', async () => {
    const snap = await snapshot(env, repo, { paths: ['data.bin', 'README.md'] });
    expect(snap.commit).toBe(COMMIT);
    const folder = repoFolder(env, repo);
    expect(folder).toBe(path.join(cache, 'datasets--org--bench'));
    expect(await readFile(path.join(folder, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    const pointer = path.join(snap.dir, 'data.bin');
    expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
    expect(sha256Hex(await readFile(pointer))).toBe(sha256Hex(big));
    expect(snap.manifest.files['data.bin']).toMatchObject({ size: big.length, sha256: sha256Hex(big), etag: sha256Hex(big) });
    expect(snap.manifest.files['README.md']!.sha256).toBe(sha256Hex(Buffer.from(small)));
    // A second pull verifies the cached blobs and downloads nothing.
    const before = hub.requests.filter((r) => r.path.includes('/resolve/')).length;
    await snapshot(env, repo, { paths: ['data.bin', 'README.md'] });
    expect(hub.requests.filter((r) => r.path.includes('/resolve/')).length).toBe(before);
  });

  it('lists the tree when no paths are given and filters it', async () => {
    const snap = await snapshot(env, repo, { filter: (p) => p.endsWith('.txt') });
    expect(snap.files).toEqual(['sub/extra.txt']);
    expect(await readFile(path.join(snap.dir, 'sub/extra.txt'), 'utf8')).toBe('x'.repeat(100));
  });

  it('resumes an interrupted transfer with a Range request', async () => {
    hub.interruptAfter('org/bench', 'data.bin', 70_000);
    const err = await snapshot(env, repo, { paths: ['data.bin'] }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err.message)).toMatch(/interrupted at \d+ of 200000 bytes/);
    const partial = path.join(repoFolder(env, repo), 'blobs', `${sha256Hex(big)}.incomplete`);
    const partialSize = (await stat(partial)).size;
    expect(partialSize).toBeGreaterThan(0);
    expect(partialSize).toBeLessThanOrEqual(70_000);
    const progress: number[] = [];
    const snap = await snapshot(env, repo, { paths: ['data.bin'], onProgress: (p) => { if (p.resumedFrom) progress.push(p.resumedFrom); } });
    expect(hub.requests.some((r) => r.range === `bytes=${partialSize}-`)).toBe(true);
    expect(progress[0]).toBe(partialSize);
    expect(sha256Hex(await readFile(path.join(snap.dir, 'data.bin')))).toBe(sha256Hex(big));
    expect(existsSync(partial)).toBe(false);
  });

  it('re-fetches once on a checksum failure and gives up on a persistent one', async () => {
    hub.corrupt('org/bench', 'data.bin', 1);
    const snap = await snapshot(env, repo, { paths: ['data.bin'] });
    expect(sha256Hex(await readFile(path.join(snap.dir, 'data.bin')))).toBe(sha256Hex(big));
    await rm(cache, { recursive: true, force: true });
    hub.corrupt('org/bench', 'README.md', 5);
    await expect(snapshot(env, repo, { paths: ['README.md'] })).rejects.toThrow(/README\.md: checksum mismatch/);
  });

  it('detects a corrupted cached blob and fetches it again', async () => {
    const snap = await snapshot(env, repo, { paths: ['data.bin'] });
    const blob = path.join(repoFolder(env, repo), 'blobs', sha256Hex(big));
    const bad = Buffer.from(big); bad[5] ^= 1;
    await writeFile(blob, bad);
    await snapshot(env, repo, { paths: ['data.bin'] });
    expect(sha256Hex(await readFile(path.join(snap.dir, 'data.bin')))).toBe(sha256Hex(big));
  });

  it('works offline from the cache and lists what is missing', async () => {
    await snapshot(env, repo, { paths: ['data.bin'] });
    await hub.close();
    const offline = { ...env, offline: true };
    const snap = await snapshot(offline, repo, { paths: ['data.bin'] });
    expect(snap.commit).toBe(COMMIT);
    const err = await snapshot(offline, repo, { paths: ['data.bin', 'README.md', 'sub/extra.txt'], fetchHint: 'pcomp data pull bench' }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain('README.md');
    expect(err.message).toContain('sub/extra.txt');
    expect(err.message).not.toMatch(/^\s+data\.bin$/m);
    expect(err.hint).toContain('pcomp data pull bench');
    await expect(snapshot(offline, repo, { revision: 'v2', paths: ['data.bin'] })).rejects.toThrow(/not in the cache/);
    hub = await startFakeHub([]); // afterEach closes it
  });

  it('works offline on a snapshot filled by another tool (no manifest)', async () => {
    const folder = repoFolder(env, { type: 'model', name: 'org/py' });
    await mkdir(path.join(folder, 'refs'), { recursive: true });
    await writeFile(path.join(folder, 'refs', 'main'), MODEL_COMMIT);
    const snapDir = path.join(folder, 'snapshots', MODEL_COMMIT);
    await mkdir(snapDir, { recursive: true });
    await writeFile(path.join(snapDir, 'config.json'), '{}');
    await writeFile(path.join(snapDir, 'tokenizer.json'), '{}');
    const offline = { ...env, offline: true };
    expect(await resolveModel('org/py', { env: offline, weights: false })).toBe(snapDir);
    await expect(resolveModel('org/py', { env: offline })).rejects.toThrow(/missing from the cache[\s\S]*model\.safetensors/);
  });

  it('sends HF_TOKEN and reports auth failures as user errors', async () => {
    hub.requireToken('hf_secret');
    await expect(snapshot(env, repo, { paths: ['README.md'] })).rejects.toThrow(UserError);
    const snap = await snapshot({ ...env, token: 'hf_secret' }, repo, { paths: ['README.md'] });
    expect(snap.files).toEqual(['README.md']);
    expect(hub.requests.at(-1)!.auth).toBe('Bearer hf_secret');
  });

  it('resolves a Hub model id to a folder with every shard and nothing else', async () => {
    const dir = await resolveModel('org/tiny@main', { env });
    expect(existsSync(path.join(dir, 'config.json'))).toBe(true);
    expect(existsSync(path.join(dir, 'model-00001-of-00002.safetensors'))).toBe(true);
    expect(existsSync(path.join(dir, 'model-00002-of-00002.safetensors'))).toBe(true);
    expect(existsSync(path.join(dir, 'consolidated.safetensors'))).toBe(false);
    expect(await resolveModel(dir)).toBe(dir); // a local folder is used as is
    expect(await resolveModel('org/tiny', { env: { ...env, offline: true } })).toBe(dir);
    await expect(resolveModel('not a model')).rejects.toThrow(/neither a folder nor a Hub id/);
    const empty = path.join(cache, 'empty-model');
    await mkdir(empty);
    await writeFile(path.join(empty, 'config.json'), '{}');
    await expect(resolveModel(empty)).rejects.toThrow(/lacks tokenizer\.json, model\.safetensors/);
  });
});

describe('hubEnv', () => {
  it('reads the huggingface_hub environment variables', () => {
    const e = hubEnv({}, { HF_HOME: '/h', HF_ENDPOINT: 'http://mirror/', HF_TOKEN: 'hf_t', HF_HUB_OFFLINE: '1' });
    expect(e).toMatchObject({ endpoint: 'http://mirror', token: 'hf_t', cacheDir: path.join('/h', 'hub'), offline: true });
    expect(hubEnv({}, { HF_HUB_CACHE: '/c', HF_HOME: '/h' }).cacheDir).toBe('/c');
    expect(hubEnv({}, { HF_HOME: '/nonexistent-home' }).offline).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitState, weightHashes } from '../../results/provenance.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'pcomp-prov-'));
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe('provenance', () => {
  it('reads the commit and whether tracked files changed, and nothing outside a repository', () => {
    const repo = tmp();
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();
    git('init', '-q');
    writeFileSync(join(repo, 'a.txt'), 'one');
    git('add', 'a.txt');
    git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'first');
    expect(gitState(repo)).toEqual({ commit: git('rev-parse', 'HEAD'), dirty: false });
    writeFileSync(join(repo, 'a.txt'), 'two');
    expect(gitState(repo).dirty).toBe(true);
    expect(gitState(tmp())).toEqual({});
  });

  it('takes a hub blob\'s name as its hash, hashes other files once, and rehashes a changed file', async () => {
    const dir = tmp();
    // hub cache layout: snapshots/<rev>/model.safetensors → ../../blobs/<sha256>
    const blobHash = sha('blob bytes');
    mkdirSync(join(dir, 'blobs'));
    mkdirSync(join(dir, 'snapshots'));
    writeFileSync(join(dir, 'blobs', blobHash), 'blob bytes');
    symlinkSync(join(dir, 'blobs', blobHash), join(dir, 'snapshots', 'model.safetensors'));
    writeFileSync(join(dir, 'local.bin'), 'local weights');
    const cache = join(dir, 'hash-cache.json');
    const first = await weightHashes([join(dir, 'snapshots', 'model.safetensors'), join(dir, 'local.bin')], cache);
    expect(first).toEqual({ 'model.safetensors': blobHash, 'local.bin': sha('local weights') });
    expect(Object.values(JSON.parse(readFileSync(cache, 'utf8'))).map((e: any) => e.sha256)).toEqual([sha('local weights')]);
    // same size and mtime: the cached value is used (proved by planting a different one)
    const planted = JSON.parse(readFileSync(cache, 'utf8'));
    for (const key of Object.keys(planted)) planted[key].sha256 = 'cached';
    writeFileSync(cache, JSON.stringify(planted));
    expect((await weightHashes([join(dir, 'local.bin')], cache))['local.bin']).toBe('cached');
    // a rewritten file (new size/mtime) is hashed again
    writeFileSync(join(dir, 'local.bin'), 'other weights!');
    utimesSync(join(dir, 'local.bin'), new Date(), new Date(Date.now() + 5000));
    expect((await weightHashes([join(dir, 'local.bin')], cache))['local.bin']).toBe(sha('other weights!'));
  });
});

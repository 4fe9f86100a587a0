// A loopback HTTP server (127.0.0.1 only) that answers the few Hugging Face Hub routes pcomp uses:
// revision info, tree listing, paths-info, and resolve with Range / ETag / X-Repo-Commit. Tests can cut a
// transfer short (to exercise resume) or serve corrupted bytes (to exercise checksum failure).
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  type: 'dataset' | 'model';
  name: string; // "org/name"
  commit: string; // 40 hex
  /** Extra refs besides "main" (which always points at `commit`). */
  refs?: Record<string, string>;
  files: Record<string, Uint8Array | string>;
  /** Files at least this big are listed as LFS (sha256 oid); smaller ones as plain git blobs. Default 64 bytes. */
  lfsThreshold?: number;
}

export interface FakeRequest { method: string; path: string; range?: string; auth?: string }

export interface FakeHub {
  url: string;
  requests: FakeRequest[];
  /** The next `times` GETs of this file send only `bytes` bytes and then drop the connection. */
  interruptAfter(repoName: string, file: string, bytes: number, times?: number): void;
  /** The next `times` GETs of this file serve bytes with one byte flipped (same size, wrong hash). */
  corrupt(repoName: string, file: string, times?: number): void;
  /** Require `Authorization: Bearer <token>` on every request. */
  requireToken(token: string | null): void;
  close(): Promise<void>;
}

interface Stored { bytes: Buffer; sha256: string; gitOid: string; lfs: boolean }

export function gitBlobOid(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function startFakeHub(repos: FakeRepo[]): Promise<FakeHub> {
  const stored = new Map<string, Map<string, Stored>>();
  for (const r of repos) {
    const m = new Map<string, Stored>();
    for (const [p, content] of Object.entries(r.files)) {
      const bytes = Buffer.from(typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
      m.set(p, { bytes, sha256: sha256Hex(bytes), gitOid: gitBlobOid(bytes), lfs: bytes.length >= (r.lfsThreshold ?? 64) });
    }
    stored.set(`${r.type}:${r.name}`, m);
  }
  const interrupts = new Map<string, { bytes: number; times: number }>();
  const corruptions = new Map<string, number>();
  let token: string | null = null;
  const requests: FakeRequest[] = [];

  const findRepo = (type: string, name: string) => repos.find((r) => r.type === type && r.name === name);
  const resolveRev = (r: FakeRepo, rev: string): string | null => {
    if (rev === r.commit || rev === 'main' || rev === 'HEAD') return r.commit;
    return r.refs?.[rev] ?? null;
  };
  const entry = (p: string, s: Stored) => ({
    type: 'file', path: p, size: s.bytes.length, oid: s.lfs ? gitBlobOid(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${s.sha256}\nsize ${s.bytes.length}\n`)) : s.gitOid,
    ...(s.lfs ? { lfs: { oid: s.sha256, size: s.bytes.length, pointerSize: 130 } } : {}),
  });

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const notFound = (res: http.ServerResponse, code: string) => json(res, 404, { error: code }, { 'X-Error-Code': code });

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const segs = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    requests.push({ method: req.method ?? 'GET', path: u.pathname, range: req.headers.range, auth: req.headers.authorization });
    if (token !== null && req.headers.authorization !== `Bearer ${token}`) {
      json(res, 401, { error: 'Invalid credentials' }, { 'X-Error-Code': 'Unauthorized' });
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString('utf8'); });
    req.on('end', () => {
      if (segs[0] === 'api') {
        // /api/{type}s/{org}/{name}/{kind}/{rev}[/...]
        const type = segs[1]?.replace(/s$/, '') ?? '';
        const repo = findRepo(type, `${segs[2]}/${segs[3]}`);
        if (!repo) return notFound(res, 'RepoNotFound');
        const files = stored.get(`${repo.type}:${repo.name}`)!;
        const commit = resolveRev(repo, segs[5] ?? 'main');
        if (!commit) return notFound(res, 'RevisionNotFound');
        const kind = segs[4];
        if (kind === 'revision') {
          return json(res, 200, { _id: 'fake', id: repo.name, sha: commit, private: false, downloads: 0, likes: 0, gated: false, lastModified: '2024-01-01T00:00:00.000Z' });
        }
        if (kind === 'tree') {
          const prefix = segs.slice(6).join('/');
          const list = [...files.entries()].filter(([p]) => !prefix || p.startsWith(prefix + '/')).map(([p, s]) => entry(p, s));
          return json(res, 200, list);
        }
        if (kind === 'paths-info' && req.method === 'POST') {
          const asked = (JSON.parse(body || '{}') as { paths?: string[] }).paths ?? [];
          return json(res, 200, asked.filter((p) => files.has(p)).map((p) => ({ ...entry(p, files.get(p)!), lastCommit: { id: commit, title: 'x', date: '2024-01-01T00:00:00.000Z' } })));
        }
        return notFound(res, 'NotFound');
      }
      // resolve: [datasets/]{org}/{name}/resolve/{rev}/{path...}
      const isDataset = segs[0] === 'datasets';
      const s = isDataset ? segs.slice(1) : segs;
      if (s[2] !== 'resolve') return notFound(res, 'NotFound');
      const repo = findRepo(isDataset ? 'dataset' : 'model', `${s[0]}/${s[1]}`);
      if (!repo) return notFound(res, 'RepoNotFound');
      const commit = resolveRev(repo, s[3] ?? '');
      if (!commit) return notFound(res, 'RevisionNotFound');
      const filePath = s.slice(4).join('/');
      const file = stored.get(`${repo.type}:${repo.name}`)!.get(filePath);
      if (!file) return notFound(res, 'EntryNotFound');
      const key = `${repo.name}:${filePath}`;
      let bytes = file.bytes;
      const total = bytes.length;
      let start = 0;
      let end = total - 1;
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
        if (start >= total) {
          res.writeHead(416, { 'Content-Range': `bytes */${total}` });
          res.end();
          return;
        }
      }
      const isProbe = range !== null && start === 0 && end === 0;
      if (!isProbe && req.method === 'GET') {
        const c = corruptions.get(key) ?? 0;
        if (c > 0) {
          corruptions.set(key, c - 1);
          bytes = Buffer.from(bytes);
          bytes[Math.floor(total / 2)] ^= 0xff;
        }
      }
      const headers: Record<string, string> = {
        ETag: `"${file.lfs ? file.sha256 : file.gitOid}"`,
        'X-Repo-Commit': commit,
        'Accept-Ranges': 'bytes',
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(end - start + 1),
      };
      if (file.lfs) headers['X-Linked-ETag'] = `"${file.sha256}"`;
      if (range) headers['Content-Range'] = `bytes ${start}-${end}/${total}`;
      res.writeHead(range ? 206 : 200, headers);
      if (req.method === 'HEAD') return res.end();
      const slice = bytes.subarray(start, end + 1);
      const cut = interrupts.get(key);
      if (!isProbe && cut && cut.times > 0) {
        cut.times--;
        // Send the partial bytes, let them reach the client, then drop the connection mid-body.
        res.write(slice.subarray(0, Math.max(0, cut.bytes - start)), () => setTimeout(() => res.socket?.destroy(), 100));
        return;
      }
      res.end(slice);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    interruptAfter(repoName, file, bytes, times = 1) { interrupts.set(`${repoName}:${file}`, { bytes, times }); },
    corrupt(repoName, file, times = 1) { corruptions.set(`${repoName}:${file}`, times); },
    requireToken(t) { token = t; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

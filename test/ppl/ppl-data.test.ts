// Local perplexity documents: a .txt is one document, a .jsonl one per line ("text" or LongBench's
// "context"), ids unique (position where missing or repeated), and bad files named with their line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPplSource, readLocalDocuments, PG19 } from '../../datasets/ppl-data.js';
import { hubEnv } from '../../datasets/hub.js';
import { startFakeHub } from '../helpers/fake-hub.js';
import { parquetBytes } from './parquet-writer.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pcomp-ppl-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const env = hubEnv({ cacheDir: path.join(dir, 'cache'), offline: true });

describe('local documents', () => {
  it('reads a .txt file as one document named after the file', async () => {
    const docs = await readLocalDocuments(file('book.txt', 'once upon a time\nthere was a fox\n'), 10);
    expect(docs).toEqual([{ id: 'book.txt', text: 'once upon a time\nthere was a fox\n' }]);
  });

  it('reads .jsonl lines in order, up to the sample count, keeping LongBench records for the paper protocol', async () => {
    const p = file('docs.jsonl', [
      JSON.stringify({ id: 'a', text: 'first' }),
      '',
      JSON.stringify({ _id: 'b', context: 'second story', input: 'who?', answers: ['x'] }),
      JSON.stringify({ text: 'third, no id' }),
      JSON.stringify({ id: 'd', text: 'fourth' }),
    ].join('\n'));
    const docs = await readLocalDocuments(p, 3);
    expect(docs.map((d) => [d.id, d.text])).toEqual([['a', 'first'], ['b', 'second story'], ['#2', 'third, no id']]);
    expect(docs[1]!.record?.input).toBe('who?');
    expect(docs[0]!.record).toBeUndefined();
  });

  it('falls back to positions for repeated ids, so plans and resumes stay unambiguous', async () => {
    const p = file('dup.jsonl', ['x', 'x', 'y'].map((id, i) => JSON.stringify({ id, text: `t${i}` })).join('\n'));
    expect((await readLocalDocuments(p, 10)).map((d) => d.id)).toEqual(['#0', '#1', 'y']);
  });

  it('names the file and the line of a bad record', async () => {
    await expect(readLocalDocuments(file('bad.jsonl', `${JSON.stringify({ text: 'ok' })}\n{"text": 3}\n`), 10))
      .rejects.toThrow(/bad\.jsonl:2: field "text" \(or "context"\) must be a string/);
    await expect(readLocalDocuments(file('broken.jsonl', '{"text": "ok"}\n{oops\n'), 10)).rejects.toThrow(/broken\.jsonl:2: not valid JSON/);
    await expect(readLocalDocuments(file('array.jsonl', '[1, 2]\n'), 10)).rejects.toThrow(/array\.jsonl:1: must be a JSON object/);
    await expect(readLocalDocuments(file('empty.txt', '  \n'), 10)).rejects.toThrow(/empty\.txt: the file is empty/);
    await expect(readLocalDocuments(file('none.jsonl', '\n\n'), 10)).rejects.toThrow(/none\.jsonl: no documents/);
    await expect(readLocalDocuments(file('fake.parquet', 'not parquet at all'), 10)).rejects.toThrow(/fake\.parquet: not a readable parquet file/);
  });

  it('identifies a local source by its path and sha256, and refuses a missing one', async () => {
    const p = file('id.txt', 'abc');
    const source = await loadPplSource(p, { samples: 5, env });
    expect(source.kind).toBe('file');
    expect(source.identity).toEqual({ file: path.resolve(p), sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' });
    await expect(loadPplSource(path.join(dir, 'missing.txt'), { samples: 5, env })).rejects.toThrow(/--data .*missing\.txt: no such file \(give pg19, narrativeqa, or a \.txt/);
  });

  it('offline, names what is missing from the cache for pg19 and narrativeqa', async () => {
    await expect(loadPplSource('pg19', { samples: 5, env })).rejects.toThrow(/offline: emozilla\/pg19-test@main is not in the cache/);
    await expect(loadPplSource('narrativeqa', { samples: 5, env })).rejects.toThrow(/narrativeqa/);
  });

  it('reads a .parquet file\'s "text" column, ids from "id" where present', async () => {
    const p = path.join(dir, 'books.parquet');
    writeFileSync(p, parquetBytes({ text: ['first book', 'second book', 'third book'], id: ['b1', 'b2', 'b3'] }));
    expect(await readLocalDocuments(p, 2)).toEqual([{ id: 'b1', text: 'first book' }, { id: 'b2', text: 'second book' }]);
    const noText = path.join(dir, 'notext.parquet');
    writeFileSync(noText, parquetBytes({ body: ['x'] }));
    await expect(readLocalDocuments(noText, 2)).rejects.toThrow(/notext\.parquet: row 0: column "text" must be a string/);
  });
});

describe('PG19 from the hub', () => {
  it('downloads emozilla/pg19-test once, reads the first books, and works offline from the cache after', async () => {
    const commit = 'c'.repeat(40);
    const books = ['The first book. '.repeat(50), 'The second book. '.repeat(50), 'The third book. '.repeat(50)];
    const hub = await startFakeHub([{ type: 'dataset', name: PG19.repo, commit, files: {
      [PG19.file]: parquetBytes({ text: books, short_book_title: ['One', 'Two', 'Three'] }),
    } }]);
    try {
      const cacheDir = path.join(dir, 'pg19-cache');
      const online = await loadPplSource('pg19', { samples: 2, env: hubEnv({ endpoint: hub.url, cacheDir, offline: false, token: undefined }) });
      expect(online.kind).toBe('pg19');
      expect(online.identity).toEqual({ repo: PG19.repo, file: PG19.file, commit });
      expect(online.documents).toEqual([{ id: 'pg19-0', text: books[0] }, { id: 'pg19-1', text: books[1] }]);
      const offline = await loadPplSource('pg19', { samples: 3, env: hubEnv({ endpoint: 'http://127.0.0.1:9', cacheDir, offline: true }) });
      expect(offline.documents.map((d) => d.id)).toEqual(['pg19-0', 'pg19-1', 'pg19-2']);
      expect(offline.identity).toEqual(online.identity);
    } finally {
      await hub.close();
    }
  });
});

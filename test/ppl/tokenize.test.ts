// Documents are tokenized from a prefix cut at a space well past the longest length: the kept tokens
// must be exactly the whole text's first tokens (word-level pre-tokenization never merges across it).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import { tokenizeDocuments } from '../../cli/runners/ppl.js';
import { hasStories, stories260K, tempRoot, words, writeModel } from './helpers.js';

describe('tokenizeDocuments', () => {
  it('keeps the whole text\'s first tokens, BOS included, for long and short documents', async () => {
    const tok = await loadTokenizer(writeModel(path.join(tempRoot(), 'model')));
    const docs = [{ id: 'long', text: words(7, 4000) }, { id: 'short', text: words(8, 30) }];
    for (const max of [64, 1000, 3000]) {
      const got = tokenizeDocuments(docs, tok, max);
      docs.forEach((d, i) => expect([...got[i]!]).toEqual([...tok.encode(d.text).slice(0, max)]));
    }
    expect(tokenizeDocuments(docs, tok, 64)[0]![0]).toBe(tok.bosId);
  });

  it.skipIf(!hasStories)('does the same with the stories260K tokenizer on punctuated prose', async () => {
    const tok = await loadTokenizer(stories260K);
    const text = Array.from({ length: 1200 }, (_, i) => `Tom saw ${i % 7} birds, and said: "Hello!" It was fun.\n`).join('');
    expect([...tokenizeDocuments([{ id: 'p', text }], tok, 2048)[0]!]).toEqual([...tok.encode(text).slice(0, 2048)]);
  });
});

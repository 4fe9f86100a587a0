// `pcomp ppl --protocol paper` on a seeded random model and NarrativeQA-format records: the story is
// cut to L tokens and put in narrativeqa's prompt; the perplexity is that of the question template's
// tokens (from the second on) after the context, which for full attention is exactly what one
// forward over the prompt gives.
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { EngineModel } from '../../engine/index.js';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import { registry } from '../../datasets/registry.js';
import { resolveConfig } from '../../engine/policy-config.js';
import { buildSample } from '../../cli/runners/sample.js';
import { cliEnv, pcomp, readNll, tempRoot, words, writeModel, type CliRun } from './helpers.js';

describe('pcomp ppl --protocol paper', () => {
  const root = tempRoot();
  const model = path.join(root, 'model');
  const data = path.join(root, 'narrativeqa.jsonl');
  const out = path.join(root, 'run');
  const records = [0, 1].map((i) => ({ _id: `nqa-${i}`, context: words(20 + i, 400), input: `who is ${words(30 + i, 3)}?`, answers: ['x'], length: 400 }));
  let run: CliRun;
  let tok: Tok;

  beforeAll(async () => {
    writeModel(model);
    writeFileSync(data, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    tok = await loadTokenizer(model);
    run = await pcomp(['ppl', '--model', model, '--data', data, '--len', '128,256', '--config', 'full', '--protocol', 'paper',
      '--out', out, '--threads', '1'], cliEnv(path.join(root, 'cache')));
  }, 120_000);

  it('scores the question template after the story cut to L tokens, as one forward over the prompt does', async () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const m = await EngineModel.load(model, { threads: 1 });
    try {
      for (const length of [128, 256])
        for (const [i, line] of readNll(out, 'full', length).entries()) {
          const story = tok.decode(tok.encode(records[i]!.context).subarray(0, length), { skipSpecialTokens: true });
          const built = buildSample({ task: registry().get('narrativeqa'), record: { ...records[i]!, context: story, all_classes: null, dataset: '', language: 'en' },
            tok, config: resolveConfig('full'), window: 256, maxNew: 0 });
          const prompt = Int32Array.from([...built.chunks.flatMap((c) => [...c]), ...built.question]);
          const nll = await m.nll(prompt);
          const q = built.question.length;
          const expected = nll.subarray(prompt.length - q).reduce((a, b) => a + b, 0) / (q - 1);
          expect(line.tokens).toBe(q - 1);
          expect(Math.abs(line.nll! - expected)).toBeLessThan(1e-3 * expected);
        }
    } finally {
      m.free();
    }
  });

  it('records the paper protocol in the manifest', async () => {
    const { readFileSync } = await import('node:fs');
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.settings.protocol).toBe('paper');
    expect(manifest.settings.evalTokens).toBeUndefined();
  });

  it('scores the re-encoded question under a chunked config: one kept chunk equals one forward over the prompt', async () => {
    // pcw with a single chunk keeps the whole story, drops the chunk's own copy of the question and
    // re-encodes the question right after it, so the question's NLL must equal full attention's.
    const pcw = path.join(root, 'pcw');
    const r = await pcomp(['ppl', '--model', model, '--data', data, '--len', '128,256', '--config', 'pcw', '--set', 'chunk.count=1',
      '--protocol', 'paper', '--out', pcw, '--threads', '1'], cliEnv(path.join(root, 'cache')));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const length of [128, 256]) {
      const full = readNll(out, 'full', length);
      const chunked = readNll(pcw, 'pcw', length);
      expect(chunked.length).toBe(full.length);
      for (const [i, line] of chunked.entries()) {
        expect(line.tokens).toBe(full[i]!.tokens);
        expect(Math.abs(line.nll! - full[i]!.nll!)).toBeLessThan(1e-4 * full[i]!.nll!);
      }
    }
  }, 120_000);

  it('runs parallelcomp under the paper protocol over several chunks', async () => {
    const pc = path.join(root, 'pc');
    const r = await pcomp(['ppl', '--model', model, '--data', data, '--len', '256', '--config', 'parallelcomp', '--set', 'chunk.budget=150',
      '--protocol', 'paper', '--out', pc, '--threads', '1'], cliEnv(path.join(root, 'cache')));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = readNll(pc, 'parallelcomp', 256);
    expect(lines.length).toBe(records.length);
    for (const line of lines) expect(Number.isFinite(line.nll) && line.nll! > 0).toBe(true);
  }, 120_000);
});

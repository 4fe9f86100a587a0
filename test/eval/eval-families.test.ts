// `pcomp eval` and `pcomp ppl` (the CLI as a child process) running ParallelComp on a seeded random
// model of each family issue 19 added: Qwen3 (no BOS from its tokenizer), Qwen3 / Llama with
// rope_scaling yarn, and Phi-3 with partial rotary and LongRoPE (its Llama-style tokenizer adds <s>). Correctness of the numbers is the oracle's business (test/engine/families-vs-oracle,
// test/pipeline/pipeline-vs-reference); this checks the whole path runs for each family: every sample
// lands with several chunks of which the top ones are kept, the ppl table has a finite value per length,
// and the per-family BOS rule reaches the engine (Qwen3 prompts and chunks start without one).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import type { TinyModelSpec } from '../oracle/model-writer.js';
import { cliEnv, pcomp, readPredictions, removeTempRoots, tempRoot, writeDataDir, writeModel, type CliRun } from './helpers.js';
import { readNll, readPplCsv, words } from '../ppl/helpers.js';

afterAll(removeTempRoots);

const families: [string, TinyModelSpec, boolean][] = [
  ['qwen3', { architecture: 'Qwen3ForCausalLM', headDim: 16, seed: 51, maxPositionEmbeddings: 256 }, false],
  ['qwen3-yarn', {
    architecture: 'Qwen3ForCausalLM', headDim: 16, seed: 52, maxPositionEmbeddings: 256,
    ropeScaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64 },
  }, false],
  ['phi3-partial-longrope', {
    architecture: 'Phi3ForCausalLM', numHeads: 2, numKvHeads: 1, seed: 54, maxPositionEmbeddings: 256,
    partialRotaryFactor: 0.75, originalMaxPositionEmbeddings: 64,
    ropeScaling: { rope_type: 'longrope', short_factor: [1, 1.1, 1.2, 1.3, 1.4, 1.5], long_factor: [1, 2, 3, 4, 5, 6] },
  }, true],
  ['llama-yarn', { seed: 53, maxPositionEmbeddings: 256, ropeScaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64 } }, true],
];

for (const [name, spec, addsBos] of families) {
  describe(`pcomp eval and ppl with ParallelComp on a seeded random ${name}`, () => {
    const root = tempRoot(`pcomp-fam-${name}-`);
    const model = path.join(root, 'model');
    const env = cliEnv(path.join(root, 'cache'));
    let evalRun: CliRun;
    let pplRun: CliRun;

    beforeAll(async () => {
      writeModel(model, spec);
      writeDataDir(path.join(root, 'data'), { trec: 2, passage_retrieval_en: 1 }, { contextWords: 120 });
      writeFileSync(path.join(root, 'docs.jsonl'), [1, 2].map((i) => JSON.stringify({ id: `d${i}`, text: words(i, 500) })).join('\n') + '\n');
      evalRun = await pcomp(['eval', 'longbench', '--model', model, '--config', 'parallelcomp', '--tasks', 'trec,passage_retrieval_en',
        '--data-dir', path.join(root, 'data'), '--out', path.join(root, 'eval'), '--set', 'chunk.budget=200',
        '--max-new-tokens', '4', '--threads', '1'], env);
      pplRun = await pcomp(['ppl', '--model', model, '--data', path.join(root, 'docs.jsonl'), '--len', '256,512',
        '--config', 'parallelcomp', '--eval-tokens', '32', '--query-tokens', '16', '--out', path.join(root, 'ppl'), '--threads', '1'], env);
    }, 240_000);

    it(`the tokenizer ${addsBos ? 'adds' : 'adds no'} BOS`, async () => {
      const tok = await loadTokenizer(model);
      const ids = tok.encode('the river');
      expect(ids[0] === 1).toBe(addsBos);
    });

    it('eval: every sample lands, chunked, with the top chunks kept', () => {
      expect(evalRun.stderr).toBe('');
      expect(evalRun.code).toBe(0);
      for (const [task, n, k] of [['trec', 2, 3], ['passage_retrieval_en', 1, 1]] as const) {
        const lines = readPredictions(path.join(root, 'eval'), 'parallelcomp', task);
        expect(lines).toHaveLength(n);
        for (const l of lines) {
          expect(l.chunks).toBeGreaterThan(1);
          expect(l.kept_chunks).toHaveLength(Math.min(l.chunks!, k));
          expect(l.generated_tokens).toBeGreaterThan(0);
        }
      }
    });

    it('ppl: a finite perplexity per length from scored documents', () => {
      expect(pplRun.stderr).toBe('');
      expect(pplRun.code).toBe(0);
      const csv = readPplCsv(path.join(root, 'ppl'));
      for (const len of [256, 512]) {
        const row = csv.get(`parallelcomp/${len}`)!;
        expect(row.samples).toBe(2);
        expect(Number.isFinite(row.ppl) && row.ppl > 1).toBe(true);
        const lines = readNll(path.join(root, 'ppl'), 'parallelcomp', len);
        expect(lines.every((l) => Number.isFinite(l.nll) && l.tokens === 32)).toBe(true);
      }
      // Past the 256-token window the context is cut into chunks.
      expect(readNll(path.join(root, 'ppl'), 'parallelcomp', 512).every((l) => (l.chunks ?? 0) > 1)).toBe(true);
    });
  });
}

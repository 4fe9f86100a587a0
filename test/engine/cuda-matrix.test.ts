// The whole pipeline matrix on the GPU against the CPU: every preset, through EngineModel.run on a
// model loaded with device cuda and the same model on the CPU (the one engine on two backends, so
// only the ops differ). Runs only where a usable GPU is present (scripts/gpu-check.sh runs it);
// elsewhere it is skipped with the reason. Tolerances as test/native/test_cuda_capi.cpp (bf16 K/V and
// tensor-core inputs on the GPU): chunk scores within 2e-2 relative, the same kept chunks unless the
// CPU's k-th and (k+1)-th scores are within 4e-2, then the re-encoded question's NLL within 0.05 nats
// on average and the first generated token equal.
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { EngineModel, buildInfo } from '../../engine/index.js';
import { presetNames, resolveConfig } from '../../engine/policy-config.js';
import { writeTinyModel } from '../oracle/model-writer.js';
import { seededTokens, tempDir } from './helpers.js';

const info = buildInfo();
const gpu = info.cuda_available;
const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe.skipIf(!gpu)(`every preset on cuda against cpu${gpu ? '' : ` (skipped: ${info.cuda_reason})`}`, () => {
  const dir = writeTinyModel(path.join(tmp.dir, 'm'), { seed: 5, numLayers: 32 }).dir;  // the paper's calibration layers
  for (const name of presetNames()) {
    it(name, async () => {
      const cpu = await EngineModel.load(dir, { device: 'cpu' });
      const cuda = await EngineModel.load(dir, { device: 'cuda' });
      try {
        expect(cuda.info.device).toBe('cuda');
        const V = cpu.info.vocab_size;
        const sample = {
          chunks: [120, 90, 150, 70].map((n, i) => seededTokens(n, V, 30 + i)),
          question: seededTokens(12, V, 40),
          maxNewTokens: 6,
        };
        const config = resolveConfig(name, ['chunk.parallel=2', 'chunkEvict.k=2']);
        const a = await cpu.run(sample, config);
        const b = await cuda.run(sample, config);
        const ta = a.trace as Record<string, number[]>, tb = b.trace as Record<string, number[]>;
        expect(tb.chunkScores.length).toBe(ta.chunkScores.length);
        ta.chunkScores.forEach((s, i) => expect(Math.abs(tb.chunkScores[i]! - s)).toBeLessThanOrEqual(2e-2 * Math.max(1, Math.abs(s))));
        if (JSON.stringify(ta.keptChunks) !== JSON.stringify(tb.keptChunks)) {
          const sorted = [...ta.chunkScores].sort((x, y) => x - y);
          const k = ta.keptChunks.length;
          expect(k < sorted.length && sorted[k]! - sorted[k - 1]! <= 4e-2 * Math.max(1, Math.abs(sorted[k - 1]!))).toBe(true);
          return;
        }
        const qa = (ta.questionNll ?? []).filter((x) => x !== null), qb = (tb.questionNll ?? []).filter((x) => x !== null);
        expect(qb.length).toBe(qa.length);
        if (qa.length) expect(qa.reduce((s, x, i) => s + Math.abs(x - qb[i]!), 0) / qa.length).toBeLessThanOrEqual(0.05);
        if (a.tokens.length && b.tokens.length) expect(b.tokens[0]).toBe(a.tokens[0]);
      } finally {
        cpu.free();
        cuda.free();
      }
    });
  }
});

// Shared helpers for the pipeline tests: seeded tiny models and samples, the engine run in the
// reference pipeline's shape, and comparisons against referencePipeline (test/oracle/policies).
import path from 'node:path';
import { EngineModel, type RunResult } from '../../engine/index.js';
import { resolveConfig } from '../../engine/policy-config.js';
import { writeTinyModel, type TinyModelSpec } from '../oracle/model-writer.js';
import { mulberry32 } from '../oracle/prng.js';
import type { PipelineResult, PipelineSample } from '../oracle/policies/pipeline.js';

export const BOS = 1;

export function tinyModel(root: string, name: string, spec: TinyModelSpec = {}): string {
  return writeTinyModel(path.join(root, name), { seed: 7, numLayers: 3, weightStd: 0.3, ...spec }).dir;
}

export function randomTokens(rand: () => number, n: number): number[] {
  return Array.from({ length: n }, () => 3 + Math.floor(rand() * 290));
}

/** Chunks of the given lengths (BOS first) and a question, as the reference pipeline tests build them. */
export function makeSample(lengths: number[], seed = 11, questionLength = 6, maxNew = 4): PipelineSample {
  const rand = mulberry32(seed);
  return { chunks: lengths.map((n) => [BOS, ...randomTokens(rand, n - 1)]), question: randomTokens(rand, questionLength), maxNew, stopIds: [] };
}

export interface EngineRun extends RunResult {
  trace: Record<string, unknown> & {
    chunkScores: number[];
    keptChunks: number[];
    kvKept: number[][][][];
    globalCache: [number, number][][][];
    finalCache: [number, number][][][];
    questionStart: number;
    questionPositions: number[];
    generatedPositions: number[];
    finalTopLogits: [number, number][];
    peakCacheBytes: number;
    freedChunks: number[];
  };
}

/** Runs the engine on a reference sample; like the TS prompt builder, prefixes the question with BOS under global.questionBos. */
export async function engineRun(model: EngineModel, s: PipelineSample, config: Record<string, unknown>, evalTokens?: number[]): Promise<EngineRun> {
  const question = config['global.questionBos'] ? [BOS, ...s.question] : s.question;
  const r = await model.run(
    {
      chunks: s.chunks.map((c) => Int32Array.from(c)),
      question: Int32Array.from(question),
      maxNewTokens: s.maxNew,
      stopIds: s.stopIds ?? [],
      evalTokens: evalTokens ? Int32Array.from(evalTokens) : undefined,
      retrieval: s.retrieval,
    },
    config,
  );
  return r as EngineRun;
}

export const config = (preset: string, sets: string[] = []) => resolveConfig(preset, sets);

/** Largest |engine - reference| / max |reference logit| over the engine's top logits. */
export function topLogitError(run: EngineRun, ref: PipelineResult): number {
  let den = 0;
  for (const v of ref.finalLogits) den = Math.max(den, Math.abs(v));
  let num = 0;
  for (const [id, logit] of run.trace.finalTopLogits) num = Math.max(num, Math.abs(logit - ref.finalLogits[id]!));
  return num / den;
}

/** The generated tokens the reference would return without its trailing stop id (none in these tests). */
export function refGenerated(ref: PipelineResult): number[] {
  return ref.generated;
}

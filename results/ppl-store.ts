// Perplexity results in a run directory of kind "ppl": nll/<config>/<length>.jsonl holds one line per
// sample (mean NLL per evaluated token and the token count, or why it was skipped). The curve
// points are derived from those lines only, so they can always be rebuilt.
import type { RunIdentity } from './manifest.js';
import { RunDir, readManifest, readRunLines, type NllLine, type ProvenanceFields } from './run-dir.js';
import { UserError } from '../util/errors.js';

export interface PplPoint {
  config: string;
  /** Context length in tokens. */
  length: number;
  /** exp(token-weighted mean NLL) over the used samples. */
  ppl: number;
  /** Samples used / skipped (shorter than the length, never padded). */
  samples: number;
  skipped: number;
  tokens: number;
}

export function lengthUnit(length: number): string {
  if (!Number.isInteger(length) || length <= 0) throw new Error(`length must be a positive integer, got ${length}`);
  return String(length);
}

export class PplStore {
  private constructor(readonly run: RunDir<NllLine>) {}

  static open(dir: string, identity: Omit<RunIdentity, 'kind'>, provenance: ProvenanceFields = {}): PplStore {
    return new PplStore(RunDir.open<NllLine>(dir, { ...identity, kind: 'ppl' }, provenance));
  }

  plan(length: number, sampleIds: readonly string[]): string[] {
    return this.run.plan(lengthUnit(length), sampleIds);
  }

  pending(config: string, length: number): string[] {
    return this.run.pending(config, lengthUnit(length));
  }

  append(config: string, length: number, line: NllLine): void {
    if (line.skipped === undefined && !(Number.isFinite(line.nll) && Number.isInteger(line.tokens) && (line.tokens ?? 0) > 0))
      throw new Error(`ppl line ${line._id}: needs a finite nll and a positive token count, or a skipped reason`);
    this.run.append(config, lengthUnit(length), line);
  }

  finish(stats: Parameters<RunDir['finish']>[0] = {}): void {
    this.run.finish(stats);
  }
}

/** Aggregates NLL lines into one point per config × length. Lengths with no used sample are left out. */
export function pplPoints(groups: Array<{ config: string; unit: string; lines: NllLine[] }>): PplPoint[] {
  const points: PplPoint[] = [];
  for (const { config, unit, lines } of groups) {
    const length = Number(unit);
    let nllSum = 0;
    let tokens = 0;
    let samples = 0;
    let skipped = 0;
    for (const line of lines) {
      if (line.skipped !== undefined) {
        skipped++;
        continue;
      }
      nllSum += (line.nll as number) * (line.tokens as number);
      tokens += line.tokens as number;
      samples++;
    }
    if (samples > 0) points.push({ config, length, ppl: Math.exp(nllSum / tokens), samples, skipped, tokens });
  }
  // Configs keep the order they were run in; lengths ascend.
  const configOrder = [...new Set(groups.map((g) => g.config))];
  return points.sort((a, b) => configOrder.indexOf(a.config) - configOrder.indexOf(b.config) || a.length - b.length);
}

/** Reads a ppl run directory back into curve points. */
export function readPplPoints(dir: string): PplPoint[] {
  const manifest = readManifest(dir);
  if (manifest.kind !== 'ppl') throw new UserError(`${dir}/manifest.json: field "kind" is ${JSON.stringify(manifest.kind)}, a perplexity run has "ppl"`);
  return pplPoints(readRunLines<NllLine>(dir));
}

// What the reproduction must show, on the built-in model (models/tiny, trained on 512 tokens), through
// `pcomp reproduce --quick` exactly as CI runs it:
//   - passkey at 16x the training length (8K tokens): ParallelComp's accuracy is high where full attention
//     with truncation (FullKV) and plain position extrapolation (the whole prompt, positions as they are) fail
//   - perplexity: full attention reading the whole text explodes past 512 tokens; ParallelComp's does not
// docs/reproduction.md records the full tables these come from.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, pcomp, repoRoot, tempRoot, type CliRun } from '../eval/helpers.js';

const hasBuiltin = existsSync(path.join(repoRoot, 'models/tiny/model.safetensors'));

/**
 * Passkey accuracy ParallelComp reaches at least, and the baselines at most (%, of 10 records each, the needle at
 * evenly spread depths 0..100 %: FullKV's middle truncation keeps the two at the ends, so 20 % is its floor).
 */
const SAMPLES = 10;
const PARALLELCOMP_AT_LEAST = 80;
const BASELINES_AT_MOST = 20;
/** Full attention's perplexity at 8K is at least this multiple of its 512-token value; ParallelComp's stays within the other. */
const FULL_EXPLODES = 10;
const PARALLELCOMP_STAYS_WITHIN = 1.5;

function csvTable(file: string): Array<Record<string, string>> {
  const [head, ...rows] = readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(head!.map((h, i) => [h, r[i]!])));
}

describe.skipIf(!hasBuiltin)('the paper\'s claims on builtin:tiny (pcomp reproduce --quick)', () => {
  const root = tempRoot('pcomp-repro-tiny-');
  const out = path.join(root, 'out');
  const env = cliEnv(path.join(root, 'cache'), { HF_HUB_OFFLINE: '1' });
  let ib: CliRun;
  let ppl: CliRun;

  beforeAll(async () => {
    ib = await pcomp(['reproduce', 't-ib', '--quick', '--samples', String(SAMPLES), '--out', out, '--threads', '2'], env);
    ppl = await pcomp(['reproduce', 't-ppl', '--quick', '--out', out, '--threads', '2'], env);
    console.log(`${readFileSync(path.join(out, 't-ib.md'), 'utf8')}\n${readFileSync(path.join(out, 't-ppl.md'), 'utf8')}`);
  }, 600_000);

  it('passkey at 16x: ParallelComp high, FullKV and plain extrapolation fail', () => {
    expect(ib.stderr).toBe('');
    expect(ib.code).toBe(0);
    const at = (config: string) => {
      const row = csvTable(path.join(out, 't-ib.csv')).find((r) => r.config === config && r.task === 'passkey' && r.length === '8192');
      expect(row, config).toBeDefined();
      expect(row!.samples).toBe(String(SAMPLES));
      return Number(row!.accuracy);
    };
    expect(at('parallelcomp')).toBeGreaterThanOrEqual(PARALLELCOMP_AT_LEAST);
    expect(at('full')).toBeLessThanOrEqual(BASELINES_AT_MOST);
    expect(at('extrapolate')).toBeLessThanOrEqual(BASELINES_AT_MOST);
    expect(at('parallelcomp')).toBeGreaterThanOrEqual(3 * Math.max(at('full'), at('extrapolate')));
  });

  it('perplexity: full attention explodes past 512 tokens, ParallelComp stays near its 512-token value', () => {
    expect(ppl.stderr).toBe('');
    expect(ppl.code).toBe(0);
    const rows = csvTable(path.join(out, 't-ppl.csv'));
    const at = (config: string, length: number) => Number(rows.find((r) => r.config === config && r.length === String(length))!.ppl);
    expect(at('full', 2048)).toBeGreaterThan(at('full', 512));
    expect(at('full', 8192)).toBeGreaterThan(FULL_EXPLODES * at('full', 512));
    for (const length of [2048, 8192]) expect(at('parallelcomp', length)).toBeLessThan(PARALLELCOMP_STAYS_WITHIN * at('parallelcomp', 512));
    expect(at('parallelcomp', 8192)).toBeLessThan(at('full', 8192));
  });
});

describe.runIf(!hasBuiltin)('the paper\'s claims on builtin:tiny', () => {
  it.skip('models/tiny is not in this checkout yet (trained by scripts/train-builtin, docs/builtin-model.md): skipped until it is committed', () => {});
});

// Every bad model input gets a clear error naming the file and the tensor or field, a UserError
// (non-zero exit in the CLI), and never a crash of the Node process.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { EngineModel } from '../../engine/index.js';
import { UserError } from '../../util/errors.js';
import { writeTinyModel } from '../oracle/model-writer.js';
import * as corrupt from '../oracle/corrupt-files.js';
import type { Breakage } from '../oracle/corrupt-files.js';
import { repoRoot, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let n = 0;
const fresh = (spec = {}) => writeTinyModel(path.join(tmp.dir, `m${n++}`), { seed: 5, ...spec }).dir;

async function loadError(dir: string): Promise<UserError> {
  try {
    const m = await EngineModel.load(dir);
    m.free();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error(`expected loading ${dir} to fail`);
}

function expectNames(err: UserError, b: Breakage): void {
  expect(err.message).toContain(b.file);
  if (b.name) expect(err.message).toContain(b.name);
}

describe('bad model inputs', () => {
  const cases: [string, (dir: string) => Breakage, RegExp][] = [
    ['truncated data section', (d) => corrupt.truncateSafetensors(d, 'data'), /out of bounds|truncated/],
    ['truncated header', (d) => corrupt.truncateSafetensors(d, 'header'), /header/],
    ['header offsets out of bounds', (d) => corrupt.offsetsOutOfBounds(d, 'model.layers.0.self_attn.k_proj.weight'), /out of bounds/],
    ['header length larger than the file', (d) => corrupt.headerLengthTooLarge(d), /exceeds the file size/],
    ['tensor shape disagreeing with config.json', (d) => corrupt.shapeMismatch(d, 'model.layers.1.mlp.up_proj.weight'), /has shape .* but config.json implies/],
    ['unsupported dtype', (d) => corrupt.unsupportedDtype(d, 'model.norm.weight'), /unsupported dtype "F64"/],
    ['missing tensor', (d) => corrupt.removeTensor(d, 'model.layers.0.mlp.down_proj.weight'), /missing/],
    ['unsupported architecture', (d) => corrupt.unsupportedArchitecture(d), /unsupported architecture "GPT2LMHeadModel"/],
    ['config field of the wrong type', (d) => corrupt.editConfig(d, 'hidden_size', 'sixty-four'), /"hidden_size"/],
    ['missing config field', (d) => corrupt.editConfig(d, 'num_hidden_layers', null), /missing field "num_hidden_layers"/],
  ];
  for (const [name, breakIt, pattern] of cases) {
    it(`${name}: UserError naming the file and the tensor/field`, async () => {
      const dir = fresh();
      const b = breakIt(dir);
      const err = await loadError(dir);
      expect(err.message).toMatch(pattern);
      expectNames(err, b);
    });
  }

  it('a shard listed in the index but absent is named', async () => {
    const dir = fresh({ shards: 2 });
    const { rmSync } = await import('node:fs');
    const shard = path.join(dir, 'model-00002-of-00002.safetensors');
    rmSync(shard);
    const err = await loadError(dir);
    expect(err.message).toContain(shard);
  });

  it('a token id outside the vocabulary is rejected without a crash', async () => {
    const m = await EngineModel.load(fresh());
    await expect(m.logits([{ tokens: Int32Array.of(1, 99999) }])).rejects.toThrow(/outside the vocabulary/);
    m.free();
  });

  it('the CLI exits non-zero with the message and no stack trace (missing tokenizer, corrupt weights)', () => {
    const dir = fresh();
    corrupt.removeTokenizer(dir, true);
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/pcomp.js'), 'generate', '--model', dir, '-n', '3'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/tokenizer/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const dir2 = fresh();
    const b = corrupt.truncateSafetensors(dir2, 'data');
    const r2 = spawnSync(process.execPath, [path.join(repoRoot, 'bin/pcomp.js'), 'generate', '--model', dir2, '-n', '3'], { encoding: 'utf8' });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain(b.file);
    expect(r2.stderr).not.toMatch(/\n\s+at /);
  });
});

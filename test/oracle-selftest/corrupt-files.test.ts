import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  headerLengthTooLarge, offsetsOutOfBounds, removeTensor, removeTokenizer, shapeMismatch,
  truncateSafetensors, unsupportedArchitecture, unsupportedDtype,
} from '../oracle/corrupt-files.js';
import { ReferenceModel } from '../oracle/forward.js';
import { writeTinyModel } from '../oracle/model-writer.js';
import { parseSafetensors, readTensor } from '../oracle/safetensors.js';
import { useTempDirs } from './temp-dirs.js';

const tempDir = useTempDirs();
const fresh = (spec = {}) => {
  const dir = tempDir();
  writeTinyModel(dir, spec);
  return dir;
};
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const Q0 = 'model.layers.0.self_attn.q_proj.weight';

/** The data section must cover every header entry; this says which entries it does not. */
function entriesPastEnd(file: string): string[] {
  const parsed = parseSafetensors(file);
  const dataLength = parsed.bytes.length - parsed.dataStart;
  return Object.entries(parsed.header).filter(([, e]) => e.data_offsets[1] > dataLength).map(([n]) => n);
}

describe('corrupt-file helpers break exactly what they say', () => {
  it('truncateSafetensors("data") cuts the last tensor short, keeping the header', () => {
    const dir = fresh();
    const broken = truncateSafetensors(dir, 'data');
    expect(broken).toEqual({ file: path.join(dir, 'model.safetensors'), name: 'lm_head.weight' });
    expect(entriesPastEnd(broken.file)).toEqual(['lm_head.weight']);
  });

  it('truncateSafetensors("header") cuts inside the JSON header', () => {
    const dir = fresh();
    const { file } = truncateSafetensors(dir, 'header');
    const bytes = readFileSync(file);
    expect(bytes.length).toBeLessThan(8 + Number(bytes.readBigUInt64LE(0)));
  });

  it('offsetsOutOfBounds moves one entry past the end and leaves the others readable', () => {
    const dir = fresh();
    const before = readTensor(parseSafetensors(path.join(dir, 'model.safetensors')), 'model.norm.weight').values;
    const broken = offsetsOutOfBounds(dir, Q0);
    expect(entriesPastEnd(broken.file)).toEqual([Q0]);
    expect(readTensor(parseSafetensors(broken.file), 'model.norm.weight').values).toEqual(before);
  });

  it('headerLengthTooLarge declares a header longer than the file', () => {
    const { file } = headerLengthTooLarge(fresh());
    expect(Number(readFileSync(file).readBigUInt64LE(0))).toBeGreaterThan(statSync(file).size);
  });

  it('shapeMismatch writes a well-formed file whose tensor shape disagrees with config.json', () => {
    const dir = fresh({ hiddenSize: 32, numHeads: 4 });
    const broken = shapeMismatch(dir, Q0);
    expect(entriesPastEnd(broken.file)).toEqual([]);
    const entry = parseSafetensors(broken.file).header[Q0];
    expect(entry.shape).toEqual([31, 32]);
    expect(entry.data_offsets[1] - entry.data_offsets[0]).toBe(31 * 32 * 4);
  });

  it('unsupportedDtype re-stores a tensor as F64 with the same values', () => {
    const dir = fresh();
    const file = path.join(dir, 'model.safetensors');
    const before = readTensor(parseSafetensors(file), Q0).values;
    unsupportedDtype(dir, Q0);
    const parsed = parseSafetensors(file);
    const entry = parsed.header[Q0];
    expect(entry.dtype).toBe('F64');
    const data = parsed.bytes.subarray(parsed.dataStart + entry.data_offsets[0], parsed.dataStart + entry.data_offsets[1]);
    expect(data.length).toBe(before.length * 8);
    expect(data.readDoubleLE(8 * 5)).toBe(before[5]);
  });

  it('removeTensor drops a tensor from a single file (the oracle then fails naming it)', () => {
    const dir = fresh();
    removeTensor(dir, 'model.norm.weight');
    expect(parseSafetensors(path.join(dir, 'model.safetensors')).header).not.toHaveProperty('model.norm.weight');
    expect(() => ReferenceModel.load(dir)).toThrow('model.norm.weight');
  });

  it('removeTensor on a sharded model drops it from shard and index, or from the shard only', () => {
    const dir = fresh({ shards: 2 });
    const broken = removeTensor(dir, Q0);
    expect(broken.file).toBe(path.join(dir, 'model.safetensors.index.json'));
    expect(readJson(broken.file).weight_map).not.toHaveProperty(Q0);

    const other = fresh({ shards: 2 });
    const kept = removeTensor(other, Q0, { keepInIndex: true });
    expect(readJson(path.join(other, 'model.safetensors.index.json')).weight_map[Q0]).toBe(path.basename(kept.file));
    expect(parseSafetensors(kept.file).header).not.toHaveProperty(Q0);
  });

  it('unsupportedArchitecture and removeTokenizer', () => {
    const dir = fresh();
    expect(unsupportedArchitecture(dir).name).toBe('architectures');
    expect(readJson(path.join(dir, 'config.json')).architectures).toEqual(['GPT2LMHeadModel']);
    removeTokenizer(dir);
    expect(existsSync(path.join(dir, 'tokenizer.json'))).toBe(false);
    expect(existsSync(path.join(dir, 'tokenizer_config.json'))).toBe(true);
  });
});

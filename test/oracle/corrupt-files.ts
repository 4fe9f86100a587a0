/**
 * Deliberately broken model folders for the engine's error tests. Each helper edits a folder written by
 * writeTinyModel and returns what it broke (file, tensor, field), so a test can check that the error
 * message names exactly that.
 */
import { readFileSync, rmSync, truncateSync, writeFileSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { assembleSafetensors, parseSafetensors, withHeader, type HeaderEntry, type RawTensor } from './safetensors.js';

export interface Breakage {
  /** The file a good error message should name (absolute). */
  file: string;
  /** The tensor or config field it should name, when there is one. */
  name?: string;
}

/** Which file holds `tensor` (model.safetensors, or the shard the index points to). */
export function fileHolding(dir: string, tensor: string): string {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (!existsSync(index)) return path.join(dir, 'model.safetensors');
  const weightMap = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
  const file = weightMap[tensor];
  if (!file) throw new Error(`oracle: ${tensor} not in ${index}`);
  return path.join(dir, file);
}

function rawTensors(file: string): RawTensor[] {
  const parsed = parseSafetensors(file);
  return Object.entries(parsed.header)
    .sort(([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0])
    .map(([name, e]) => ({
      name,
      dtype: e.dtype,
      shape: e.shape,
      data: parsed.bytes.subarray(parsed.dataStart + e.data_offsets[0], parsed.dataStart + e.data_offsets[1]),
    }));
}

/** Cuts a safetensors file short. 'data' keeps the header but loses the last tensor's tail; 'header' cuts inside the JSON. */
export function truncateSafetensors(dir: string, where: 'data' | 'header' = 'data', tensor = 'lm_head.weight'): Breakage {
  const file = existsSync(path.join(dir, 'model.safetensors')) ? path.join(dir, 'model.safetensors') : fileHolding(dir, tensor);
  if (where === 'header') {
    const headerLength = Number(readFileSync(file).readBigUInt64LE(0));
    truncateSync(file, 8 + Math.floor(headerLength / 2));
    return { file };
  }
  const last = rawTensors(file).at(-1)!;
  truncateSync(file, statSync(file).size - Math.ceil(last.data.length / 2));
  return { file, name: last.name };
}

/** Rewrites a header entry (keeping the data bytes) so that it points `extraBytes` past the end of the file. */
export function offsetsOutOfBounds(dir: string, tensor: string, extraBytes = 4096): Breakage {
  const file = fileHolding(dir, tensor);
  const parsed = parseSafetensors(file);
  const header: Record<string, HeaderEntry | object> = { __metadata__: { format: 'pt' }, ...parsed.header };
  const entry = parsed.header[tensor];
  const dataLength = parsed.bytes.length - parsed.dataStart;
  const length = entry.data_offsets[1] - entry.data_offsets[0];
  header[tensor] = { ...entry, data_offsets: [dataLength + extraBytes - length, dataLength + extraBytes] };
  writeFileSync(file, withHeader(header, parsed.bytes.subarray(parsed.dataStart)));
  return { file, name: tensor };
}

/** A header whose declared length is larger than the whole file. */
export function headerLengthTooLarge(dir: string): Breakage {
  const file = path.join(dir, 'model.safetensors');
  const bytes = readFileSync(file);
  bytes.writeBigUInt64LE(BigInt(bytes.length * 2), 0);
  writeFileSync(file, bytes);
  return { file };
}

/**
 * Rewrites one tensor with a shape that disagrees with config.json (its first dimension one short),
 * as a well-formed file: only the config comparison can catch it.
 */
export function shapeMismatch(dir: string, tensor: string): Breakage {
  const file = fileHolding(dir, tensor);
  const tensors = rawTensors(file).map((t) => {
    if (t.name !== tensor) return t;
    const rowBytes = t.data.length / t.shape[0];
    return { ...t, shape: [t.shape[0] - 1, ...t.shape.slice(1)], data: t.data.subarray(0, t.data.length - rowBytes) };
  });
  writeFileSync(file, assembleSafetensors(tensors));
  return { file, name: tensor };
}

/** Re-stores one tensor in a dtype the engine does not accept (F64 by default, or I32), as a well-formed file. */
export function unsupportedDtype(dir: string, tensor: string, dtype: 'F64' | 'I32' = 'F64'): Breakage {
  const file = fileHolding(dir, tensor);
  const tensors = rawTensors(file).map((t) => {
    if (t.name !== tensor) return t;
    if (t.dtype !== 'F32') throw new Error('oracle: unsupportedDtype expects an f32 model');
    const count = t.data.length / 4;
    const data = Buffer.alloc(count * (dtype === 'F64' ? 8 : 4));
    for (let i = 0; i < count; i++) {
      const v = t.data.readFloatLE(i * 4);
      if (dtype === 'F64') data.writeDoubleLE(v, i * 8);
      else data.writeInt32LE(Math.round(v * 1000), i * 4);
    }
    return { ...t, dtype, data };
  });
  writeFileSync(file, assembleSafetensors(tensors));
  return { file, name: tensor };
}

/** Removes a tensor from its file (and, when sharded, from the index too unless keepInIndex). */
export function removeTensor(dir: string, tensor: string, opts: { keepInIndex?: boolean } = {}): Breakage {
  const file = fileHolding(dir, tensor);
  writeFileSync(file, assembleSafetensors(rawTensors(file).filter((t) => t.name !== tensor)));
  const index = path.join(dir, 'model.safetensors.index.json');
  if (existsSync(index) && !opts.keepInIndex) {
    const parsed = JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
    delete parsed.weight_map[tensor];
    writeFileSync(index, JSON.stringify(parsed, null, 2));
    return { file: index, name: tensor };
  }
  return { file, name: tensor };
}

/** Sets a config.json field (e.g. architectures to ['GPT2LMHeadModel'], or hidden_size to a wrong value). */
export function editConfig(dir: string, field: string, value: unknown): Breakage {
  const file = path.join(dir, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (value === undefined) delete config[field];
  else config[field] = value;
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, name: field };
}

export function unsupportedArchitecture(dir: string, architecture = 'GPT2LMHeadModel'): Breakage {
  return editConfig(dir, 'architectures', [architecture]);
}

/** Deletes tokenizer.json (and tokenizer_config.json too when `both`). */
export function removeTokenizer(dir: string, both = false): Breakage {
  const file = path.join(dir, 'tokenizer.json');
  rmSync(file);
  if (both) rmSync(path.join(dir, 'tokenizer_config.json'));
  return { file };
}

/**
 * Adds a well-formed extra tensor (f32 zeros, or `fill`) at the end of the file holding `near`
 * (model.safetensors, or that shard, listed in the index too), e.g. 'foo.bar' or an
 * 'o_proj.bias' the config does not ask for.
 */
export function addTensor(dir: string, name: string, shape: number[], opts: { near?: string; fill?: number } = {}): Breakage {
  const file = fileHolding(dir, opts.near ?? 'model.norm.weight');
  const count = shape.reduce((a, b) => a * b, 1);
  const data = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) data.writeFloatLE(opts.fill ?? 0, i * 4);
  writeFileSync(file, assembleSafetensors([...rawTensors(file), { name, dtype: 'F32', shape, data }]));
  const index = path.join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const parsed = JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
    parsed.weight_map[name] = path.basename(file);
    writeFileSync(index, JSON.stringify(parsed, null, 2));
  }
  return { file, name };
}

/**
 * Moves one tensor's data_offsets `bytes` earlier (same length), so that it shares bytes with the
 * tensor before it; the header is otherwise untouched, so the overlap is the first thing wrong.
 */
export function overlapOffsets(dir: string, tensor: string, bytes = 4): Breakage {
  const file = fileHolding(dir, tensor);
  const parsed = parseSafetensors(file);
  const entry = parsed.header[tensor];
  if (entry.data_offsets[0] < bytes) throw new Error(`oracle: ${tensor} is first in its file; nothing to overlap`);
  const header: Record<string, HeaderEntry | object> = { __metadata__: { format: 'pt' }, ...parsed.header };
  header[tensor] = { ...entry, data_offsets: [entry.data_offsets[0] - bytes, entry.data_offsets[1] - bytes] };
  writeFileSync(file, withHeader(header, parsed.bytes.subarray(parsed.dataStart)));
  return { file, name: tensor };
}

/** Appends bytes after the last tensor's data (named in the result: the tensor they follow). */
export function trailingData(dir: string, bytes = 16, tensor = 'lm_head.weight'): Breakage {
  const file = fileHolding(dir, tensor);
  const last = rawTensors(file).at(-1)!;
  writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.alloc(bytes, 0x5a)]));
  return { file, name: last.name };
}

/** Inserts `bytes` unused bytes right after `tensor`'s data, shifting the later offsets: a hole. */
export function gapAfter(dir: string, tensor: string, bytes = 8): Breakage {
  const file = fileHolding(dir, tensor);
  const parsed = parseSafetensors(file);
  const cut = parsed.header[tensor].data_offsets[1];
  const header: Record<string, HeaderEntry | object> = { __metadata__: { format: 'pt' } };
  for (const [name, e] of Object.entries(parsed.header)) {
    header[name] = e.data_offsets[0] >= cut && name !== tensor
      ? { ...e, data_offsets: [e.data_offsets[0] + bytes, e.data_offsets[1] + bytes] }
      : e;
  }
  const data = parsed.bytes.subarray(parsed.dataStart);
  writeFileSync(file, withHeader(header, Buffer.concat([data.subarray(0, cut), Buffer.alloc(bytes), data.subarray(cut)])));
  return { file, name: tensor };
}

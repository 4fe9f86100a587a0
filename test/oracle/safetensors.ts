/**
 * The oracle's own safetensors reader and writer (format: u64 LE header length, JSON header,
 * raw little-endian tensor bytes). Kept separate from the engine's loader on purpose.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { bf16BitsFromF32, bf16ToNumber, f16BitsFromF32, f16ToNumber } from './float-bits.js';

export type FileDtype = 'F32' | 'F16' | 'BF16';

export interface NamedTensor {
  name: string;
  shape: number[];
  /** Values as f32 numbers (Math.fround'ed); written in `dtype`. */
  values: Float32Array;
}

export interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export const bytesPerElement: Record<FileDtype, number> = { F32: 4, F16: 2, BF16: 2 };

function encode(values: Float32Array, dtype: FileDtype): Buffer {
  const out = Buffer.alloc(values.length * bytesPerElement[dtype]);
  for (let i = 0; i < values.length; i++) {
    if (dtype === 'F32') out.writeFloatLE(values[i], i * 4);
    else if (dtype === 'F16') out.writeUInt16LE(f16BitsFromF32(values[i]), i * 2);
    else out.writeUInt16LE(bf16BitsFromF32(values[i]), i * 2);
  }
  return out;
}

/** One tensor's raw bytes as they go into a file; `dtype` is any safetensors dtype string. */
export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Buffer;
}

/** Lays out raw tensors in order. The header is space-padded to 8 bytes, like the reference writer. */
export function assembleSafetensors(tensors: RawTensor[]): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  return withHeader(header, Buffer.concat(tensors.map((t) => t.data)));
}

/** Prefixes a data section with a given header object (used as-is, so callers can make it inconsistent). */
export function withHeader(header: Record<string, unknown>, data: Buffer): Buffer {
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const lengthPrefix = Buffer.alloc(8);
  lengthPrefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([lengthPrefix, Buffer.from(json, 'utf8'), data]);
}

export function safetensorsBytes(tensors: NamedTensor[], dtype: FileDtype): Buffer {
  return assembleSafetensors(tensors.map((t) => ({ name: t.name, dtype, shape: t.shape, data: encode(t.values, dtype) })));
}

export function writeSafetensors(file: string, tensors: NamedTensor[], dtype: FileDtype): void {
  writeFileSync(file, safetensorsBytes(tensors, dtype));
}

export interface SafetensorsFile {
  header: Record<string, HeaderEntry>;
  /** Byte offset of the data section within the file. */
  dataStart: number;
  bytes: Buffer;
}

export function parseSafetensors(file: string): SafetensorsFile {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const raw = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  delete raw.__metadata__;
  return { header: raw as Record<string, HeaderEntry>, dataStart: 8 + headerLength, bytes };
}

/** Decodes one tensor to f64 (exact for all three dtypes). */
export function readTensor(file: SafetensorsFile, name: string): { shape: number[]; values: Float64Array } {
  const entry = file.header[name];
  if (!entry) throw new Error(`oracle: tensor ${name} not in safetensors header`);
  const [begin, end] = entry.data_offsets;
  const data = file.bytes.subarray(file.dataStart + begin, file.dataStart + end);
  const count = entry.shape.reduce((a, b) => a * b, 1);
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    if (entry.dtype === 'F32') values[i] = data.readFloatLE(i * 4);
    else if (entry.dtype === 'F16') values[i] = f16ToNumber(data.readUInt16LE(i * 2));
    else if (entry.dtype === 'BF16') values[i] = bf16ToNumber(data.readUInt16LE(i * 2));
    else throw new Error(`oracle: unsupported dtype ${entry.dtype} for ${name}`);
  }
  return { shape: entry.shape, values };
}

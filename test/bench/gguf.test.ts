// The GGUF writer the bench's llama.cpp comparison uses (bench/gguf.ts): the fp16 conversion, the
// Q8_0 blocks, the q/k row permutation and the file layout. llama.cpp itself checks the real files
// (`npm run bench -- llamacpp` compares its logits with pcomp's); these are the pieces it rests on.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureGguf, f16ToF32, f32ToF16, permuteRopeRows, quantizeQ8_0 } from '../../bench/gguf.js';
import { ensureRandomModel } from '../../bench/random-model.js';
import { mulberry32 } from '../oracle/prng.js';

describe('bench GGUF writer', () => {
  it('rounds float32 to fp16 to nearest even, subnormals and overflow included', () => {
    for (let h = 0; h < 0x7c00; h++) {
      expect(f32ToF16(f16ToF32(h))).toBe(h);               // every finite half survives the round trip
      expect(f32ToF16(-f16ToF32(h))).toBe(h | 0x8000);
    }
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);            // a tie goes to the even neighbour ...
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);        // ... whichever side that is
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // past the tie rounds up
    expect(f32ToF16(2 ** -25)).toBe(0);                     // half the smallest subnormal: tie to 0
    expect(f32ToF16(3 * 2 ** -25)).toBe(2);                 // 1.5 subnormal steps: tie to 2
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);                   // rounds past the largest half: infinity
  });

  it('writes Q8_0 blocks as an fp16 scale max|x|/127 and 32 int8 values within half a step of x/d', () => {
    const rand = mulberry32(3);
    const row = Float32Array.from({ length: 96 }, () => (rand() - 0.5) * 0.1);
    const out = Buffer.alloc(3 * 34);
    quantizeQ8_0(row, out, 0);
    for (let b = 0; b < 3; b++) {
      const block = row.subarray(32 * b, 32 * b + 32);
      const amax = Math.max(...Array.from(block, Math.abs));
      const d = f16ToF32(out.readUInt16LE(34 * b));
      expect(Math.abs(d - amax / 127)).toBeLessThanOrEqual((amax / 127) * 2 ** -11);
      for (let j = 0; j < 32; j++) expect(Math.abs(out.readInt8(34 * b + 2 + j) * d - block[j]!)).toBeLessThanOrEqual(d * 0.5 + amax * 2 ** -10);
    }
  });

  it("permutes q/k rows so llama.cpp's interleaved RoPE equals Hugging Face's rotate-half RoPE", () => {
    // One head of dimension d, K = 1 (a weight row per output dimension): rotate the projected vector
    // both ways at position p and compare after mapping the dimensions.
    const heads = 2, d = 8, p = 5, theta = 10000;
    const rand = mulberry32(9);
    const w = Float32Array.from({ length: heads * d }, () => rand() - 0.5);
    const perm = permuteRopeRows(w, heads, 1);
    for (let h = 0; h < heads; h++) {
      const x = w.subarray(h * d, (h + 1) * d), y = perm.subarray(h * d, (h + 1) * d);
      for (let i = 0; i < d / 2; i++) {
        const a = p * theta ** (-2 * i / d), c = Math.cos(a), s = Math.sin(a);
        // HF: pair (i, i + d/2); llama.cpp NORM: pair (2i, 2i + 1), same frequency index i.
        const hf = [x[i]! * c - x[i + d / 2]! * s, x[i + d / 2]! * c + x[i]! * s];
        const gg = [y[2 * i]! * c - y[2 * i + 1]! * s, y[2 * i + 1]! * c + y[2 * i]! * s];
        expect(gg[0]).toBeCloseTo(hf[0]!, 6);
        expect(gg[1]).toBeCloseTo(hf[1]!, 6);
      }
    }
  });

  it('lays out a GGUF v3 file: header, metadata, tensor infos, aligned data', () => {
    const shape = { hidden: 64, intermediate: 128, layers: 1, heads: 4, kvHeads: 2, vocab: 300, maxPositions: 128, seed: 5 };
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'pcomp-gguf-test-'));
    const { dir } = ensureRandomModel(shape);
    const file = ensureGguf(dir, 'Q8_0', tmp);
    const b = readFileSync(file);
    expect(b.toString('ascii', 0, 4)).toBe('GGUF');
    expect(b.readUInt32LE(4)).toBe(3);
    const nTensors = Number(b.readBigUInt64LE(8)), nKv = Number(b.readBigUInt64LE(16));
    expect(nTensors).toBe(2 + 9 * shape.layers + 1);
    let at = 24;
    const str = () => { const n = Number(b.readBigUInt64LE(at)); at += 8; const s = b.toString('utf8', at, at + n); at += n; return s; };
    const size: Record<number, number> = { 0: 1, 4: 4, 5: 4, 6: 4 };
    const kv: Record<string, unknown> = {};
    for (let i = 0; i < nKv; i++) {
      const key = str();
      const type = b.readUInt32LE(at); at += 4;
      if (type === 8) kv[key] = str();
      else if (type === 9) {
        const et = b.readUInt32LE(at), n = Number(b.readBigUInt64LE(at + 4)); at += 12;
        for (let j = 0; j < n; j++) et === 8 ? str() : (at += size[et]!);
        kv[key] = n;
      } else { kv[key] = type === 6 ? b.readFloatLE(at) : b.readUInt32LE(at); at += size[type]!; }
    }
    expect(kv['general.architecture']).toBe('llama');
    expect(kv['llama.attention.head_count_kv']).toBe(2);
    expect(kv['tokenizer.ggml.tokens']).toBe(shape.vocab);
    const infos: Array<{ name: string; dims: number[]; type: number; offset: number }> = [];
    for (let i = 0; i < nTensors; i++) {
      const name = str();
      const nd = b.readUInt32LE(at); at += 4;
      const dims = Array.from({ length: nd }, (_, j) => Number(b.readBigUInt64LE(at + 8 * j))); at += 8 * nd;
      infos.push({ name, dims, type: b.readUInt32LE(at), offset: Number(b.readBigUInt64LE(at + 4)) }); at += 12;
    }
    const dataStart = Math.ceil(at / 32) * 32;
    const q = infos.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect(q.dims).toEqual([64, 64]);  // innermost (K) first
    expect(q.type).toBe(8);
    expect(infos.find((t) => t.name === 'blk.0.attn_norm.weight')!.type).toBe(0);
    expect(infos.find((t) => t.name === 'output.weight')!.dims).toEqual([64, 300]);
    for (const t of infos) expect(t.offset % 32).toBe(0);
    const last = infos.at(-1)!;
    const bytes = last.type === 0 ? 4 * last.dims.reduce((x, y) => x * y, 1) : (last.dims.reduce((x, y) => x * y, 1) / 32) * 34;
    expect(b.length).toBe(dataStart + last.offset + bytes);
    // The norms are ones (bench/random-model.ts), stored as F32.
    const norm = infos.find((t) => t.name === 'output_norm.weight')!;
    expect(b.readFloatLE(dataStart + norm.offset)).toBe(1);
  });
});

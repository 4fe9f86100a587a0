/**
 * A GGUF (version 3) writer for the bench's llama.cpp comparison: it converts the seeded random
 * Llama that bench/random-model.ts writes (a bf16 safetensors file in Hugging Face's layout) into a
 * GGUF file llama.cpp loads as architecture `llama`, in F32, F16, BF16 or Q8_0, so both engines run
 * the same weights.
 *
 * Layout (ggml's docs/gguf.md): magic "GGUF", u32 version 3, u64 tensor count, u64 metadata count;
 * each metadata entry is a string key (u64 length + UTF-8), a u32 value type and the value (arrays:
 * u32 element type, u64 count, elements); each tensor info is its name, u32 n_dims, u64 dims
 * (innermost first, so an [N, K] row-major matrix is written as [K, N]), u32 ggml type and a u64
 * offset from the start of the data section; the data section starts at the next multiple of
 * general.alignment (32) after the infos, and every tensor's offset is a multiple of it too.
 *
 * Llama specifics, as llama.cpp's convert_hf_to_gguf.py writes them: tensor names token_embd,
 * blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down},
 * output_norm, output; norms stay F32; and the rows of q_proj and k_proj are permuted within each
 * head from Hugging Face's rotate-half RoPE layout (pairs i, i + d/2) to the interleaved layout
 * llama.cpp's LLAMA_ROPE_TYPE_NORM rotates (pairs 2i, 2i + 1): new row 2i + s = old row s·d/2 + i.
 *
 * Q8_0 (ggml type 8): blocks of 32 weights along a row, each an fp16 scale d = max|x| / 127 followed
 * by 32 int8 values round(x / d) (34 bytes per block).
 *
 * The vocabulary is a placeholder (the bench feeds token ids, never text): llama.cpp's SentencePiece
 * ("llama") tokenizer with <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF> and numbered
 * filler tokens, so the model has the same 32000 ids as the safetensors file.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';

export type GgufType = 'F32' | 'F16' | 'BF16' | 'Q8_0';

const GGML_TYPE: Record<GgufType, number> = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 };
/** llama.cpp's llama_ftype for general.file_type (ALL_F32, MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_BF16). */
const FILE_TYPE: Record<GgufType, number> = { F32: 0, F16: 1, Q8_0: 7, BF16: 32 };
const ALIGNMENT = 32;
/** Bump when the written bytes change, so cached files are rewritten. */
const WRITER_VERSION = 1;

// GGUF metadata value types.
const T_UINT32 = 4, T_INT32 = 5, T_FLOAT32 = 6, T_STRING = 8, T_ARRAY = 9;

/** IEEE half from a float32, round to nearest even (what F16C's vcvtps2ph does), subnormals included. */
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  const u = scratchU32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;  // may carry into the exponent, as it should
  e = h >>> 10;
  return sign | (e >= 0x1f ? 0x7c00 : h);
}

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Q8_0 bytes of one row (length a multiple of 32). */
export function quantizeQ8_0(row: Float32Array, out: Buffer, at: number): void {
  const q = new Int8Array(out.buffer, out.byteOffset, out.length);
  for (let b = 0; b < row.length; b += 32) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(row[b + j]!));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const base = at + (b / 32) * 34;
    const h = f32ToF16(d);
    out[base] = h & 0xff;
    out[base + 1] = h >>> 8;
    for (let j = 0; j < 32; j++) {
      const v = Math.fround(row[b + j]! * id);
      q[base + 2 + j] = Math.sign(v) * Math.round(Math.abs(v));  // roundf: half away from zero; |v| <= 127
    }
  }
}

interface SafeTensor { dtype: string; shape: number[]; data_offsets: [number, number] }

function readSafetensorsHeader(file: string): { header: Record<string, SafeTensor>; dataStart: number } {
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE());
    const json = Buffer.alloc(n);
    readSync(fd, json, 0, n, 8);
    const header = JSON.parse(json.toString('utf8')) as Record<string, SafeTensor>;
    delete header.__metadata__;
    return { header, dataStart: 8 + n };
  } finally {
    closeSync(fd);
  }
}

class Writer {
  private parts: Buffer[] = [];
  u32(v: number) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); }
  i32(v: number) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.parts.push(b); }
  u64(v: number) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.parts.push(b); }
  f32(v: number) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.parts.push(b); }
  str(s: string) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.parts.push(b); }
  raw(b: Buffer) { this.parts.push(b); }
  get length() { return this.parts.reduce((n, b) => n + b.length, 0); }
  buffer() { return Buffer.concat(this.parts); }
}

type Meta = [key: string, type: 'u32' | 'f32' | 'str', value: number | string] | [key: string, type: 'arr-str', value: string[]] | [key: string, type: 'arr-f32' | 'arr-i32', value: number[]];

function writeMeta(w: Writer, [key, type, value]: Meta): void {
  w.str(key);
  if (type === 'u32') { w.u32(T_UINT32); w.u32(value as number); }
  else if (type === 'f32') { w.u32(T_FLOAT32); w.f32(value as number); }
  else if (type === 'str') { w.u32(T_STRING); w.str(value as string); }
  else {
    const xs = value as (string | number)[];
    w.u32(T_ARRAY);
    w.u32(type === 'arr-str' ? T_STRING : type === 'arr-f32' ? T_FLOAT32 : T_INT32);
    w.u64(xs.length);
    for (const x of xs) type === 'arr-str' ? w.str(x as string) : type === 'arr-f32' ? w.f32(x as number) : w.i32(x as number);
  }
}

/** Hugging Face tensor name → GGUF name (null: not a Llama tensor this writer knows). */
function ggufName(hf: string): string | null {
  if (hf === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (hf === 'model.norm.weight') return 'output_norm.weight';
  if (hf === 'lm_head.weight') return 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (!m) return null;
  const map: Record<string, string> = {
    'input_layernorm.weight': 'attn_norm.weight', 'post_attention_layernorm.weight': 'ffn_norm.weight',
    'self_attn.q_proj.weight': 'attn_q.weight', 'self_attn.k_proj.weight': 'attn_k.weight', 'self_attn.v_proj.weight': 'attn_v.weight',
    'self_attn.o_proj.weight': 'attn_output.weight', 'mlp.gate_proj.weight': 'ffn_gate.weight', 'mlp.up_proj.weight': 'ffn_up.weight',
    'mlp.down_proj.weight': 'ffn_down.weight',
  };
  return map[m[2]!] ? `blk.${m[1]}.${map[m[2]!]}` : null;
}

/** Rows of a q/k projection [heads·d, K] from rotate-half to interleaved RoPE order, per head. */
export function permuteRopeRows<T extends Uint16Array | Float32Array>(w: T, heads: number, K: number): T {
  const rows = w.length / K, d = rows / heads, half = d / 2;
  const out = new (w.constructor as { new (n: number): T })(w.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < half; i++)
      for (let s = 0; s < 2; s++) {
        const from = h * d + s * half + i, to = h * d + 2 * i + s;
        out.set(w.subarray(from * K, (from + 1) * K), to * K);
      }
  return out;
}

function tensorBytes(type: GgufType, n: number, is1d: boolean): number {
  if (is1d || type === 'F32') return 4 * n;
  if (type === 'Q8_0') return (n / 32) * 34;
  return 2 * n;
}

export interface GgufOptions {
  /** Write the q/k rows in Hugging Face's order (wrong for llama.cpp): only to show the check catches it. */
  skipRopePermutation?: boolean;
}

/**
 * Writes (or reuses) `<outDir>/model-<type>.gguf` from the bf16 safetensors model in `modelDir`;
 * returns its path.
 */
export function ensureGguf(modelDir: string, type: GgufType, outDir: string, log: (s: string) => void = () => {}, opts: GgufOptions = {}): string {
  const file = path.join(outDir, `model-${type}${opts.skipRopePermutation ? '-unpermuted' : ''}-w${WRITER_VERSION}.gguf`);
  const src = path.join(modelDir, 'model.safetensors');
  if (existsSync(file) && statSync(file).mtimeMs > statSync(src).mtimeMs) return file;
  mkdirSync(outDir, { recursive: true });
  const cfg = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8')) as Record<string, number>;
  const hidden = cfg.hidden_size!, heads = cfg.num_attention_heads!, kvHeads = cfg.num_key_value_heads!, vocab = cfg.vocab_size!;
  const { header, dataStart } = readSafetensorsHeader(src);

  const names = Object.keys(header);
  const tensors = names.map((hf) => {
    const g = ggufName(hf);
    if (!g) throw new Error(`${src}: tensor ${hf} has no GGUF name in bench/gguf.ts`);
    const t = header[hf]!;
    if (t.dtype !== 'BF16') throw new Error(`${src}: tensor ${hf} is ${t.dtype}; bench/gguf.ts converts BF16 files`);
    const is1d = t.shape.length === 1;
    const n = t.shape.reduce((a, b) => a * b, 1);
    const K = t.shape[t.shape.length - 1]!;
    if (!is1d && type === 'Q8_0' && K % 32 !== 0) throw new Error(`${hf}: rows of ${K} are not a multiple of 32 (Q8_0 blocks)`);
    return { hf, name: g, t, is1d, n, K, ggmlType: is1d ? GGML_TYPE.F32 : GGML_TYPE[type], bytes: tensorBytes(type, n, is1d) };
  });
  // llama.cpp lists tensors in this order; it is not required, but keeps the file readable.
  const order = (g: string) => (g === 'token_embd.weight' ? -2 : g.startsWith('blk.') ? Number(g.split('.')[1]) : g === 'output_norm.weight' ? 1e6 : 1e6 + 1);
  tensors.sort((a, b) => order(a.name) - order(b.name) || a.name.localeCompare(b.name));

  const tokens = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, i) => `<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`)];
  for (let i = tokens.length; i < vocab; i++) tokens.push(`▁w${i}`);
  const tokenTypes = tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));  // unknown, control, byte, normal
  const meta: Meta[] = [
    ['general.architecture', 'str', 'llama'],
    ['general.name', 'str', `pcomp bench random (seed ${cfg.pcomp_bench_seed ?? '?'})`],
    ['general.file_type', 'u32', FILE_TYPE[type]],
    ['general.quantization_version', 'u32', 2],
    ['general.alignment', 'u32', ALIGNMENT],
    ['llama.context_length', 'u32', cfg.max_position_embeddings!],
    ['llama.embedding_length', 'u32', hidden],
    ['llama.block_count', 'u32', cfg.num_hidden_layers!],
    ['llama.feed_forward_length', 'u32', cfg.intermediate_size!],
    ['llama.rope.dimension_count', 'u32', hidden / heads],
    ['llama.rope.freq_base', 'f32', cfg.rope_theta ?? 10000],
    ['llama.attention.head_count', 'u32', heads],
    ['llama.attention.head_count_kv', 'u32', kvHeads],
    ['llama.attention.layer_norm_rms_epsilon', 'f32', cfg.rms_norm_eps ?? 1e-5],
    ['llama.vocab_size', 'u32', vocab],
    ['tokenizer.ggml.model', 'str', 'llama'],
    ['tokenizer.ggml.tokens', 'arr-str', tokens],
    ['tokenizer.ggml.scores', 'arr-f32', tokens.map(() => 0)],
    ['tokenizer.ggml.token_type', 'arr-i32', tokenTypes],
    ['tokenizer.ggml.bos_token_id', 'u32', cfg.bos_token_id ?? 1],
    ['tokenizer.ggml.eos_token_id', 'u32', cfg.eos_token_id ?? 2],
    ['tokenizer.ggml.unknown_token_id', 'u32', 0],
  ];

  const w = new Writer();
  w.raw(Buffer.from('GGUF', 'ascii'));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(meta.length);
  for (const m of meta) writeMeta(w, m);
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    w.str(t.name);
    const dims = [...t.t.shape].reverse();
    w.u32(dims.length);
    for (const d of dims) w.u64(d);
    w.u32(t.ggmlType);
    w.u64(offset);
    offsets.push(offset);
    offset += t.bytes;
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  }
  const head = w.buffer();
  const pad = (ALIGNMENT - (head.length % ALIGNMENT)) % ALIGNMENT;

  const t0 = Date.now();
  const partial = `${file}.partial`;
  const out = openSync(partial, 'w');
  const inp = openSync(src, 'r');
  try {
    writeSync(out, head);
    writeSync(out, Buffer.alloc(pad));
    let written = 0;
    for (const [i, t] of tensors.entries()) {
      if (written < offsets[i]!) { writeSync(out, Buffer.alloc(offsets[i]! - written)); written = offsets[i]!; }
      const [a, b] = t.t.data_offsets;
      const raw = Buffer.alloc(b - a);
      readSync(inp, raw, 0, raw.length, dataStart + a);
      let bits = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
      const proj = /self_attn\.(q|k)_proj/.exec(t.hf)?.[1];
      if (proj && !opts.skipRopePermutation) bits = permuteRopeRows(bits, proj === 'q' ? heads : kvHeads, t.K);
      const f32 = new Float32Array(t.n);
      const u32 = new Uint32Array(f32.buffer);
      for (let j = 0; j < t.n; j++) u32[j] = bits[j]! << 16;
      let data: Buffer;
      const ty: GgufType = t.is1d ? 'F32' : type;
      if (ty === 'F32') data = Buffer.from(f32.buffer);
      else if (ty === 'BF16') data = Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength);
      else if (ty === 'F16') {
        const h = new Uint16Array(t.n);
        for (let j = 0; j < t.n; j++) h[j] = f32ToF16(f32[j]!);
        data = Buffer.from(h.buffer);
      } else {
        data = Buffer.alloc(t.bytes);
        const rows = t.n / t.K;
        for (let r = 0; r < rows; r++) quantizeQ8_0(f32.subarray(r * t.K, (r + 1) * t.K), data, r * (t.K / 32) * 34);
      }
      if (data.length !== t.bytes) throw new Error(`internal: ${t.name} is ${data.length} bytes, expected ${t.bytes}`);
      writeSync(out, data);
      written += data.length;
    }
  } finally {
    closeSync(inp);
    closeSync(out);
  }
  renameSync(partial, file);
  log(`wrote ${(statSync(file).size / 2 ** 30).toFixed(2)} GiB ${type} GGUF to ${file} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return file;
}

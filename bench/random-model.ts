/**
 * A seeded random Llama-shaped model for benchmarks, written straight in bf16: realistic shapes make
 * the speed meaningful (random weights make the text meaningless). f32 random weights of this size
 * are ~3.4 GB and slow to generate, so bf16 bits are drawn from a 64K-entry table of N(0, std)
 * samples by a xorshift index: ~1.7 GB written in seconds. The folder lives in os.tmpdir() and is
 * reused while its config matches.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface RandomModelShape {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  maxPositions: number;
  seed: number;
}

/** The shape: hidden 2048, 16 layers, 32 query / 8 KV heads, vocab 32000 (TinyLlama-like MLP). */
export const REALISTIC: RandomModelShape = {
  hidden: 2048, intermediate: 5632, layers: 16, heads: 32, kvHeads: 8, vocab: 32000, maxPositions: 4096, seed: 7,
};

function configJson(s: RandomModelShape): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    vocab_size: s.vocab,
    max_position_embeddings: s.maxPositions,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'bfloat16',
    pcomp_bench_seed: s.seed,
  };
}

function tensorList(s: RandomModelShape): { name: string; shape: number[]; norm: boolean }[] {
  const hd = s.hidden / s.heads;
  const q = s.heads * hd;
  const kv = s.kvHeads * hd;
  const list = [{ name: 'model.embed_tokens.weight', shape: [s.vocab, s.hidden], norm: false }];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    list.push(
      { name: `${p}input_layernorm.weight`, shape: [s.hidden], norm: true },
      { name: `${p}self_attn.q_proj.weight`, shape: [q, s.hidden], norm: false },
      { name: `${p}self_attn.k_proj.weight`, shape: [kv, s.hidden], norm: false },
      { name: `${p}self_attn.v_proj.weight`, shape: [kv, s.hidden], norm: false },
      { name: `${p}self_attn.o_proj.weight`, shape: [s.hidden, q], norm: false },
      { name: `${p}post_attention_layernorm.weight`, shape: [s.hidden], norm: true },
      { name: `${p}mlp.gate_proj.weight`, shape: [s.intermediate, s.hidden], norm: false },
      { name: `${p}mlp.up_proj.weight`, shape: [s.intermediate, s.hidden], norm: false },
      { name: `${p}mlp.down_proj.weight`, shape: [s.hidden, s.intermediate], norm: false },
    );
  }
  list.push({ name: 'model.norm.weight', shape: [s.hidden], norm: true });
  list.push({ name: 'lm_head.weight', shape: [s.vocab, s.hidden], norm: false });
  return list;
}

function bf16Bits(x: number, f32: Float32Array, u32: Uint32Array): number {
  f32[0] = x;
  const u = u32[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** 65536 bf16 samples of N(0, std) (Box-Muller on a seeded LCG). */
function gaussianTable(seed: number, std: number): Uint16Array {
  const table = new Uint16Array(65536);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  let s = seed >>> 0;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  for (let i = 0; i < table.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform())) * std;
    const t = 2 * Math.PI * uniform();
    table[i] = bf16Bits(r * Math.cos(t), f32, u32);
    table[i + 1] = bf16Bits(r * Math.sin(t), f32, u32);
  }
  return table;
}

/** Writes (or reuses) the model folder; returns its path and the file size in bytes. */
export function ensureRandomModel(shape: RandomModelShape, log: (msg: string) => void = () => {}): { dir: string; bytes: number } {
  const key = `${shape.hidden}x${shape.intermediate}-l${shape.layers}-h${shape.heads}-kv${shape.kvHeads}-v${shape.vocab}-p${shape.maxPositions}-s${shape.seed}`;
  const dir = path.join(os.tmpdir(), `pcomp-bench-random-${key}`);
  const file = path.join(dir, 'model.safetensors');
  const config = JSON.stringify(configJson(shape), null, 2);
  if (existsSync(file) && existsSync(path.join(dir, 'config.json')) && readFileSync(path.join(dir, 'config.json'), 'utf8') === config) {
    return { dir, bytes: statSync(file).size };
  }
  mkdirSync(dir, { recursive: true });
  const tensors = tensorList(shape);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', source: 'pcomp bench/random-model.ts' } };
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + 2 * n] };
    offset += 2 * n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));

  const t0 = Date.now();
  const tmpFile = `${file}.partial`;
  const fd = openSync(tmpFile, 'w');
  try {
    writeSync(fd, prefix);
    writeSync(fd, Buffer.from(json, 'utf8'));
    const weights = gaussianTable(shape.seed, 0.02);
    const one = new Float32Array([1]);
    const oneBits = bf16Bits(1, one, new Uint32Array(one.buffer));
    const block = new Uint16Array(1 << 24);  // 32 MiB per write
    let x = (shape.seed * 2654435761) >>> 0 || 1;
    for (const t of tensors) {
      let left = t.shape.reduce((a, b) => a * b, 1);
      while (left > 0) {
        const n = Math.min(left, block.length);
        if (t.norm) block.fill(oneBits, 0, n);
        else
          for (let i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >>> 17;
            x ^= x << 5;
            block[i] = weights[x & 0xffff]!;
          }
        writeSync(fd, new Uint8Array(block.buffer, 0, 2 * n));
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmpFile, file);
  const bytes = 8 + Buffer.byteLength(json) + offset;
  writeFileSync(path.join(dir, 'config.json'), config);
  log(`wrote ${(bytes / 2 ** 30).toFixed(2)} GiB random bf16 model to ${dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { dir, bytes };
}

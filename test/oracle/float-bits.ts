/**
 * IEEE half (f16) and bfloat16 conversions, written out plainly for the oracle.
 * Encoders take an f32 value (the model's canonical weights are f32) and round to nearest, ties to even,
 * the same way torch's `.to(torch.float16 / torch.bfloat16)` does.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** bf16 is the top 16 bits of an f32; round to nearest even on the 16 dropped bits. */
export function bf16BitsFromF32(x: number): number {
  const bits = f32Bits(x);
  if (Number.isNaN(x)) return ((bits >>> 16) | 0x40) & 0xffff; // keep it a (quiet) NaN
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

export function bf16ToNumber(bits: number): number {
  return f32FromBits((bits & 0xffff) << 16);
}

/** Rounds x (exactly representable in f64) to an integer, ties to even. */
function roundHalfEven(r: number): number {
  const floor = Math.floor(r);
  const diff = r - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * f16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Done arithmetically rather than by bit
 * tricks: find the value's binade, divide by the f16 quantum there (exact in f64), round half-even.
 */
export function f16BitsFromF32(value: number): number {
  const x = Math.fround(value);
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  if (a === Infinity) return sign | 0x7c00;
  let exponent = Math.max(-14, Math.floor(Math.log2(a)));
  if (exponent > -14 && 2 ** exponent > a) exponent -= 1; // log2 may round up near powers of two
  if (2 ** (exponent + 1) <= a) exponent += 1;
  const quantum = 2 ** (exponent - 10);
  let mantissa = roundHalfEven(a / quantum); // in [0, 2048]; below 1024 only in the subnormal binade
  if (mantissa === 2048) {
    exponent += 1;
    mantissa = 1024;
  }
  if (exponent > 15) return sign | 0x7c00; // overflow rounds to infinity
  if (mantissa < 1024) return sign | mantissa; // subnormal (exponent field 0)
  return sign | ((exponent + 15) << 10) | (mantissa - 1024);
}

export function f16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponentField = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponentField === 0) return sign * mantissa * 2 ** -24;
  if (exponentField === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponentField - 25);
}

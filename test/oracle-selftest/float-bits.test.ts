import { describe, expect, it } from 'vitest';
import { bf16BitsFromF32, bf16ToNumber, f16BitsFromF32, f16ToNumber } from '../oracle/float-bits.js';

describe('f16 conversion', () => {
  it('encodes known values', () => {
    expect(f16BitsFromF32(1)).toBe(0x3c00);
    expect(f16BitsFromF32(-2)).toBe(0xc000);
    expect(f16BitsFromF32(65504)).toBe(0x7bff); // largest finite
    expect(f16BitsFromF32(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f16BitsFromF32(2 ** -14)).toBe(0x0400); // smallest normal
    expect(f16BitsFromF32(0.1)).toBe(0x2e66);
    expect(f16BitsFromF32(-0)).toBe(0x8000);
    expect(f16BitsFromF32(Infinity)).toBe(0x7c00);
    expect(Number.isNaN(f16ToNumber(f16BitsFromF32(NaN)))).toBe(true);
  });

  it('rounds to nearest, ties to even, and overflows to infinity', () => {
    expect(f16BitsFromF32(1 + 2 ** -11)).toBe(0x3c00); // tie, even stays down
    expect(f16BitsFromF32(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, odd goes up
    expect(f16BitsFromF32(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(f16BitsFromF32(65519)).toBe(0x7bff);
    expect(f16BitsFromF32(65520)).toBe(0x7c00);
    expect(f16BitsFromF32(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(f16BitsFromF32(3 * 2 ** -25)).toBe(0x0002);
    expect(f16BitsFromF32(2 ** -14 - 2 ** -26)).toBe(0x0400); // subnormal rounding up into the normal range
  });

  it('decodes and re-encodes every finite bit pattern to itself', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = f16ToNumber(bits);
      if (Number.isNaN(v)) continue;
      if (f16BitsFromF32(v) !== bits) throw new Error(`f16 ${bits.toString(16)} -> ${v} -> ${f16BitsFromF32(v).toString(16)}`);
    }
  });
});

describe('bf16 conversion', () => {
  it('truncates exact values and rounds ties to even', () => {
    expect(bf16BitsFromF32(1)).toBe(0x3f80);
    expect(bf16BitsFromF32(-3.5)).toBe(0xc060);
    expect(bf16BitsFromF32(1 + 2 ** -8)).toBe(0x3f80); // tie, even stays
    expect(bf16BitsFromF32(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, odd goes up
    expect(bf16BitsFromF32(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(bf16ToNumber(bf16BitsFromF32(0.1))).toBeCloseTo(0.1, 2);
    expect(Number.isNaN(bf16ToNumber(bf16BitsFromF32(NaN)))).toBe(true);
  });

  it('decodes and re-encodes every non-NaN bit pattern to itself', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = bf16ToNumber(bits);
      if (Number.isNaN(v)) continue;
      if (bf16BitsFromF32(v) !== bits) throw new Error(`bf16 ${bits.toString(16)} round trip failed`);
    }
  });
});

// Rounding and summation exactly as the official Python scorers do them.
// `round(100 * total / n, 2)` in eval.py is CPython's correctly rounded half-to-even on the exact
// binary value: 10.125 (exact in binary) prints 10.12, where JS toFixed/Math.round give 10.13.

/** Exact rational value of a finite double: sign * mantissa * 2^exponent. */
function decompose(x: number): { negative: boolean; mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const negative = hi >>> 31 === 1;
  const biased = (hi >>> 20) & 0x7ff;
  const fraction = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biased === 0) return { negative, mantissa: fraction, exponent: -1074 };
  return { negative, mantissa: fraction | (1n << 52n), exponent: biased - 1075 };
}

/** Python's `round(x, digits)` for digits >= 0: half-to-even on the exact value of the double. */
export function pyRound(x: number, digits = 0): number {
  if (!Number.isFinite(x) || x === 0) return x;
  if (!Number.isInteger(digits) || digits < 0) throw new RangeError('pyRound: digits must be a non-negative integer');
  const { negative, mantissa, exponent } = decompose(x);
  const scale = 10n ** BigInt(digits);
  let numerator = mantissa * scale;
  let denominator = 1n;
  if (exponent >= 0) numerator <<= BigInt(exponent);
  else denominator <<= BigInt(-exponent);
  let quotient = numerator / denominator;
  const twiceRemainder = 2n * (numerator % denominator);
  if (twiceRemainder > denominator || (twiceRemainder === denominator && quotient % 2n === 1n)) quotient += 1n;
  // Decimal string → double is correctly rounded in JS, as is CPython's final conversion.
  const magnitude = Number(`${quotient}e-${digits}`);
  return negative ? -magnitude : magnitude;
}

/**
 * `round(x, digits)` when x is a numpy.float64 (as `100 * numpy.mean(...)` is in LongBench's scorer_e):
 * numpy multiplies by 10^digits, rounds half to even with rint, and divides — not Python's exact
 * rounding. E.g. 29.294999999999998 → numpy 29.3, Python 29.29.
 */
export function numpyRound(x: number, digits = 0): number {
  if (!Number.isFinite(x)) return x;
  const scale = 10 ** digits;
  const y = x * scale;
  const floor = Math.floor(y);
  const fraction = y - floor;
  const rounded = fraction > 0.5 || (fraction === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
  return rounded / scale;
}

/** numpy's float64 add.reduce over a contiguous 1-D array: pairwise summation, blocks of 128, unrolled by 8. */
export function numpyPairwiseSum(values: ArrayLike<number>, start = 0, n = values.length - start): number {
  if (n < 8) {
    let sum = -0;
    for (let i = 0; i < n; i++) sum += values[start + i];
    return sum;
  }
  if (n <= 128) {
    const r = Array.from({ length: 8 }, (_, k) => values[start + k]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let k = 0; k < 8; k++) r[k] += values[start + i + k];
    let sum = (r[0] + r[1] + (r[2] + r[3])) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) sum += values[start + i];
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return numpyPairwiseSum(values, start, half) + numpyPairwiseSum(values, start + half, n - half);
}

/** `numpy.mean` of float64 values; NaN for an empty array, as numpy returns (with a warning). */
export function numpyMean(values: ArrayLike<number>): number {
  return values.length === 0 ? NaN : numpyPairwiseSum(values) / values.length;
}

/** Python's built-in `sum` over floats (CPython <= 3.11: plain left-to-right addition from int 0). */
export function pySum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

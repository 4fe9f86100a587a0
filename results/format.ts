// Numbers in tables: fixed decimals, rounded half-to-even on the double's exact value, as Python's
// round() does. The official LongBench scorer rounds that way (10.125 → 10.12), and a table must
// print the same digits as result.json. toFixed rounds exact ties away from zero, so only an exact
// tie needs a second look.

/** Exact value of a finite double as numerator / 2^shift. */
function exactParts(x: number): { numerator: bigint; shift: bigint } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const hi = view.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  const fraction = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exponent = biased === 0 ? -1074 : biased - 1075;
  return exponent >= 0 ? { numerator: mantissa << BigInt(exponent), shift: 0n } : { numerator: mantissa, shift: BigInt(-exponent) };
}

export function formatFixed(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? '∞' : '-∞';
  const { numerator, shift } = exactParts(x);
  const scaled = numerator * 10n ** BigInt(digits);
  const denominator = 1n << shift;
  let quotient = scaled / denominator;
  const twiceRemainder = 2n * (scaled % denominator);
  if (twiceRemainder > denominator || (twiceRemainder === denominator && quotient % 2n === 1n)) quotient += 1n;
  const text = quotient.toString().padStart(digits + 1, '0');
  const body = digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  return x < 0 && quotient !== 0n ? `-${body}` : body;
}

export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

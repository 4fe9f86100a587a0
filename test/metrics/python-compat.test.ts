// Python string, rounding and JSON semantics the scorers depend on. Expected values are Python's
// (CPython 3.11 and numpy, noted where a value was produced by them rather than by hand).
import { describe, expect, it } from 'vitest';
import { numpyMean, numpyPairwiseSum, numpyRound, pyRound, pySum } from '../../datasets/metrics/py-round.js';
import { lstripNewlines, pyIn, pySplit, pyStrip, PyFloat } from '../../datasets/metrics/python-compat.js';
import { parsePythonJson } from '../../datasets/metrics/python-json.js';

describe('pySplit / pyStrip', () => {
  it('split on Python whitespace, including \\x1c-\\x1f and \\x85, but not U+FEFF', () => {
    expect(pySplit(' a\tb\x1cc\x85d\u3000e  ')).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(pySplit('a\ufeffb')).toEqual(['a\ufeffb']);
    expect(pySplit('')).toEqual([]);
    expect(pySplit('   ')).toEqual([]);
  });
  it('strip the same set; lstrip("\\n") strips only newlines', () => {
    expect(pyStrip('\x1f\u2003 x y \x85')).toBe('x y');
    expect(pyStrip('\ufeffx')).toBe('\ufeffx');
    expect(lstripNewlines('\n\n \nx\n')).toBe(' \nx\n');
  });
  it('`in` is a substring test for a str and membership for a list', () => {
    expect(pyIn('AB', 'ABCD')).toBe(true);
    expect(pyIn('AB', ['A', 'B'])).toBe(false);
    expect(pyIn(5, [new PyFloat(5)])).toBe(true);
    expect(pyIn('5', [5])).toBe(false);
  });
});

describe('pyRound: round(x, n), half to even on the exact binary value', () => {
  it('ties go to even; non-ties follow the exact value, not the decimal spelling', () => {
    expect(pyRound(10.125, 2)).toBe(10.12); // exact tie in binary; JS toFixed gives 10.13
    expect((10.125).toFixed(2)).toBe('10.13');
    expect(pyRound(0.125, 2)).toBe(0.12);
    expect(pyRound(0.375, 2)).toBe(0.38);
    expect(pyRound(2.675, 2)).toBe(2.67); // 2.675 is stored as 2.67499999...
    expect(pyRound(1.005, 2)).toBe(1); // stored below 1.005
    expect(pyRound(26.175, 2)).toBe(26.18); // stored above 26.175
    expect([0.5, 1.5, 2.5, -2.5, -0.5].map((x) => pyRound(x))).toEqual([0, 2, 2, -2, -0]);
    expect(pyRound(123456.785, 2)).toBe(123456.79);
    expect(pyRound(Number.NaN, 2)).toBeNaN();
  });
});

describe('numpyRound: round() of a numpy.float64 (x·10^n, rint, ÷10^n)', () => {
  it('differs from Python\'s exact rounding where x·100 lands on .5 in floating point', () => {
    // values printed by Python 3.11 / numpy 2.4: round(x, 2) vs round(np.float64(x), 2)
    expect(pyRound(29.294999999999998, 2)).toBe(29.29);
    expect(numpyRound(29.294999999999998, 2)).toBe(29.3);
    expect(pyRound(924.085, 2)).toBe(924.09);
    expect(numpyRound(924.085, 2)).toBe(924.08);
    expect(numpyRound(10.125, 2)).toBe(10.12);
    expect(numpyRound(0.375, 2)).toBe(0.38);
    expect(numpyRound(Number.NaN, 2)).toBeNaN();
  });
});

describe('numpy mean: pairwise summation', () => {
  // A seeded LCG; the expected means were printed by numpy 1.24 and 2.4 (np.mean of the same arrays).
  function lcgArray(n: number, seed: { s: number }): number[] {
    return Array.from({ length: n }, () => {
      seed.s = (seed.s * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed.s / 2147483648) * 1000) / 997;
    });
  }
  it('matches numpy bit for bit where a left-to-right sum does not', () => {
    const seed = { s: 1 };
    const arrays = [3, 8, 9, 100, 128, 129].map((n) => lcgArray(n, seed));
    const a129 = arrays[5];
    expect(numpyMean(a129)).toBe(0.5650439691166522);
    expect(pySum(a129) / a129.length).toBe(0.5650439691166526);
  });
  it('is exact on small cases computed by hand, NaN when empty', () => {
    expect(numpyPairwiseSum([1, 2, 3])).toBe(6);
    expect(numpyMean([0.5, 0.25, 1, 0])).toBe(0.4375);
    expect(numpyMean([])).toBeNaN();
  });
});

describe('parsePythonJson', () => {
  it('keeps float literals as PyFloat and ints as numbers, leaving strings alone', () => {
    const v = parsePythonJson('{"a": 51.0, "b": 51, "c": [1e3, -2], "s": "x 1.5 \\" 2.0", "n": null}') as Record<string, unknown>;
    expect(v.a).toEqual(new PyFloat(51));
    expect(v.b).toBe(51);
    expect(v.c).toEqual([new PyFloat(1000), -2]);
    expect(v.s).toBe('x 1.5 " 2.0');
    expect(v.n).toBeNull();
  });
  it('rejects invalid JSON', () => {
    expect(() => parsePythonJson('{"a": 1} x')).toThrow();
  });
});

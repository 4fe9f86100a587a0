// Python string semantics the official scorers rely on, re-stated for JS. Each helper exists because
// the obvious JS spelling differs from CPython on some input (see ../shared/research/benchmarks.md §4).

/** Python's str.split()/strip() whitespace: JS `\s` adds U+FEFF and lacks \x1c-\x1f and \x85. */
const PY_WS_CLASS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WS_RUN = new RegExp(`[${PY_WS_CLASS}]+`, 'u');
const PY_WS_EDGES = new RegExp(`^[${PY_WS_CLASS}]+|[${PY_WS_CLASS}]+$`, 'gu');

/** `s.split()` with no arguments: runs of whitespace separate, empty pieces dropped. */
export function pySplit(s: string): string[] {
  return s.split(PY_WS_RUN).filter((piece) => piece.length > 0);
}

/** `s.strip()` with no arguments. */
export function pyStrip(s: string): string {
  return s.replace(PY_WS_EDGES, '');
}

/** `s.lstrip('\n')`: only newline characters, not other whitespace. */
export function lstripNewlines(s: string): string {
  return s.replace(/^\n+/, '');
}

/** Python indexes strings by code point; JS by UTF-16 unit. */
export function codePoints(s: string): string[] {
  return Array.from(s);
}

/** `s[:n]` by code points. */
export function pySlicePrefix(s: string, n: number): string {
  return codePoints(s).slice(0, n).join('');
}

/**
 * Python's `x in container`: substring test for a str container, membership (==) for a list.
 * Labels in InfiniteBench files are sometimes a str and sometimes a list; the official code never
 * checks which, so both readings are reproduced.
 */
export function pyIn(x: unknown, container: unknown): boolean {
  if (typeof container === 'string') return typeof x === 'string' && container.includes(x);
  if (Array.isArray(container)) return container.some((item) => pyEquals(item, x));
  return false;
}

/** Python `==` for the JSON values scorers compare (str, int, float, list). */
export function pyEquals(a: unknown, b: unknown): boolean {
  const na = pyNumber(a);
  const nb = pyNumber(b);
  if (na !== undefined || nb !== undefined) return na !== undefined && nb !== undefined && na === nb;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEquals(x, b[i]));
  return a === b;
}

/** Iterating a Python value: a str yields its code points, a list its items. */
export function pyIter(x: unknown): unknown[] {
  if (typeof x === 'string') return codePoints(x);
  if (Array.isArray(x)) return x;
  throw new TypeError(`object of type ${pyTypeName(x)} is not iterable`);
}

/** `x[i]` for a str (code point) or list. */
export function pyIndex(x: unknown, i: number): unknown {
  const items = pyIter(x);
  if (i >= items.length) throw new RangeError(`index ${i} out of range`);
  return items[i];
}

/**
 * A JSON number written with a fraction or exponent. JSON.parse turns `51.0` into the integer 51,
 * but Python's json keeps it a float, and InfiniteBench's math_find branches on int vs float.
 */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** The numeric value of a Python int/float (JS number or PyFloat), else undefined. */
export function pyNumber(x: unknown): number | undefined {
  if (typeof x === 'number') return x;
  if (x instanceof PyFloat) return x.value;
  return undefined;
}

export function pyTypeName(x: unknown): string {
  if (typeof x === 'string') return 'str';
  if (typeof x === 'number') return Number.isInteger(x) ? 'int' : 'float';
  if (x instanceof PyFloat) return 'float';
  if (Array.isArray(x)) return 'list';
  if (x === null || x === undefined) return 'NoneType';
  if (typeof x === 'boolean') return 'bool';
  return 'dict';
}

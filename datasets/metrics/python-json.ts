// JSON.parse that keeps Python's int/float distinction: a number literal with a fraction or an
// exponent becomes a PyFloat. Needed because InfiniteBench's math_find labels are written as `51`
// (int) or `51.0` (float) and the official scorer branches on the type.
import { PyFloat } from './python-compat.js';

const FLOAT_TAG = '\u0000pyfloat:';

/** Parses one JSON text; float literals come back as PyFloat, everything else as JSON.parse gives it. */
export function parsePythonJson(text: string): unknown {
  return JSON.parse(tagFloatLiterals(text), (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(FLOAT_TAG) ? new PyFloat(Number(value.slice(FLOAT_TAG.length))) : value,
  );
}

/** Rewrites float literals outside strings as tagged strings; strings are copied untouched. */
function tagFloatLiterals(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      const end = endOfString(text, i);
      out += text.slice(i, end);
      i = end;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const match = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      const literal = match ? match[0] : c;
      out += match && (match[1] || match[2]) ? JSON.stringify(FLOAT_TAG + literal) : literal;
      i += literal.length;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/** Index just past the closing quote of the string starting at `start` (or text.length if unterminated). */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === '\\') i += 2;
    else if (text[i] === '"') return i + 1;
    else i += 1;
  }
  return text.length;
}

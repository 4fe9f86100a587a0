// Numbers in tables: fixed decimals, rounded half-to-even on the double's exact value, as Python's
// round() does. The official LongBench scorer rounds that way (10.125 → 10.12, where toFixed says
// 10.13), and a table must print the same digits as result.json.
import { pyRound } from '../datasets/metrics/py-round.js';

export function formatFixed(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? '∞' : '-∞';
  // pyRound returns the double nearest the rounded decimal; toFixed prints that decimal back exactly
  return pyRound(x, digits).toFixed(digits).replace(/^-(0\.?0*)$/, '$1');
}

export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

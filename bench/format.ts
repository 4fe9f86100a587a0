/** Small formatting helpers shared by the bench sections. */
import os from 'node:os';

export const log = (s: string) => console.error(`[bench] ${s}`);
export const fmt = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
export const K = (n: number) => (n >= 1024 ? `${n / 1024}K` : String(n));
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The load averages (1/5/15 min) now, for a line inside a section: each says what the machine was doing. */
export const loadNow = () => os.loadavg().map((x) => x.toFixed(1)).join('/');

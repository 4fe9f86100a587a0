/** Small formatting helpers shared by the bench sections. */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const log = (s: string) => console.error(`[bench] ${s}`);
export const fmt = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
export const K = (n: number) => (n >= 1024 ? `${n / 1024}K` : String(n));
/** The middle value (the mean of the two middle values for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The load averages (1/5/15 min) now, for a line inside a section: each says what the machine was doing. */
export const loadNow = () => os.loadavg().map((x) => x.toFixed(1)).join('/');

/**
 * The project's shared folder (models, samples): `../shared` beside the clone, as CI and the main
 * checkout have it, or two levels up for a worktree under a sibling folder (e.g. wt/<name>).
 */
export function sharedDir(root: string): string {
  const candidates = [path.resolve(root, '../shared'), path.resolve(root, '../../shared')];
  return candidates.find((d) => existsSync(d)) ?? candidates[0]!;
}

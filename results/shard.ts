// `--shard i/n`: which samples this process owns. The split depends only on the set of sample ids,
// not on their order or on which machine runs, so n processes started with the same flags cover
// every sample exactly once. Ids are ordered by a hash (spreading long and short samples across
// shards) and dealt round-robin, which keeps shard sizes within one of each other.
import { UserError } from '../util/errors.js';

export interface Shard {
  /** 0-based */
  index: number;
  count: number;
}

export const WHOLE: Shard = { index: 0, count: 1 };

/** Parses "i/n" with 0 ≤ i < n. */
export function parseShard(text: string, flag = '--shard'): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new UserError(`${flag} ${JSON.stringify(text)}: expected i/n, e.g. 0/4 (shards are numbered from 0)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new UserError(`${flag} ${text}: the shard count must be at least 1`);
  if (index >= count) throw new UserError(`${flag} ${text}: the index must be below ${count} (shards are numbered 0..${count - 1})`);
  return { index, count };
}

export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

/** FNV-1a over the UTF-16 code units: stable across Node versions and platforms. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Maps each id to the shard index that owns it. Duplicate ids are a data error. */
export function assignShards(ids: readonly string[], count: number): Map<string, number> {
  const unique = new Set(ids);
  if (unique.size !== ids.length) {
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    throw new UserError(`sample id ${JSON.stringify(dup)} occurs more than once; ids must be unique to shard a run`);
  }
  const ordered = [...unique].sort((a, b) => hash32(a) - hash32(b) || (a < b ? -1 : a > b ? 1 : 0));
  return new Map(ordered.map((id, rank) => [id, rank % count]));
}

/** The ids this shard owns, in their original order. */
export function selectShard(ids: readonly string[], shard: Shard): string[] {
  if (shard.count === 1) return [...ids];
  const owner = assignShards(ids, shard.count);
  return ids.filter((id) => owner.get(id) === shard.index);
}

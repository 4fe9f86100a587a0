// A small seeded generator (SplitMix32 feeding Mulberry32) so `pcomp data synth --seed S` is reproducible
// everywhere; Python's `random` stream used by InfiniteBench cannot be matched anyway.
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [lo, hi], both inclusive (Python's random.randint). */
  int(lo: number, hi: number): number;
}

export function seededRng(seed: number): Rng {
  let s = (seed >>> 0) ^ 0x9e3779b9;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)) };
}

/** A version-4 UUID string from the generator (the keys and values of InfiniteBench's KV task are UUIDs). */
export function uuid4(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => rng.int(0, 15).toString(16));
  hex[12] = '4';
  hex[16] = (8 + rng.int(0, 3)).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// CPython difflib.SequenceMatcher(None, a, b).ratio(), re-stated for sequences of code points.
// LongBench's code_sim_score calls fuzzywuzzy's fuzz.ratio, which uses difflib when
// python-Levenshtein is absent — the setup that produced the published scores (benchmarks.md §1.7).
// It is NOT an edit distance: the ratio counts characters in recursively found longest matching
// blocks, and with autojunk (|b| >= 200) characters occurring in more than 1% of b cannot start a block.

interface Block {
  i: number;
  j: number;
  size: number;
}

class SequenceMatcher {
  private readonly b2j = new Map<string, number[]>();

  constructor(
    private readonly a: readonly string[],
    private readonly b: readonly string[],
  ) {
    b.forEach((element, j) => {
      const list = this.b2j.get(element);
      if (list) list.push(j);
      else this.b2j.set(element, [j]);
    });
    // autojunk: "popular" elements are removed from b2j but, unlike junk, may still extend a match.
    if (b.length >= 200) {
      const limit = Math.floor(b.length / 100) + 1;
      for (const [element, list] of [...this.b2j]) if (list.length > limit) this.b2j.delete(element);
    }
  }

  private findLongestMatch(alo: number, ahi: number, blo: number, bhi: number): Block {
    const { a, b } = this;
    let besti = alo;
    let bestj = blo;
    let bestsize = 0;
    let j2len = new Map<number, number>();
    for (let i = alo; i < ahi; i++) {
      const next = new Map<number, number>();
      for (const j of this.b2j.get(a[i]) ?? []) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) ?? 0) + 1;
        next.set(j, k);
        if (k > bestsize) {
          besti = i - k + 1;
          bestj = j - k + 1;
          bestsize = k;
        }
      }
      j2len = next;
    }
    // There is no junk (isjunk=None), so both of difflib's extension passes reduce to this one.
    while (besti > alo && bestj > blo && a[besti - 1] === b[bestj - 1]) {
      besti -= 1;
      bestj -= 1;
      bestsize += 1;
    }
    while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] === b[bestj + bestsize]) bestsize += 1;
    return { i: besti, j: bestj, size: bestsize };
  }

  /** Total size of the matching blocks (the sum that ratio() needs; the order of blocks does not matter). */
  matchedCount(): number {
    let matched = 0;
    const queue: Array<[number, number, number, number]> = [[0, this.a.length, 0, this.b.length]];
    while (queue.length > 0) {
      const [alo, ahi, blo, bhi] = queue.pop()!;
      const { i, j, size } = this.findLongestMatch(alo, ahi, blo, bhi);
      if (size === 0) continue;
      matched += size;
      if (alo < i && blo < j) queue.push([alo, i, blo, j]);
      if (i + size < ahi && j + size < bhi) queue.push([i + size, ahi, j + size, bhi]);
    }
    return matched;
  }
}

/** `difflib.SequenceMatcher(None, a, b).ratio()` with a and b taken as code-point sequences. */
export function difflibRatio(a: string, b: string): number {
  const ca = Array.from(a);
  const cb = Array.from(b);
  const length = ca.length + cb.length;
  if (length === 0) return 1.0;
  return (2.0 * new SequenceMatcher(ca, cb).matchedCount()) / length;
}

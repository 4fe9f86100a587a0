// The lengths of a perplexity sweep and how each one is cut: `--len 2k,4k,128k` or `2k..128k`
// (doubling), and for a length L the split into context (processed by the config), the query that
// scores chunks (the last Q context tokens) and the E evaluated tokens (the last E of the L).
import { InvalidArgumentError } from 'commander';
import { parseTokenCount } from '../options.js';

/** "2k,4k", "131072", "2k..128k" (doubling from the first) → ascending distinct lengths. */
export function parseLengths(value: string): number[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('give at least one length, e.g. 2k,4k,8k or 2k..128k');
  const out = new Set<number>();
  for (const item of items) {
    const range = /^(.+?)\.\.(.+)$/.exec(item);
    if (!range) {
      out.add(parseTokenCount(item));
      continue;
    }
    const from = parseTokenCount(range[1]!);
    const to = parseTokenCount(range[2]!);
    if (to < from) throw new InvalidArgumentError(`range "${item}": the end ${to} is below the start ${from}`);
    let len = from;
    while (len < to) {
      out.add(len);
      len *= 2;
    }
    // a range doubles from its start, so its end must be one of the doublings
    if (len !== to) throw new InvalidArgumentError(`range "${item}": ${to} is not ${from} doubled a whole number of times (lengths double from the start)`);
    out.add(to);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Evaluated tokens at length L: E, but at most half of L, so short lengths keep at least as much
 * context as they score (E = 1024 at L = 2k leaves 1024 context tokens; at L = 512, 256 and 256).
 */
export function evalTokensAt(length: number, evalTokens: number): number {
  return Math.min(evalTokens, Math.floor(length / 2));
}

export interface WindowCut {
  /** First L − E tokens: processed by the config as a context. */
  context: Int32Array;
  /** The last Q context tokens: the query that scores chunks, re-encoded after the kept chunks. */
  query: Int32Array;
  /** The context before the query (what is chunked). */
  body: Int32Array;
  /** The last E tokens: scored one by one against the cache the config left. */
  evaluated: Int32Array;
}

/** Cuts the first `length` tokens of a document; the caller has checked the document is long enough. */
export function cutWindow(tokens: Int32Array, length: number, evalTokens: number, queryTokens: number): WindowCut {
  const e = evalTokensAt(length, evalTokens);
  const context = tokens.subarray(0, length - e);
  return {
    context,
    query: context.subarray(context.length - queryTokens),
    body: context.subarray(0, context.length - queryTokens),
    evaluated: tokens.subarray(length - e, length),
  };
}

/** Why a length cannot hold the query, at least one context token and the evaluated tokens; undefined when it can. */
export function lengthProblem(length: number, evalTokens: number, queryTokens: number): string | undefined {
  const e = evalTokensAt(length, evalTokens);
  if (e < 1) return `length ${length} leaves no token to evaluate`;
  // the body needs BOS plus at least one token, so that a chunk holds some text
  if (length - e - queryTokens < 2)
    return `length ${length} is too short: ${e} evaluated and ${queryTokens} query tokens leave ${length - e - queryTokens} context tokens (need 2)`;
  return undefined;
}
